"""Pre-posting validation: everything the ERP would refuse, found before we write.

Each check returns ``Failure`` values with a reason code and a message written for finance.
A failure that ``waits`` clears by itself once something else happens (the customer reaches
the ERP, the invoice is posted): the document is retried on every run and never
dead-lettered for it. Any other failure needs a fix (a mapping, an open period) and a replay.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Literal

from sync_platform.transactions.mappings import PostingConfig
from sync_platform.transactions.model import (
    CanonicalCreditNote,
    CanonicalInvoice,
    CanonicalPayment,
    DocumentLine,
)

ReasonCode = Literal[
    "customer_not_in_erp",
    "invoice_not_posted",
    "currency_not_allowed",
    "period_closed",
    "period_missing",
    "tax_code_unmapped",
    "tax_group_missing",
    "account_mapping_missing",
    "line_target_missing",
    "amount_mismatch",
    "currency_mismatch",  # the ERP made the document out in another currency than billing's
    "exceeds_invoice",
    "voided_after_posting",
    "changed_after_posting",
    "erp_rejected",
    "erp_document_missing",
    "erp_unavailable",
    "erp_edited_out_of_band",  # a posted ERP document changed outside the platform
    "erp_deleted_out_of_band",  # ... or removed outside it
]
WAITING_REASONS: frozenset[str] = frozenset({"customer_not_in_erp", "invoice_not_posted"})


@dataclass(frozen=True)
class Failure:
    reason: ReasonCode
    message: str

    @property
    def waits(self) -> bool:
        return self.reason in WAITING_REASONS


@dataclass(frozen=True)
class AccountingPeriod:
    starting_date: date
    closed: bool
    name: str = ""


@dataclass(frozen=True)
class ErpReference:
    """What the ERP company holds that postings refer to, read once per run."""

    company_id: str
    local_currency: str
    periods: tuple[AccountingPeriod, ...]
    tax_groups: frozenset[str]
    items: frozenset[str]
    accounts: frozenset[str]
    currencies: frozenset[str]

    def period_of(self, day: date) -> AccountingPeriod | None:
        ordered = sorted(self.periods, key=lambda p: p.starting_date)
        started = [p for p in ordered if p.starting_date <= day]
        if not started or day > date(ordered[-1].starting_date.year, 12, 31):
            return None
        return started[-1]


@dataclass(frozen=True)
class ErpCustomerRef:
    number: str
    id: str


def validate_invoice(
    invoice: CanonicalInvoice,
    config: PostingConfig,
    ref: ErpReference,
    customer: ErpCustomerRef | None,
) -> list[Failure]:
    what = f"Invoice {invoice.number or invoice.source_id}"
    return [
        *_customer(what, invoice.billing_customer_id, customer),
        *_currency(what, invoice.currency, invoice.region, config, ref),
        *_period(what, invoice.business_date, ref),
        *_lines(what, invoice.lines, invoice.region, config, ref),
    ]


def validate_credit_note(
    note: CanonicalCreditNote,
    config: PostingConfig,
    ref: ErpReference,
    customer: ErpCustomerRef | None,
    invoice_posted: bool,
    already_credited: int = 0,
    invoice_total: int | None = None,
) -> list[Failure]:
    what = f"Credit note {note.number}"
    failures = [
        *_customer(what, note.billing_customer_id, customer),
        *_currency(what, note.currency, note.region, config, ref),
        *_period(what, note.business_date, ref),
        *_lines(what, note.lines, note.region, config, ref),
    ]
    if not invoice_posted:
        failures.append(
            Failure(
                "invoice_not_posted",
                f"{what} reverses invoice {note.invoice_id}, which is not posted in the ERP yet; "
                "it will post once the invoice has.",
            )
        )
    elif invoice_total is not None and already_credited + note.total > invoice_total:
        failures.append(
            Failure(
                "exceeds_invoice",
                f"{what} would credit {note.total} on top of {already_credited} already credited "
                f"against invoice {note.invoice_id} of {invoice_total} ({note.currency} minor "
                "units): the invoice would be reversed more than once.",
            )
        )
    return failures


def validate_payment(
    payment: CanonicalPayment,
    config: PostingConfig,
    ref: ErpReference,
    customer: ErpCustomerRef | None,
    invoice_posted: bool,
) -> list[Failure]:
    what = f"Payment {payment.source_id}"
    failures = [
        *_customer(what, payment.billing_customer_id, customer),
        *_currency(what, payment.currency, payment.region, config, ref),
        *_period(what, payment.business_date, ref),
    ]
    if payment.invoice_id is None and payment.currency != ref.local_currency:
        # A cash receipt line carries no currency in the ERP's API: only its application to
        # an invoice in that currency says what it is. Unapplied, it would book as local money.
        failures.append(
            Failure(
                "currency_not_allowed",
                f"{what} is {payment.currency} cash applied to no invoice; the ERP can only take "
                f"it in {ref.local_currency} that way. Book it by hand in the ERP.",
            )
        )
    if payment.invoice_id and not invoice_posted:
        failures.append(
            Failure(
                "invoice_not_posted",
                f"{what} pays invoice {payment.invoice_id}, which is not posted in the ERP yet; "
                "it will be applied once the invoice has.",
            )
        )
    return failures


def _customer(what: str, billing_id: str, customer: ErpCustomerRef | None) -> list[Failure]:
    if customer is not None:
        return []
    return [
        Failure(
            "customer_not_in_erp",
            f"{what} is for billing customer {billing_id}, who is not an ERP customer yet "
            "(held in customer review or not synced); it will post once the customer exists.",
        )
    ]


def _currency(
    what: str, currency: str, region: str, config: PostingConfig, ref: ErpReference
) -> list[Failure]:
    allowed = config.region(region).currencies
    if currency in allowed and (currency == ref.local_currency or currency in ref.currencies):
        return []
    return [
        Failure(
            "currency_not_allowed",
            f"{what} is in {currency}, which region {region} does not post (allowed: "
            f"{', '.join(allowed)}).",
        )
    ]


def _period(what: str, day: date, ref: ErpReference) -> list[Failure]:
    period = ref.period_of(day)
    if period is None:
        return [
            Failure(
                "period_missing",
                f"{what} is dated {day}, which is in no ERP accounting period; create the "
                "period in the ERP.",
            )
        ]
    if period.closed:
        return [
            Failure(
                "period_closed",
                f"{what} is dated {day}, in the closed accounting period {period.name} "
                f"{period.starting_date:%Y}; reopen the period or post it manually with "
                "another date.",
            )
        ]
    return []


def _lines(
    what: str,
    lines: Iterable[DocumentLine],
    region: str,
    config: PostingConfig,
    ref: ErpReference,
) -> list[Failure]:
    failures: list[Failure] = []
    seen: set[tuple[str, str | None]] = set()
    for line in lines:
        if line.tax_rate_id and ("tax", line.tax_rate_id) not in seen:
            seen.add(("tax", line.tax_rate_id))
            failures += _tax(what, line.tax_rate_id, region, config, ref)
        if ("product", line.product_id) not in seen:
            seen.add(("product", line.product_id))
            failures += _target(what, line, config, ref)
    return failures


def _tax(
    what: str, tax_rate_id: str, region: str, config: PostingConfig, ref: ErpReference
) -> list[Failure]:
    group = config.tax_group(tax_rate_id, region)
    if group is None:
        return [
            Failure(
                "tax_code_unmapped",
                f"Tax rate {tax_rate_id} has no ERP tax group for region {region} ({what}); "
                "add it under tax_rates in posting.yaml, then replay.",
            )
        ]
    if group not in ref.tax_groups:
        return [
            Failure(
                "tax_group_missing",
                f"Tax rate {tax_rate_id} maps to tax group {group}, which does not exist in the "
                f"ERP company for region {region} ({what}).",
            )
        ]
    return []


def _target(
    what: str, line: DocumentLine, config: PostingConfig, ref: ErpReference
) -> list[Failure]:
    target = config.line_target(line.product_id) if line.product_id else None
    if target is None:
        return [
            Failure(
                "account_mapping_missing",
                f"Product {line.product_id or '(none)'} on {what} ('{line.description}') has no "
                "ERP item or G/L account; add it under products in posting.yaml, then replay.",
            )
        ]
    known = ref.items if target.item is not None else ref.accounts
    if target.number not in known:
        kind = "item" if target.item is not None else "G/L account"
        return [
            Failure(
                "line_target_missing",
                f"Product {line.product_id} maps to ERP {kind} {target.number}, which does not "
                f"exist in the ERP company ({what}).",
            )
        ]
    return []
