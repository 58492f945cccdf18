"""One day and region: what the platform landed from billing against what the ERP holds now.

The billing side is read from the integration store (the documents ``billing/*`` landed for
the partition); the ERP side is read live from the region's ERP company by posting date, so a
document edited, deleted or added in the ERP outside the platform shows up as drift.

What is expected in the ERP: finalized invoices that are not void, settled payments, issued
credit notes. What counts as in the ERP: posted sales invoices and credit memos, and posted
payments (their bank debit G/L entries; a journal line is not applied until posted).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import pandas as pd

from resources.erp import (
    ErpGeneralLedgerEntry,
    ErpResource,
    ErpSalesCreditMemo,
    ErpSalesInvoice,
    document_currency,
    is_posted,
    payment_document_number,
)
from resources.errors import NotFound
from sync_platform.reconciliation.compare import (
    ISSUE_TEXT,
    ISSUES,
    Drift,
    Reconciliation,
    billing_frame,
    erp_frame,
    reconcile,
)
from sync_platform.store import Store
from sync_platform.transactions.erp_gateway import company_id_for
from sync_platform.transactions.mappings import PostingConfig
from sync_platform.transactions.model import (
    TRANSACTION_KINDS,
    CanonicalCreditNote,
    CanonicalInvoice,
    CanonicalPayment,
    CanonicalTransaction,
    TransactionKind,
)

DRIFT_TABLE_ROWS = 20
KIND_LABEL: Mapping[str, str] = {
    "invoice": "invoices",
    "payment": "payments",
    "credit_note": "credit_notes",
}


def match_key(kind: str, billing_id: str) -> str:
    """What an ERP document made for ``billing_id`` carries: its external document number
    (Code[35], upper case) or, for a posted payment, the document number derived from it."""
    return payment_document_number(billing_id) if kind == "payment" else billing_id.upper()


def expected_in_erp(doc: CanonicalTransaction) -> bool:
    if isinstance(doc, CanonicalInvoice):
        return doc.status != "void"
    if isinstance(doc, CanonicalPayment):
        return doc.settled
    return doc.status == "issued"


def _amount(doc: CanonicalTransaction) -> int:
    return doc.amount if isinstance(doc, CanonicalPayment) else doc.total


def _why_not_expected(doc: CanonicalTransaction) -> str:
    if isinstance(doc, CanonicalPayment):
        return "not settled in billing"
    return "void in billing"


@dataclass(frozen=True)
class BillingSide:
    frame: pd.DataFrame
    # (kind, key) → why a landed document is not expected in the ERP (void, unsettled)
    not_expected: Mapping[tuple[str, str], str]


def billing_side(store: Store, region: str, day: date) -> BillingSide:
    """The documents ``billing/*`` landed for the partition."""
    models: dict[TransactionKind, type[CanonicalTransaction]] = {
        "invoice": CanonicalInvoice,
        "payment": CanonicalPayment,
        "credit_note": CanonicalCreditNote,
    }
    rows: list[dict[str, Any]] = []
    not_expected: dict[tuple[str, str], str] = {}
    for kind in TRANSACTION_KINDS:
        for record in store.source_records("billing", kind, region, business_date=day):
            doc = models[kind].model_validate(record.payload)
            key = match_key(kind, doc.source_id)
            if not expected_in_erp(doc):
                not_expected[(kind, key)] = _why_not_expected(doc)
                continue
            rows.append(
                {
                    "kind": kind,
                    "key": key,
                    "billing_id": doc.source_id,
                    "currency": doc.currency,
                    "amount": _amount(doc),
                }
            )
    return BillingSide(billing_frame(rows), not_expected)


def erp_side(
    erp: ErpResource,
    company_id: str,
    day: date,
    local_currency: str,
    billed_currency: Mapping[str, str],
    receipts_account: str | None,
) -> pd.DataFrame:
    """Posted ERP documents of the day. Payments carry no currency in the ERP, so a payment
    is taken to be in the currency billing has for it (``billed_currency``, by key), else
    the company's own one (see ``is_receipt`` for which entries are payments)."""
    rows: list[dict[str, Any]] = []
    documents: Iterable[ErpSalesInvoice | ErpSalesCreditMemo]
    for kind, documents in (
        ("invoice", erp.list_sales_invoices(company_id, posting_date=day)),
        ("credit_note", erp.list_sales_credit_memos(company_id, posting_date=day)),
    ):
        for doc in documents:
            if not is_posted(doc.status):
                continue
            external = (doc.externalDocumentNumber or "").upper()
            rows.append(
                {
                    "kind": kind,
                    # A document with no external number was typed in the ERP: its own key.
                    "key": external or f"#{doc.number or doc.id}",
                    "document_number": doc.number or doc.id,
                    "currency": document_currency(doc.currencyCode, local_currency),
                    "amount": doc.totalAmountIncludingTax or 0,
                }
            )
    entries = erp.list_general_ledger_entries(company_id, document_type="Payment", posting_date=day)
    for entry in entries:
        if not is_receipt(entry, receipts_account, billed_currency):
            continue
        key = entry.documentNumber.upper()
        rows.append(
            {
                "kind": "payment",
                "key": key,
                "document_number": entry.documentNumber,
                "currency": billed_currency.get(key, local_currency),
                "amount": entry.debitAmount,
            }
        )
    return erp_frame(rows)


def is_receipt(
    entry: ErpGeneralLedgerEntry, receipts_account: str | None, billed_keys: Collection[str]
) -> bool:
    """Whether a 'Payment' G/L entry is money received: a debit of the account our cash
    receipts balance to (``receipts_account``, the bank). Vendor payments (a debit of
    payables), exchange differences and other journals' lines share the document type and
    are not. Where that account is unknown (no journal of ours, or one without a balancing
    account) only our own receipts (``billed_keys``) can be told apart."""
    if entry.debitAmount <= 0:
        return False  # the receivables side; the bank's debit is the money received
    if receipts_account:
        return entry.accountNumber == receipts_account
    return entry.documentNumber.upper() in billed_keys


def _receipts_account(erp: ErpResource, company_id: str, journal_code: str) -> str | None:
    """The account our payment journal balances to (the bank money is received in)."""
    try:
        return erp.payment_journal(company_id, journal_code).balancingAccountNumber or None
    except NotFound:
        return None


def reconcile_partition(store: Store, erp: ErpResource, region: str, day: date) -> Reconciliation:
    """Reconcile one day and region; each drift record notes where the platform has the
    document (its lifecycle stage, an open exception) when it knows it."""
    config = PostingConfig.load()
    billing = billing_side(store, region, day)
    payments = billing.frame[billing.frame["kind"] == "payment"]
    billed_currency = dict(zip(payments["key"], payments["currency"], strict=True))
    company = company_id_for(erp, config, region)
    local = config.region(region).local_currency
    receipts = _receipts_account(erp, company, config.payment_journal)
    result = reconcile(billing.frame, erp_side(erp, company, day, local, billed_currency, receipts))
    if not result.drift:
        return result
    notes = _platform_notes(store, region, day)
    notes.update({k: v for k, v in billing.not_expected.items() if k not in notes})
    drift = tuple(_noted(d, notes.get((d.kind, d.key))) for d in result.drift)
    return replace(result, drift=drift)


def _platform_notes(store: Store, region: str, day: date) -> dict[tuple[str, str], str]:
    rows = store.transactions(region=region, business_date=day)
    reasons = {
        e.txn_id: e.reason_code
        for e in store.exceptions(status="open", region=region, txn_ids=[r.txn_id for r in rows])
    }
    # Void in billing after it was posted, and reversed in the ERP since (the exception
    # closed naming the credit memos); the transaction keeps the version it posted.
    reversed_by = {
        e.txn_id: e.resolution
        for e in store.exceptions(
            status="closed",
            reason_code="voided_after_posting",
            region=region,
            txn_ids=[r.txn_id for r in rows],
        )
        if e.resolution
    }
    notes: dict[tuple[str, str], str] = {}
    for row in rows:
        note = f"stage {row.stage}"
        if row.txn_id in reasons:
            note += f", open exception {reasons[row.txn_id]}"
        elif row.txn_id in reversed_by:
            note = f"void in billing after posting, {reversed_by[row.txn_id]}"
        if row.payload.get("status") == "void":
            note = "void in billing, " + note
        notes[(row.kind, match_key(row.kind, row.source_id))] = note
    return notes


def _noted(drift: Drift, note: str | None) -> Drift:
    if not note:
        return drift
    return replace(drift, note=f"{drift.note}; {note}" if drift.note else note)


# -- what the asset reports ---------------------------------------------------------------------
def numeric_metadata(result: Reconciliation) -> dict[str, int]:
    """Counts and amounts (minor units) per kind and currency on both sides, the differences,
    and the drift per issue: numbers, so the Dagster UI plots each one over time."""
    out: dict[str, int] = {"drift_count": result.drift_count}
    for issue in ISSUES:
        out[f"drift.{issue}"] = result.drift_by_issue.get(issue, 0)
    for t in result.totals:
        prefix = f"{KIND_LABEL[t.kind]}.{t.currency}"
        out[f"{prefix}.billing_count"] = t.billing_count
        out[f"{prefix}.erp_count"] = t.erp_count
        out[f"{prefix}.count_difference"] = t.count_difference
        out[f"{prefix}.billing_amount"] = t.billing_amount
        out[f"{prefix}.erp_amount"] = t.erp_amount
        out[f"{prefix}.amount_difference"] = t.amount_difference
    return out


def drift_lines(result: Reconciliation, rows: int) -> list[str]:
    """The first ``rows`` drift records, one line each: ``invoice in_1 (ERP 103001): amount
    differs: billing 1000, ERP 1500 USD``."""
    return [
        f"{d.kind} {d.billing_id or '-'} (ERP {d.erp_document_number or '-'}): {d.describe()}"
        + (f" ({d.note})" if d.note and d.issue != "currency_differs" else "")
        for d in result.drift[:rows]
    ]


def drift_table(result: Reconciliation, rows: int = DRIFT_TABLE_ROWS) -> str:
    """The first ``rows`` drift records as a Markdown table, for finance to act on."""
    if not result.drift:
        return "No drift: every document billed is posted once in the ERP with its amount."
    lines = [
        "| kind | billing id | ERP document | what differs | billing | ERP | currency | note |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for d in result.drift[:rows]:
        cells = [
            d.kind,
            d.billing_id or "-",
            d.erp_document_number or "-",
            ISSUE_TEXT[d.issue],
            "-" if d.billing_amount is None else str(d.billing_amount),
            "-" if d.erp_amount is None else str(d.erp_amount),
            d.currency,
            d.note,
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    if result.drift_count > rows:
        lines.append(f"\n{result.drift_count - rows} more not shown (amounts in minor units).")
    else:
        lines.append("\nAmounts in minor units.")
    return "\n".join(lines)
