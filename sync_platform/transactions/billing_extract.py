"""One time window of billing documents, read through the billing API, as canonical records.

**Partition rule.** A document belongs to the window ``[start, end)`` that holds the moment
dating it (see ``billing_mapping``): an invoice its finalization, a payment its charge's
creation, a credit note its creation. For a day window that is its ``business_date``.

Stripe lists filter by ``created`` only, so:

- payments and credit notes are read by exactly that window (their moment *is* ``created``);
- invoices are read from ``start - finalization_lookback`` (default three days), keeping those
  finalized inside the window. Stripe finalizes a subscription invoice about an hour after
  creating it, at most 72 hours later when its ``invoice.created`` webhook keeps failing, so
  the lookback catches every automatically finalized invoice; one created before midnight and
  finalized after it belongs to the next day. **Caveat:** a draft finalized by hand more than
  ``finalization_lookback`` after it was created falls in no day window; it must come from the
  ``invoice.finalized`` event, or from a backfill run with a longer lookback.

Nothing read is dropped silently: a document becomes a canonical record, a ``rejected`` record
(the vendor record is wrong, with why), an ``unassigned`` one (its customer has no known region)
or a ``skipped`` one (read, but no canonical document of this window: drafts, charges that took
no money, refunds that no credit note of the window accounts for).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Generic, TypeVar

from pydantic import ValidationError

from resources.billing import BillingResource
from resources.billing_models import (
    StripeCharge,
    StripeCreditNote,
    StripeInvoice,
    StripeInvoicePayment,
    StripeRefund,
)
from resources.errors import NotFound
from sync_platform.transactions.billing_mapping import (
    BillingRecordError,
    canonical_credit_note,
    canonical_invoice,
    canonical_payment,
    charge_took_money,
    credit_note_refund_ids,
    invoice_issued_at,
    utc_day,
)
from sync_platform.transactions.model import (
    CanonicalCreditNote,
    CanonicalInvoice,
    CanonicalPayment,
    TransactionKind,
)

RegionOf = Callable[[str], str | None]
"""Region of a billing customer id; None for a customer we do not know."""

DEFAULT_FINALIZATION_LOOKBACK = timedelta(days=3)
# An invoice payment is created when its invoice asks for the money, normally moments before
# the charge; charges whose link is older are looked up one by one.
DEFAULT_INVOICE_PAYMENT_LOOKBACK = timedelta(days=1)

Record = TypeVar("Record", CanonicalInvoice, CanonicalPayment, CanonicalCreditNote)


@dataclass(frozen=True)
class Rejected:
    """A document of the window whose vendor record cannot be mapped as it stands."""

    source_id: str
    region: str
    business_date: date
    reason: str


@dataclass(frozen=True)
class Unassigned:
    """A document of the window whose customer has no known region."""

    source_id: str
    billing_customer_id: str | None
    business_date: date
    reason: str


@dataclass(frozen=True)
class Skipped:
    """A vendor record read that is no canonical document of this window, and why."""

    source_id: str
    reason: str


@dataclass
class ExtractResult(Generic[Record]):
    kind: TransactionKind
    start: datetime
    end: datetime
    records: list[Record] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    unassigned: list[Unassigned] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    read: int = 0  # documents of this kind listed, the invoice lookback included

    @property
    def counts(self) -> dict[str, int]:
        return {
            "read": self.read,
            "records": len(self.records),
            "rejected": len(self.rejected),
            "unassigned": len(self.unassigned),
            "skipped": len(self.skipped),
        }

    def for_region(self, region: str) -> list[Record]:
        return [record for record in self.records if record.region == region]

    def rejected_for_region(self, region: str) -> list[Rejected]:
        return [record for record in self.rejected if record.region == region]

    def _in_window(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    def _region(
        self, source_id: str, customer: str | None, moment: datetime, region_of: RegionOf
    ) -> str | None:
        region = region_of(customer) if customer else None
        if region is None:
            reason = (
                f"billing customer {customer} has no known region"
                if customer
                else "the document names no billing customer"
            )
            self.unassigned.append(Unassigned(source_id, customer, utc_day(moment), reason))
        return region

    def _add(
        self,
        source_id: str,
        region: str,
        moment: datetime,
        build: Callable[[], Record | None],
    ) -> None:
        try:
            record = build()
        except BillingRecordError as exc:
            self.rejected.append(Rejected(source_id, region, utc_day(moment), exc.problem))
            return
        if record is not None:
            self.records.append(record)


# -- invoices ----------------------------------------------------------------------------------
def extract_invoices(
    billing: BillingResource,
    start: datetime,
    end: datetime,
    region_of: RegionOf,
    *,
    finalization_lookback: timedelta = DEFAULT_FINALIZATION_LOOKBACK,
) -> ExtractResult[CanonicalInvoice]:
    """The invoices finalized in ``[start, end)`` (see the module's partition rule)."""
    start, end = _window(start, end)
    result: ExtractResult[CanonicalInvoice] = ExtractResult("invoice", start, end)
    for invoice in billing.list_invoices(created_gte=start - finalization_lookback, created_lt=end):
        _take_invoice(result, billing, invoice, region_of)
    return result


def extract_invoices_by_id(
    billing: BillingResource,
    invoice_ids: Iterable[str],
    start: datetime,
    end: datetime,
    region_of: RegionOf,
) -> ExtractResult[CanonicalInvoice]:
    """The named invoices as billing holds them now, kept if finalized in ``[start, end)``."""
    start, end = _window(start, end)
    result: ExtractResult[CanonicalInvoice] = ExtractResult("invoice", start, end)
    for invoice_id in invoice_ids:
        try:
            invoice = billing.get_invoice(invoice_id, expand_lines=False)
        except NotFound:
            result.skipped.append(Skipped(invoice_id, "billing no longer holds the invoice"))
            continue
        _take_invoice(result, billing, invoice, region_of)
    return result


def _take_invoice(
    result: ExtractResult[CanonicalInvoice],
    billing: BillingResource,
    invoice: StripeInvoice,
    region_of: RegionOf,
) -> None:
    result.read += 1
    if invoice.status == "draft":
        if result._in_window(invoice.created):
            result.skipped.append(
                Skipped(invoice.id, "draft: it belongs to the day it is finalized")
            )
        return
    issued = invoice_issued_at(invoice)
    if not result._in_window(issued):
        return
    region = result._region(invoice.id, invoice.customer, issued, region_of)
    if region is None:
        return
    lines = None
    if invoice.lines is not None and invoice.lines.has_more:
        lines = list(billing.list_invoice_lines(invoice.id))
    result._add(
        invoice.id,
        region,
        issued,
        partial(canonical_invoice, invoice, region, lines=lines),
    )


# -- payments ----------------------------------------------------------------------------------
def extract_payments(
    billing: BillingResource,
    start: datetime,
    end: datetime,
    region_of: RegionOf,
    *,
    invoice_payment_lookback: timedelta = DEFAULT_INVOICE_PAYMENT_LOOKBACK,
) -> ExtractResult[CanonicalPayment]:
    """The payments made in ``[start, end)``: charges created then that took money.

    Charges are listed with their balance transactions expanded (fee, settlement) and joined
    to the window's ``invoice_payment`` objects by payment intent; a charge whose invoice
    payment is older than ``invoice_payment_lookback`` costs one more request.
    """
    start, end = _window(start, end)
    result: ExtractResult[CanonicalPayment] = ExtractResult("payment", start, end)
    links = _by_payment_intent(
        billing.list_invoice_payments(created_gte=start - invoice_payment_lookback, created_lt=end)
    )
    for charge in billing.list_charges(
        created_gte=start, created_lt=end, expand_balance_transaction=True
    ):
        _take_charge(result, billing, charge, links, region_of)
    return result


def extract_payments_by_id(
    billing: BillingResource,
    charge_ids: Iterable[str],
    start: datetime,
    end: datetime,
    region_of: RegionOf,
) -> ExtractResult[CanonicalPayment]:
    """The named charges as billing holds them now, kept if made in ``[start, end)``."""
    start, end = _window(start, end)
    result: ExtractResult[CanonicalPayment] = ExtractResult("payment", start, end)
    for charge_id in charge_ids:
        try:
            charge = billing.get_charge(charge_id, expand_balance_transaction=True)
        except NotFound:
            result.skipped.append(Skipped(charge_id, "billing no longer holds the charge"))
            continue
        _take_charge(result, billing, charge, {}, region_of)
    return result


def _take_charge(
    result: ExtractResult[CanonicalPayment],
    billing: BillingResource,
    charge: StripeCharge,
    links: Mapping[str, list[StripeInvoicePayment]],
    region_of: RegionOf,
) -> None:
    result.read += 1
    if not result._in_window(charge.created):
        return
    if not charge_took_money(charge):
        state = charge.status if charge.captured is not False else "authorized, not captured"
        result.skipped.append(Skipped(charge.id, f"charge {state}: no money was taken"))
        return
    region = result._region(charge.id, charge.customer, charge.created, region_of)
    if region is None:
        return
    intent = charge.payment_intent
    invoice_payments: Sequence[StripeInvoicePayment] = ()
    if intent:
        invoice_payments = links.get(intent) or list(
            billing.list_invoice_payments(payment_intent=intent)
        )
    result._add(
        charge.id,
        region,
        charge.created,
        partial(
            canonical_payment,
            charge,
            region,
            balance_transaction=charge.expanded_balance_transaction,
            invoice_payments=invoice_payments,
        ),
    )


def _by_payment_intent(
    links: Iterable[StripeInvoicePayment],
) -> dict[str, list[StripeInvoicePayment]]:
    found: dict[str, list[StripeInvoicePayment]] = defaultdict(list)
    for link in links:
        intent = (link.payment or {}).get("payment_intent")
        if isinstance(intent, dict):
            intent = intent.get("id")
        if isinstance(intent, str):
            found[intent].append(link)
    return found


# -- credit notes ------------------------------------------------------------------------------
def extract_credit_notes(
    billing: BillingResource, start: datetime, end: datetime, region_of: RegionOf
) -> ExtractResult[CanonicalCreditNote]:
    """The credit notes created in ``[start, end)``, with the refunds that paid them out.

    Refunds come expanded in the credit note list. Refunds created in the window that no
    credit note of the window names are reported as ``skipped``: no credit memo will carry
    them unless a later credit note names them.
    """
    start, end = _window(start, end)
    result: ExtractResult[CanonicalCreditNote] = ExtractResult("credit_note", start, end)
    named: set[str] = set()
    for note in billing.list_credit_notes(created_gte=start, created_lt=end, expand_refunds=True):
        named.update(_take_credit_note(result, billing, note, region_of))
    for refund in billing.list_refunds(created_gte=start, created_lt=end):
        if refund.id not in named and result._in_window(refund.created):
            result.skipped.append(
                Skipped(
                    refund.id,
                    f"refund of {refund.amount} {refund.currency} (charge {refund.charge}) is "
                    "named by no credit note created in this window",
                )
            )
    return result


def extract_credit_notes_by_id(
    billing: BillingResource,
    credit_note_ids: Iterable[str],
    start: datetime,
    end: datetime,
    region_of: RegionOf,
) -> ExtractResult[CanonicalCreditNote]:
    """The named credit notes as billing holds them now, kept if created in ``[start, end)``."""
    start, end = _window(start, end)
    result: ExtractResult[CanonicalCreditNote] = ExtractResult("credit_note", start, end)
    for note_id in credit_note_ids:
        try:
            note = billing.get_credit_note(note_id, expand_refunds=True)
        except NotFound:
            result.skipped.append(Skipped(note_id, "billing no longer holds the credit note"))
            continue
        _take_credit_note(result, billing, note, region_of)
    return result


def _take_credit_note(
    result: ExtractResult[CanonicalCreditNote],
    billing: BillingResource,
    note: StripeCreditNote,
    region_of: RegionOf,
) -> list[str]:
    """Add the credit note if it is of the window; returns the refunds it names."""
    result.read += 1
    if not result._in_window(note.created):
        return []
    refund_ids = list(credit_note_refund_ids(note))
    region = result._region(note.id, note.customer, note.created, region_of)
    if region is None:
        return refund_ids
    try:
        refunds = _refunds(billing, note.refunds, refund_ids)
    except BillingRecordError as exc:
        result.rejected.append(Rejected(note.id, region, utc_day(note.created), exc.problem))
        return refund_ids
    lines = None
    if note.lines is not None and note.lines.has_more:
        lines = list(billing.list_credit_note_lines(note.id))
    result._add(
        note.id,
        region,
        note.created,
        partial(canonical_credit_note, note, region, refunds, lines=lines),
    )
    return refund_ids


def _refunds(
    billing: BillingResource, entries: Sequence[dict[str, object]], refund_ids: Sequence[str]
) -> dict[str, StripeRefund]:
    """The refunds a credit note names: expanded in its list entry, else read one by one."""
    found: dict[str, StripeRefund] = {}
    for entry in entries:
        raw = entry.get("refund")
        if isinstance(raw, dict):
            try:
                refund = StripeRefund.model_validate(raw)
            except ValidationError as exc:
                problem = exc.errors(include_url=False)[0]
                raise BillingRecordError(
                    str(raw.get("id")),
                    f"refund {raw.get('id')} is malformed: {problem['loc']} {problem['msg']}",
                ) from exc
            found[refund.id] = refund
    for refund_id in refund_ids:
        if refund_id in found:
            continue
        try:
            found[refund_id] = billing.get_refund(refund_id)
        except NotFound as exc:
            raise BillingRecordError(refund_id, f"refund {refund_id} does not exist") from exc
    return found


def _window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("the window's start and end must be timezone-aware (UTC)")
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if not start < end:
        raise ValueError(f"empty window: start {start.isoformat()} is not before {end.isoformat()}")
    return start, end
