"""Stripe billing records (API 2026-10-28.endive) → canonical transactions.

Pure functions over the typed vendor records of ``resources.billing_models``. Each one checks
that the record carries what a posting needs and that its amounts add up; a record that does
not raises ``BillingRecordError`` naming the object and the problem, so it is reported with a
reason instead of becoming a canonical record that would post the wrong amounts.

What each document is, and the moment that dates it (its ``business_date`` is that moment's
UTC day):

- **invoice**: a finalized invoice (drafts are not canonical), dated when it was issued,
  ``status_transitions.finalized_at`` (``created`` when Stripe gives no finalization time);
- **payment**: a charge that took money (succeeded and captured), dated when it was made (the
  charge's ``created``); the ``invoice_payment`` of its payment intent names the invoice it
  pays; it is settled once its balance transaction is ``available``;
- **credit note**: dated when it was created, with the refunds that paid it out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from resources.billing_models import (
    StripeBalanceTransaction,
    StripeCharge,
    StripeCreditNote,
    StripeCreditNoteLine,
    StripeInvoice,
    StripeInvoiceLine,
    StripeInvoicePayment,
    StripeList,
    StripeRefund,
    StripeTaxAmount,
)
from sync_platform.transactions.model import (
    CanonicalCreditNote,
    CanonicalInvoice,
    CanonicalPayment,
    DocumentLine,
)

T = TypeVar("T")
Line = TypeVar("Line", StripeInvoiceLine, StripeCreditNoteLine)
Built = TypeVar("Built", bound=BaseModel)

# Refund states in which the money has gone, or is on its way, back to the customer.
REFUND_PAID_OUT = frozenset({"succeeded", "pending"})


class BillingRecordError(ValueError):
    """A billing record lacks what we need, or its amounts do not add up."""

    def __init__(self, object_id: str, problem: str) -> None:
        super().__init__(f"{object_id}: {problem}")
        self.object_id = object_id
        self.problem = problem


# -- invoices ----------------------------------------------------------------------------------
def utc_day(moment: datetime) -> date:
    """The UTC calendar day of an aware moment: a document's ``business_date``."""
    return moment.astimezone(UTC).date()


def invoice_issued_at(invoice: StripeInvoice) -> datetime:
    """When the invoice was issued: its finalization, or its creation if Stripe names none."""
    finalized = (invoice.status_transitions or {}).get("finalized_at")
    return invoice.created if finalized is None else datetime.fromtimestamp(finalized, tz=UTC)


def canonical_invoice(
    invoice: StripeInvoice,
    region: str,
    *,
    lines: Sequence[StripeInvoiceLine] | None = None,
) -> CanonicalInvoice | None:
    """The canonical invoice, or None for a draft (it may still change).

    ``lines``: every line of the invoice, when the invoice's own ``lines`` list is only the
    first page (``has_more``); without them such an invoice is an error, not a short invoice.
    """
    if invoice.status == "draft":
        return None
    if invoice.status is None:
        raise BillingRecordError(invoice.id, "the invoice has no status")
    customer = _required(invoice.id, invoice.customer, "customer")
    number = _required(invoice.id, invoice.number, "number (a finalized invoice is numbered)")
    mapped = tuple(
        _document_line(invoice.id, line, invoice.currency)
        for line in _all_lines(invoice.id, invoice.lines, lines, StripeInvoiceLine)
    )
    _no_inclusive_tax(invoice.id, invoice.total_taxes)
    subtotal = sum(line.amount for line in mapped)
    tax = sum(line.tax_amount for line in mapped)
    _agrees(invoice.id, "subtotal", invoice.subtotal, subtotal, "the sum of its lines")
    _agrees(invoice.id, "total tax", invoice.tax_total, tax, "the sum of its lines' taxes")
    _agrees(
        invoice.id,
        "total",
        invoice.total,
        subtotal + tax,
        "subtotal + tax (discounts and pre-tax credits cannot be carried)",
    )
    issued = invoice_issued_at(invoice)
    return _build(
        CanonicalInvoice,
        invoice.id,
        source_id=invoice.id,
        region=region,
        billing_customer_id=customer,
        currency=invoice.currency,
        business_date=utc_day(issued),
        occurred_at=issued,
        number=number,
        status=invoice.status,
        due_date=utc_day(invoice.due_date) if invoice.due_date else None,
        lines=mapped,
        subtotal=subtotal,
        tax=tax,
        total=invoice.total,
    )


