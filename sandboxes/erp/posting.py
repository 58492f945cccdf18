"""The bound action ``Microsoft.NAV.post`` for invoices, credit memos and payment journals.

Posting checks everything first and writes only when all checks pass (inside one store
transaction), so a refused posting leaves no trace. Every posting writes balanced
``generalLedgerEntries``: receivables against revenue and tax for a sales document, the
journal's bank account against receivables for a payment. Amounts are the document's own
(the sandbox keeps no exchange rates, so foreign-currency entries are not converted to LCY).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from sandboxes.erp.context import Ctx, business_error
from sandboxes.erp.documents import DRAFT, Doc, find_invoice
from sandboxes.erp.entities import ENTITIES
from sandboxes.erp.seed import RECEIVABLES, TAX_PAYABLE
from sandboxes.erp.wire import new_document


def check_posting_date(ctx: Ctx, posting_date: str, what: str) -> None:
    """The posting date must fall in an existing accounting period that is not closed."""
    periods = sorted(
        ctx.store.iter_all(ctx.kind("accountingPeriod")), key=lambda p: p["startingDate"]
    )
    day = date.fromisoformat(posting_date)
    current = [p for p in periods if p["startingDate"] <= posting_date]
    last_year_end = date(date.fromisoformat(periods[-1]["startingDate"]).year, 12, 31)
    if not current or day > last_year_end:
        raise business_error(
            f"Cannot post {what}: the posting date {posting_date} is not within an "
            "accounting period. Create the accounting periods first."
        )
    period = current[-1]
    if period["closed"] or period["dateLocked"]:
        raise business_error(
            f"Cannot post {what}: the posting date {posting_date} is in the closed accounting "
            f"period {period['name']} {period['startingDate'][:4]}; it is not within your range "
            "of allowed posting dates."
        )


def check_tax_codes(ctx: Ctx, lines: list[Doc], what: str) -> None:
    for line in lines:
        code = line["taxCode"]
        if code and ctx.find("taxGroup", "code", code) is None:
            raise business_error(
                f"Cannot post {what}: the tax code '{code}' on line {line['sequence']} is not a "
                "tax group in this company (the Tax Group does not exist)."
            )


def _check_document(ctx: Ctx, doc: Doc, what: str) -> list[Doc]:
    if doc["status"] != DRAFT:
        raise business_error(f"{what} is already posted (status {doc['status']}).")
    lines = ctx.find_all(f"{_type_of(doc)}Line", "documentId", doc["id"])
    if not [x for x in lines if x["lineType"] != "Comment" and x["quantity"]]:
        raise business_error(f"Cannot post {what}: there is nothing to post.")
    customer = ctx.get("customer", doc["customerId"])
    if customer is None:
        raise business_error(f"Cannot post {what}: customer {doc['customerNumber']} is gone.")
    if customer["blocked"] in ("Invoice", "All"):
        raise business_error(
            f"You cannot post this type of document when Customer {customer['number']} is "
            f"blocked with type {customer['blocked']}."
        )
    check_posting_date(ctx, doc["postingDate"], what)
    check_tax_codes(ctx, lines, what)
    return lines


def _type_of(doc: Doc) -> str:
    return "salesInvoice" if "invoiceDate" in doc else "salesCreditMemo"


def _adjust_balance(ctx: Ctx, customer_id: str, delta: int) -> None:
    customer = ctx.get("customer", customer_id)
    if customer is not None:
        customer["balanceDue"] = int(customer["balanceDue"]) + delta
        ctx.put_quietly("customer", customer)


def post_invoice(ctx: Ctx, invoice: Doc) -> None:
    _check_document(ctx, invoice, f"sales invoice {invoice['number']}")
    total = int(invoice["totalAmountIncludingTax"])
    invoice["remainingAmount"] = total
    invoice["status"] = "Open" if total > 0 else "Paid"
    ctx.save("salesInvoice", invoice)
    _adjust_balance(ctx, invoice["customerId"], total)
    _post_document_entries(ctx, invoice, "Invoice", sign=1)


def post_credit_memo(ctx: Ctx, memo: Doc) -> None:
    _check_document(ctx, memo, f"sales credit memo {memo['number']}")
    total = int(memo["totalAmountIncludingTax"])
    applied = 0
    invoice = find_invoice(ctx, memo["invoiceId"], "")
    if invoice is not None and invoice["status"] == "Open":
        applied = min(total, int(invoice["remainingAmount"]))
        _apply_to_invoice(ctx, invoice, applied)
    memo["status"] = "Paid" if applied == total else "Open"
    memo["_appliedAmount"] = applied  # never rendered; for the sandbox's out-of-band deletion
    ctx.save("salesCreditMemo", memo)
    _adjust_balance(ctx, memo["customerId"], -total)
    _post_document_entries(ctx, memo, "Credit Memo", sign=-1)


def _apply_to_invoice(ctx: Ctx, invoice: Doc, amount: int) -> None:
    invoice["remainingAmount"] = int(invoice["remainingAmount"]) - amount
    if invoice["remainingAmount"] == 0:
        invoice["status"] = "Paid"
    ctx.save("salesInvoice", invoice)


def post_journal(ctx: Ctx, journal: Doc) -> None:
    """Post every payment line of the journal; posted lines leave the journal, as in BC."""
    lines = ctx.find_all("customerPayment", "journalId", journal["id"])
    if not lines:
        raise business_error(f"Cannot post journal {journal['code']}: there is nothing to post.")
    for line in lines:
        what = f"payment line {line['lineNumber']} of journal {journal['code']}"
        check_posting_date(ctx, line["postingDate"], what)
        if ctx.get("customer", line["customerId"]) is None:
            raise business_error(f"Cannot post {what}: customer {line['customerNumber']} is gone.")
        invoice = find_invoice(ctx, line["appliesToInvoiceId"], "")
        if invoice is not None and invoice["status"] != "Open":
            raise business_error(
                f"Cannot post {what}: invoice {invoice['number']} is {invoice['status']}, "
                "there is no open entry to apply the payment to."
            )
    for line in lines:
        applied = _post_payment(ctx, line)
        _post_payment_entries(ctx, line, journal, applied)
        ctx.delete("customerPayment", line["id"])


def _post_payment(ctx: Ctx, line: Doc) -> dict[str, object]:
    """Apply the payment; what it applied to (kept on its entries, unseen by the API, so the
    sandbox's out-of-band deletion can undo it as reversing the entries in BC would)."""
    # Beyond the invoice's remaining amount a payment stays on the customer as an open credit.
    invoice = find_invoice(ctx, line["appliesToInvoiceId"], "")
    applied = 0
    if invoice is not None:
        applied = min(int(line["amount"]), int(invoice["remainingAmount"]))
        _apply_to_invoice(ctx, invoice, applied)
    _adjust_balance(ctx, line["customerId"], -int(line["amount"]))
    return {
        "invoiceId": invoice["id"] if invoice is not None else None,
        "amount": applied,
        "customerId": line["customerId"],
    }


# -- general ledger ---------------------------------------------------------------------------
def _post_document_entries(ctx: Ctx, doc: Doc, document_type: str, *, sign: int) -> None:
    """Receivables against revenue (per account) and tax; a credit memo (sign -1) reverses."""
    revenue: dict[str, int] = defaultdict(int)
    for line in ctx.find_all(f"{_type_of(doc)}Line", "documentId", doc["id"]):
        if line["lineType"] != "Comment":
            revenue[_revenue_account(ctx, line)] += int(line["amountExcludingTax"])
    amounts = [
        (RECEIVABLES, int(doc["totalAmountIncludingTax"])),
        *[(account, -amount) for account, amount in revenue.items()],
        (TAX_PAYABLE, -int(doc["totalTaxAmount"])),
    ]
    description = f"{document_type} {doc['number']}"
    entries = [(account, sign * amount) for account, amount in amounts]
    _post_entries(ctx, doc["postingDate"], document_type, doc["number"], description, entries)


def _post_payment_entries(ctx: Ctx, line: Doc, journal: Doc, applied: dict[str, object]) -> None:
    amount = int(line["amount"])
    description = line["description"] or f"Payment {line['documentNumber']}"
    entries = [(journal["balancingAccountNumber"], amount), (RECEIVABLES, -amount)]
    _post_entries(
        ctx,
        line["postingDate"],
        "Payment",
        line["documentNumber"],
        description,
        entries,
        hidden={"_applied": applied},
    )


def _revenue_account(ctx: Ctx, line: Doc) -> str:
    if line["lineType"] == "Account":
        return str(line["lineObjectNumber"])
    item = ctx.get("item", line["itemId"])
    if item is not None and item.get("_salesAccount"):
        return str(item["_salesAccount"])
    income = [a for a in ctx.store.iter_all(ctx.kind("account")) if a["category"] == "Income"]
    return str(min(a["number"] for a in income))


def _post_entries(
    ctx: Ctx,
    posting_date: str,
    document_type: str,
    document_number: str,
    description: str,
    entries: list[tuple[str, int]],
    hidden: dict[str, object] | None = None,
) -> None:
    """One G/L entry per (account, amount): positive amounts are debits, negative credits.
    ``hidden`` fields (``_``-prefixed) are stored on each entry but never rendered."""
    assert sum(amount for _, amount in entries) == 0, "a posting must balance"
    for account_number, amount in entries:
        if amount == 0:
            continue
        account = ctx.find("account", "number", account_number)
        entry = new_document(ENTITIES["generalLedgerEntry"])
        entry.update(
            entryNumber=ctx.next_number("glEntry"),
            postingDate=posting_date,
            documentNumber=document_number,
            documentType=document_type,
            accountId=account["id"] if account else entry["accountId"],
            accountNumber=account_number,
            description=description[:100],
            debitAmount=max(amount, 0),
            creditAmount=max(-amount, 0),
            **(hidden or {}),
        )
        ctx.save("generalLedgerEntry", entry, new=True)