# -- payments ----------------------------------------------------------------------------------
def charge_took_money(charge: StripeCharge) -> bool:
    """A succeeded, captured charge; a pending, failed or only authorized one took nothing."""
    return charge.status == "succeeded" and charge.captured is not False


def canonical_payment(
    charge: StripeCharge,
    region: str,
    *,
    balance_transaction: StripeBalanceTransaction | None,
    invoice_payments: Sequence[StripeInvoicePayment] = (),
) -> CanonicalPayment | None:
    """The payment a charge made, or None if the charge took no money.

    ``balance_transaction``: the charge's, which carries the fee and whether the money is
    available (settled). ``invoice_payments``: the ``invoice_payment`` objects of the charge's
    payment intent; the paid one names the invoice. None at all means a charge for no invoice
    (``invoice_id`` None), which the ERP must hold as unapplied cash.
    """
    if not charge_took_money(charge):
        return None
    customer = _required(charge.id, charge.customer, "customer")
    txn = _required(charge.id, balance_transaction, "balance transaction (expand it)")
    if charge.balance_transaction and txn.id != charge.balance_transaction:
        raise BillingRecordError(
            charge.id,
            f"balance transaction {txn.id} is not the charge's ({charge.balance_transaction})",
        )
    if txn.currency != charge.currency:
        raise BillingRecordError(
            charge.id,
            f"settled in {txn.currency} but charged in {charge.currency}: the canonical payment "
            "holds one currency, so its fee cannot be stated",
        )
    _agrees(charge.id, "balance transaction amount", txn.amount, charge.amount, "the charge amount")
    invoice_id = _paid_invoice(charge, invoice_payments)
    return _build(
        CanonicalPayment,
        charge.id,
        source_id=charge.id,
        region=region,
        billing_customer_id=customer,
        currency=charge.currency,
        business_date=utc_day(charge.created),
        occurred_at=charge.created,
        invoice_id=invoice_id,
        amount=charge.amount,
        settled=txn.status == "available",
        balance_transaction_id=txn.id,
        fee=txn.fee,
    )


def _paid_invoice(
    charge: StripeCharge, invoice_payments: Sequence[StripeInvoicePayment]
) -> str | None:
    for link in invoice_payments:
        paid_by = (link.payment or {}).get("payment_intent")
        if _id_of(paid_by) != charge.payment_intent:
            raise BillingRecordError(
                charge.id, f"invoice payment {link.id} belongs to another payment intent"
            )
    paid = [link for link in invoice_payments if link.status == "paid"]
    if not paid:
        if invoice_payments:
            states = ", ".join(f"{link.id} is {link.status}" for link in invoice_payments)
            raise BillingRecordError(
                charge.id, f"the charge succeeded but its invoice payment is not paid ({states})"
            )
        return None
    if len(paid) > 1:
        invoices = ", ".join(str(link.invoice) for link in paid)
        raise BillingRecordError(
            charge.id, f"the charge pays several invoices ({invoices}); a payment applies to one"
        )
    link = paid[0]
    invoice_id = _required(link.id, link.invoice, "invoice")
    if link.currency != charge.currency:
        raise BillingRecordError(
            charge.id,
            f"invoice payment {link.id} is in {link.currency}, the charge in {charge.currency}",
        )
    _agrees(
        charge.id,
        f"amount paid on {invoice_id}",
        link.amount_paid,
        charge.amount,
        "the charge amount",
    )
    return invoice_id


# -- credit notes ------------------------------------------------------------------------------
def credit_note_refund_ids(credit_note: StripeCreditNote) -> list[str]:
    """The refunds a credit note names (``refunds[].refund``, an id or the expanded refund)."""
    return [
        refund_id
        for entry in credit_note.refunds
        if (refund_id := _id_of(entry.get("refund"))) is not None
    ]


def canonical_credit_note(
    credit_note: StripeCreditNote,
    region: str,
    refunds: Mapping[str, StripeRefund],
    *,
    lines: Sequence[StripeCreditNoteLine] | None = None,
) -> CanonicalCreditNote:
    """The canonical credit note with the refunds that paid it out.

    ``refunds``: at least every refund the credit note names, by id; a named refund that is
    missing, or failed or was canceled, is an error (the money did not go back as stated).
    ``lines``: every line, when the credit note's own ``lines`` list is only the first page.
    """
    note_id = credit_note.id
    invoice_id = _required(note_id, credit_note.invoice, "invoice it credits")
    customer = _required(note_id, credit_note.customer, "customer")
    mapped = tuple(
        _document_line(note_id, line, credit_note.currency)
        for line in _all_lines(note_id, credit_note.lines, lines, StripeCreditNoteLine)
    )
    subtotal = sum(line.amount for line in mapped)
    tax = sum(line.tax_amount for line in mapped)
    _agrees(note_id, "subtotal", credit_note.subtotal, subtotal, "the sum of its lines")
    _agrees(note_id, "total", credit_note.total, subtotal + tax, "subtotal + its lines' taxes")
    refund_ids, refunded = _refunds_paid_out(credit_note, refunds)
    if refunded > credit_note.total:
        raise BillingRecordError(
            note_id, f"refunds of {refunded} exceed the credit note's total {credit_note.total}"
        )
    return _build(
        CanonicalCreditNote,
        note_id,
        source_id=note_id,
        region=region,
        billing_customer_id=customer,
        currency=credit_note.currency,
        business_date=utc_day(credit_note.created),
        occurred_at=credit_note.created,
        number=credit_note.number,
        invoice_id=invoice_id,
        status=credit_note.status,
        reason=credit_note.reason,
        lines=mapped,
        subtotal=subtotal,
        total=credit_note.total,
        refund_ids=refund_ids,
        refunded_amount=refunded,
    )


def _refunds_paid_out(
    credit_note: StripeCreditNote, refunds: Mapping[str, StripeRefund]
) -> tuple[tuple[str, ...], int]:
    ids: list[str] = []
    total = 0
    for entry in credit_note.refunds:
        kind = entry.get("type", "refund")
        refund_id = _id_of(entry.get("refund"))
        if kind != "refund" or refund_id is None:
            raise BillingRecordError(
                credit_note.id, f"a refund entry of type {kind!r} names no Stripe refund"
            )
        amount = entry.get("amount_refunded")
        if not isinstance(amount, int) or amount < 0:
            raise BillingRecordError(
                credit_note.id, f"refund {refund_id} has no amount_refunded ({amount!r})"
            )
        refund = refunds.get(refund_id)
        if refund is None:
            raise BillingRecordError(credit_note.id, f"refund {refund_id} could not be read")
        if refund.status not in REFUND_PAID_OUT:
            raise BillingRecordError(
                credit_note.id, f"refund {refund_id} is {refund.status}: the money did not go back"
            )
        if refund.currency != credit_note.currency:
            raise BillingRecordError(
                credit_note.id,
                f"refund {refund_id} is in {refund.currency}, the note in {credit_note.currency}",
            )
        if amount > refund.amount:
            raise BillingRecordError(
                credit_note.id,
                f"{amount} refunded through {refund_id}, which refunded only {refund.amount}",
            )
        ids.append(refund_id)
        total += amount
    return tuple(ids), total


# -- lines -------------------------------------------------------------------------------------
def _all_lines(
    owner_id: str,
    embedded: StripeList | None,
    complete: Sequence[Line] | None,
    model: type[Line],
) -> list[Line]:
    if complete is not None:
        return list(complete)
    if embedded is None:
        raise BillingRecordError(owner_id, "the document came without its lines")
    if embedded.has_more:
        raise BillingRecordError(
            owner_id, "only the first page of lines was read; list the rest before mapping"
        )
    lines = []
    for raw in embedded.data:
        try:
            lines.append(model.model_validate(raw))
        except ValidationError as exc:
            raise BillingRecordError(
                owner_id, f"line {raw.get('id')} is malformed: {_first_error(exc)}"
            ) from exc
    return lines


def _document_line(
    owner_id: str, line: StripeInvoiceLine | StripeCreditNoteLine, currency: str
) -> DocumentLine:
    where = f"line {line.id}"
    if isinstance(line, StripeInvoiceLine) and line.currency != currency:
        raise BillingRecordError(owner_id, f"{where} is in {line.currency}, not {currency}")
    quantity = _required(owner_id, line.quantity, f"quantity of {where}")
    taxes = line.taxes or []
    _no_inclusive_tax(owner_id, taxes)
    if len(taxes) > 1:
        raise BillingRecordError(
            owner_id, f"{where} carries {len(taxes)} taxes; a canonical line carries one tax rate"
        )
    tax_rate_id = None
    if taxes:
        tax_rate_id = _required(owner_id, taxes[0].tax_rate, f"tax rate of the tax on {where}")
    unit_amount = _unit_amount(owner_id, line, quantity)
    _agrees(
        owner_id,
        f"{where} amount",
        line.amount,
        unit_amount * quantity,
        "unit amount times quantity",
    )
    product_id, price_id = _product_and_price(line)
    return _build(
        DocumentLine,
        owner_id,
        line_id=line.id,
        description=line.description or "",
        product_id=product_id,
        price_id=price_id,
        quantity=quantity,
        unit_amount=unit_amount,
        amount=line.amount,
        tax_amount=sum(t.amount for t in taxes),
        tax_rate_id=tax_rate_id,
    )


def _unit_amount(
    owner_id: str, line: StripeInvoiceLine | StripeCreditNoteLine, quantity: int
) -> int:
    """The line's unit price in whole minor units (Stripe's decimal string, if integral)."""
    if isinstance(line, StripeCreditNoteLine):
        stated: Any = line.unit_amount
    else:
        stated = (line.pricing or {}).get("unit_amount_decimal")
    if stated is not None:
        try:
            unit = Decimal(str(stated))
        except InvalidOperation as exc:
            raise BillingRecordError(
                owner_id, f"line {line.id} has an unreadable unit amount {stated!r}"
            ) from exc
        if unit != unit.to_integral_value():
            raise BillingRecordError(
                owner_id, f"line {line.id} has a unit amount of {stated} minor units, not whole"
            )
        return int(unit)
    if quantity and line.amount % quantity == 0:
        return line.amount // quantity
    if quantity == 0 and line.amount == 0:
        return 0
    raise BillingRecordError(owner_id, f"line {line.id} states no unit amount")


def _product_and_price(
    line: StripeInvoiceLine | StripeCreditNoteLine,
) -> tuple[str | None, str | None]:
    if not isinstance(line, StripeInvoiceLine):
        return None, None
    details = (line.pricing or {}).get("price_details") or {}
    return _id_of(details.get("product")), _id_of(details.get("price"))


def _no_inclusive_tax(owner_id: str, taxes: Sequence[StripeTaxAmount] | None) -> None:
    for tax in taxes or []:
        if tax.tax_behavior is None:
            raise BillingRecordError(owner_id, f"a tax of {tax.amount} states no tax_behavior")
        if tax.tax_behavior == "inclusive":
            raise BillingRecordError(
                owner_id,
                "tax-inclusive prices are not supported (canonical amounts exclude tax)",
            )


# -- helpers -----------------------------------------------------------------------------------
def _required(object_id: str, value: T | None, what: str) -> T:
    if value is None or value == "":
        raise BillingRecordError(object_id, f"missing {what}")
    return value


def _agrees(object_id: str, what: str, stated: int | None, computed: int, from_what: str) -> None:
    if stated != computed:
        raise BillingRecordError(
            object_id, f"{what} {stated} does not equal {from_what} ({computed})"
        )


def _id_of(value: Any) -> str | None:
    """An expandable reference: an id, or the expanded object's id."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def _build(model: type[Built], object_id: str, **fields: Any) -> Built:
    try:
        return model(**fields)
    except ValidationError as exc:
        raise BillingRecordError(object_id, _first_error(exc)) from exc


def _first_error(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])
