"""Business rules run on writes: defaults, references, line arithmetic and document totals.

Each writable entity type has a ``Rules`` entry. ``prepare`` fills and checks a document
before it is stored (on create and on update); ``changed`` runs after it is stored or deleted,
e.g. to recompute the totals of the invoice a line belongs to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sandboxes.erp.context import Ctx, business_error
from sandboxes.erp.errors import ODataError, bad_request
from sandboxes.erp.wire import EMPTY_DATE, ZERO_GUID, as_decimal, round_minor

Doc = dict[str, Any]
DRAFT = "Draft"
HEADER_OF_LINE = {"salesInvoiceLine": "salesInvoice", "salesCreditMemoLine": "salesCreditMemo"}


def record_not_found(table: str, field: str, value: object) -> ODataError:
    # Business Central's wording for a reference to a missing record.
    return bad_request(
        f"The {table} does not exist. Identification fields and values: {field}='{value}'",
        "BadRequest_RecordNotFound",
    )


# -- customers ------------------------------------------------------------------------------
def prepare_customer(ctx: Ctx, doc: Doc, old: Doc | None, parent: Doc | None) -> None:
    if not doc["number"]:
        doc["number"] = f"CN{ctx.next_number('customer'):05d}"
    renumbered = old is None or old["number"] != doc["number"]
    if renumbered and ctx.find("customer", "number", doc["number"]) is not None:
        raise ODataError(
            400,
            "Internal_EntityWithSameKeyExists",
            f"The record in table Customer already exists. Identification fields and "
            f"values: No.='{doc['number']}'",
        )
    _resolve_currency(ctx, doc, old)
    if doc["paymentTermsId"] != ZERO_GUID and ctx.get("paymentTerm", doc["paymentTermsId"]) is None:
        raise record_not_found("Payment Terms", "Id", doc["paymentTermsId"])


def _resolve_currency(ctx: Ctx, doc: Doc, old: Doc | None) -> None:
    """currencyId and currencyCode name the same currency; blank means the local currency."""
    code_changed = old is None or doc["currencyCode"] != old["currencyCode"]
    if doc["currencyId"] != ZERO_GUID and (old is None or doc["currencyId"] != old["currencyId"]):
        currency = ctx.get("currency", doc["currencyId"])
        if currency is None:
            raise record_not_found("Currency", "Id", doc["currencyId"])
    else:
        code = doc["currencyCode"] or ctx.company["_lcy"]
        currency = ctx.find("currency", "code", code) if code_changed else None
        if currency is None and code_changed:
            raise record_not_found("Currency", "Code", code)
    if currency is not None:
        doc["currencyId"], doc["currencyCode"] = currency["id"], currency["code"]


def check_customer_delete(ctx: Ctx, doc: Doc) -> None:
    for type_name in ("salesInvoice", "salesCreditMemo", "customerPayment"):
        if ctx.find(type_name, "customerId", doc["id"]) is not None:
            raise business_error(
                f"You cannot delete Customer {doc['number']} because there is at least one "
                "outstanding document or journal line for this customer."
            )


def resolve_customer(ctx: Ctx, doc: Doc, old: Doc | None) -> Doc:
    """The customer a document names by id or number (the one that changed wins)."""
    by_id = doc["customerId"] != ZERO_GUID and (
        old is None or doc["customerId"] != old["customerId"]
    )
    number = doc.get("customerNumber", "")
    if by_id:
        customer = ctx.get("customer", doc["customerId"])
        if customer is None:
            raise record_not_found("Customer", "Id", doc["customerId"])
    elif number:
        customer = ctx.find("customer", "number", number)
        if customer is None:
            raise record_not_found("Customer", "No.", number)
    else:
        raise bad_request("Specify a customer with customerId or customerNumber.")
    doc["customerId"], doc["customerNumber"] = customer["id"], customer["number"]
    return customer


# -- default dimensions ---------------------------------------------------------------------
# Business Central's own labels (table 352 "Default Dimension", page "APIV2 - Default Dimensions").
NO_DIMENSION = 'The "dimensionId" does not match to a Dimension.'
NO_DIMENSION_VALUE = 'The "dimensionValueId" does not match to a Dimension Value.'
DIMENSION_MISMATCH = (
    'The "dimensionId" and "dimensionValueId" match to different Dimension records.'
)


def prepare_default_dimension(ctx: Ctx, doc: Doc, old: Doc | None, parent: Doc | None) -> None:
    """One default dimension per (customer, dimension); ids are resolved, codes filled in."""
    if doc["parentType"] not in (" ", "Customer"):
        raise bad_request("The sandbox keeps default dimensions of customers only.")
    customer = parent if parent is not None else _default_dimension_owner(ctx, doc)
    doc["parentType"], doc["parentId"] = "Customer", customer["id"]
    if old is not None and any(doc[k] != old[k] for k in ("parentId", "dimensionId")):
        raise business_error("You can't rename a Default Dimension.")
    if old is None:
        _resolve_dimension(ctx, doc)
    if old is None or doc["dimensionValueId"] != old["dimensionValueId"]:
        _resolve_dimension_value(ctx, doc)
    if doc["postingValidation"] == "No Code" and doc["dimensionValueCode"]:
        raise business_error(
            "Dimension Value Code must be equal to '' in Default Dimension: Table ID=18, "
            f"No.={customer['number']}, Dimension Code={doc['dimensionCode']}. "
            f"Current value is '{doc['dimensionValueCode']}'."
        )
    if old is None:
        _check_one_per_dimension(ctx, doc, customer)


def _default_dimension_owner(ctx: Ctx, doc: Doc) -> Doc:
    """At company level the body names the parent (BC: parentType and parentId)."""
    if doc["parentType"] == " " or doc["parentId"] == ZERO_GUID:
        raise business_error("You must get to the parent first to get to the default dimensions.")
    customer = ctx.get("customer", doc["parentId"])
    if customer is None:
        raise business_error("Parent is not found.")
    return customer


def _resolve_dimension(ctx: Ctx, doc: Doc) -> None:
    if doc["dimensionId"] == ZERO_GUID and doc["dimensionValueId"] != ZERO_GUID:
        value = ctx.get("dimensionValue", doc["dimensionValueId"])
        doc["dimensionId"] = value["dimensionId"] if value else ZERO_GUID
    dimension = ctx.get("dimension", doc["dimensionId"])
    if dimension is None:
        raise business_error(NO_DIMENSION)
    doc["dimensionCode"] = dimension["code"]


def _resolve_dimension_value(ctx: Ctx, doc: Doc) -> None:
    if doc["dimensionValueId"] == ZERO_GUID:
        doc["dimensionValueCode"] = ""
        return
    value = ctx.get("dimensionValue", doc["dimensionValueId"])
    if value is None:
        raise business_error(NO_DIMENSION_VALUE)
    if value["dimensionId"] != doc["dimensionId"]:
        raise business_error(DIMENSION_MISMATCH)
    doc["dimensionValueCode"] = value["code"]


def _check_one_per_dimension(ctx: Ctx, doc: Doc, customer: Doc) -> None:
    for other in ctx.find_all("defaultDimension", "parentId", customer["id"]):
        if other["dimensionId"] == doc["dimensionId"] and other["id"] != doc["id"]:
            raise ODataError(
                400,
                "Internal_EntityWithSameKeyExists",
                "The record in table Default Dimension already exists. Identification fields "
                f"and values: Table ID='18',No.='{customer['number']}',"
                f"Dimension Code='{doc['dimensionCode']}'",
            )


# -- ship-to addresses (companion extension API) ----------------------------------------------
def prepare_ship_to(ctx: Ctx, doc: Doc, old: Doc | None, parent: Doc | None) -> None:
    """Table 222's rules: Code fields are upper case, the customer must exist, and
    (customer number, code) is the primary key."""
    for name in ("customerNumber", "code", "country"):
        doc[name] = doc[name].upper()
    for name, caption in (("customerNumber", "Customer No."), ("code", "Code")):
        if not doc[name]:
            raise business_error(
                f"{caption} must have a value in Ship-to Address: Customer No.="
                f"{doc['customerNumber']}, Code={doc['code']}. It cannot be zero or empty."
            )
    key = (doc["customerNumber"], doc["code"])
    if old is not None and key == (old["customerNumber"], old["code"]):
        return
    if ctx.find("customer", "number", doc["customerNumber"]) is None:
        raise record_not_found("Customer", "No.", doc["customerNumber"])
    siblings = ctx.find_all("shipToAddress", "customerNumber", doc["customerNumber"])
    if any(other["code"] == doc["code"] and other["id"] != doc["id"] for other in siblings):
        raise ODataError(
            400,
            "Internal_EntityWithSameKeyExists",
            "The record in table Ship-to Address already exists. Identification fields and "
            f"values: Customer No.='{doc['customerNumber']}',Code='{doc['code']}'",
        )


# -- sales documents ------------------------------------------------------------------------
def _date_field(type_name: str) -> str:
    return "invoiceDate" if type_name == "salesInvoice" else "creditMemoDate"


def prepare_header(type_name: str) -> Callable[[Ctx, Doc, Doc | None, Doc | None], None]:
    def prepare(ctx: Ctx, doc: Doc, old: Doc | None, parent: Doc | None) -> None:
        if old is not None and old["status"] != DRAFT:
            raise business_error(f"You cannot change the {old['status']} document {old['number']}.")
        if doc["discountAmount"]:
            raise bad_request(
                "Invoice discounts (discountAmount) are not supported by the sandbox."
            )
        customer = resolve_customer(ctx, doc, old)
        if old is None or customer["id"] != old["customerId"]:
            doc["customerName"] = customer["displayName"]
            doc["billToName"] = doc["billToName"] or customer["displayName"]
            doc["billToCustomerId"], doc["billToCustomerNumber"] = (
                customer["id"],
                customer["number"],
            )
            doc["email"] = doc["email"] or customer["email"]
            if not doc["currencyCode"] and doc["currencyId"] == ZERO_GUID:
                doc["currencyCode"] = customer["currencyCode"]
            if doc["paymentTermsId"] == ZERO_GUID:
                doc["paymentTermsId"] = customer["paymentTermsId"]
        _resolve_currency(ctx, doc, old)
        if old is None:
            first = 103000 if type_name == "salesInvoice" else 104000  # CRONUS-like series
            doc["number"] = str(first + ctx.next_number(type_name))
            doc["status"] = DRAFT
        _dates(ctx, type_name, doc, old)
        if type_name == "salesCreditMemo":
            _resolve_applied_invoice(ctx, doc, old)

    return prepare


def _dates(ctx: Ctx, type_name: str, doc: Doc, old: Doc | None) -> None:
    date_field = _date_field(type_name)
    if doc[date_field] == EMPTY_DATE:
        doc[date_field] = ctx.today().isoformat()
    changed = old is None or doc[date_field] != old[date_field]
    if doc["postingDate"] == EMPTY_DATE or (
        changed and old and doc["postingDate"] == old["postingDate"]
    ):
        doc["postingDate"] = doc[date_field]
    if doc["dueDate"] == EMPTY_DATE or (changed and old and doc["dueDate"] == old["dueDate"]):
        terms = ctx.get("paymentTerm", doc["paymentTermsId"]) if doc["paymentTermsId"] else None
        days = int(terms["_days"]) if terms else 0
        doc["dueDate"] = (date.fromisoformat(doc[date_field]) + timedelta(days=days)).isoformat()


def _resolve_applied_invoice(ctx: Ctx, doc: Doc, old: Doc | None) -> None:
    invoice = find_invoice(ctx, doc["invoiceId"], doc["invoiceNumber"])
    if invoice is None:
        doc["invoiceId"], doc["invoiceNumber"] = ZERO_GUID, ""
        return
    if invoice["customerId"] != doc["customerId"]:
        raise business_error(
            f"Invoice {invoice['number']} belongs to customer {invoice['customerNumber']}, "
            f"not to {doc['customerNumber']}."
        )
    if invoice["status"] == DRAFT:
        raise business_error(
            f"Invoice {invoice['number']} is not posted; a credit memo "
            "can only be applied to a posted invoice."
        )
    doc["invoiceId"], doc["invoiceNumber"] = invoice["id"], invoice["number"]


def find_invoice(ctx: Ctx, invoice_id: str, number: str) -> Doc | None:
    """The invoice named by id or number; None if neither is given, 400 if it is unknown."""
    if invoice_id != ZERO_GUID:
        invoice = ctx.get("salesInvoice", invoice_id)
        if invoice is None:
            raise record_not_found("Sales Invoice", "Id", invoice_id)
        return invoice
    if number:
        invoice = ctx.find("salesInvoice", "number", number)
        if invoice is None:
            raise record_not_found("Sales Invoice", "No.", number)
        return invoice
    return None


def check_header_delete(ctx: Ctx, doc: Doc) -> None:
    if doc["status"] != DRAFT:
        raise business_error(f"You cannot delete the {doc['status']} document {doc['number']}.")


# -- document lines -------------------------------------------------------------------------
def prepare_line(ctx: Ctx, doc: Doc, old: Doc | None, parent: Doc | None) -> None:
    assert parent is not None  # lines exist only under their document
    if parent["status"] != DRAFT:
        raise business_error(
            f"You cannot change lines of the {parent['status']} document {parent['number']}."
        )
    if old is None and not doc["sequence"]:
        doc["sequence"] = 10000 * (
            1 + len(ctx.find_all(_line_type(doc, parent), "documentId", parent["id"]))
        )
    _resolve_line_object(ctx, doc, old)
    rate = ctx.find("taxGroup", "code", doc["taxCode"]) if doc["taxCode"] else None
    # An unknown tax code is kept (the posting refuses it): see posting.check_tax_codes.
    compute_line(doc, int(rate["_rateBp"]) if rate else 0, bool(parent["pricesIncludeTax"]))


def _line_type(doc: Doc, parent: Doc) -> str:
    return "salesInvoiceLine" if "invoiceDate" in parent else "salesCreditMemoLine"


def _resolve_line_object(ctx: Ctx, doc: Doc, old: Doc | None) -> None:
    kind = doc["lineType"]
    if kind == "Comment":
        return
    table, id_field = {"Item": ("item", "itemId"), "Account": ("account", "accountId")}.get(
        kind, (None, None)
    )
    if table is None or id_field is None:
        raise bad_request(f"The sandbox does not support lines of type '{kind}'.")
    record = None
    if doc[id_field] != ZERO_GUID and (old is None or doc[id_field] != old[id_field]):
        record = ctx.get(table, doc[id_field])
        if record is None:
            raise record_not_found(table.capitalize(), "Id", doc[id_field])
    elif doc["lineObjectNumber"]:
        record = ctx.find(table, "number", doc["lineObjectNumber"])
        if record is None:
            raise record_not_found(table.capitalize(), "No.", doc["lineObjectNumber"])
    elif old is None:
        raise bad_request(f"An {kind} line needs lineObjectNumber or {id_field}.")
    if record is not None:
        doc[id_field], doc["lineObjectNumber"] = record["id"], record["number"]
        doc["description"] = doc["description"] or record["displayName"]
        if kind == "Item" and old is None and "unitPrice" not in doc.get("_given", ()):
            doc["unitPrice"] = record["unitPrice"]
        doc["unitOfMeasureCode"] = doc["unitOfMeasureCode"] or record.get(
            "baseUnitOfMeasureCode", ""
        )


def compute_line(line: Doc, rate_bp: int, prices_include_tax: bool) -> None:
    """Line amounts in minor units, rounded half-up per line as Business Central does."""
    if line["lineType"] == "Comment":
        for name in (
            "amountExcludingTax",
            "totalTaxAmount",
            "amountIncludingTax",
            "netAmount",
            "netTaxAmount",
            "netAmountIncludingTax",
        ):
            line[name] = 0
        return
    gross = round_minor(as_decimal(line["quantity"]) * Decimal(int(line["unitPrice"])))
    if line["discountPercent"]:
        line["discountAmount"] = round_minor(gross * as_decimal(line["discountPercent"]) / 100)
    base = gross - int(line["discountAmount"])
    if prices_include_tax:
        excl = round_minor(Decimal(base) * 10_000 / (10_000 + rate_bp))
        tax = base - excl
    else:
        excl = base
        tax = round_minor(Decimal(excl) * rate_bp / 10_000)
    line["taxPercent"] = float(Decimal(rate_bp) / 100)
    line["amountExcludingTax"] = line["netAmount"] = excl
    line["totalTaxAmount"] = line["netTaxAmount"] = tax
    line["amountIncludingTax"] = line["netAmountIncludingTax"] = excl + tax


def refresh_totals(ctx: Ctx, header_type: str, header_id: str) -> None:
    """Recompute a document's totals from its lines (after any line write)."""
    header = ctx.get(header_type, header_id)
    if header is None:
        return
    lines = ctx.find_all(f"{header_type}Line", "documentId", header_id)
    header["totalAmountExcludingTax"] = sum(int(x["amountExcludingTax"]) for x in lines)
    header["totalTaxAmount"] = sum(int(x["totalTaxAmount"]) for x in lines)
    header["totalAmountIncludingTax"] = sum(int(x["amountIncludingTax"]) for x in lines)
    if header_type == "salesInvoice" and header["status"] == DRAFT:
        header["remainingAmount"] = header["totalAmountIncludingTax"]
    ctx.save(header_type, header)


# -- payments -------------------------------------------------------------------------------
def prepare_journal(ctx: Ctx, doc: Doc, old: Doc | None, parent: Doc | None) -> None:
    if not doc["code"]:
        raise bad_request("A customer payment journal needs a code.")
    doc["code"] = doc["code"].upper()
    same = ctx.find("customerPaymentJournal", "code", doc["code"])
    if same is not None and same["id"] != doc["id"]:
        raise ODataError(
            400, "Internal_EntityWithSameKeyExists", f"The journal {doc['code']} already exists."
        )
    if doc["balancingAccountId"] == ZERO_GUID:
        bank = ctx.find("account", "number", "10100")
        doc["balancingAccountId"] = bank["id"] if bank else ZERO_GUID
    account = ctx.get("account", doc["balancingAccountId"])
    if account is None:
        raise record_not_found("G/L Account", "Id", doc["balancingAccountId"])
    doc["balancingAccountNumber"] = account["number"]


def prepare_payment(ctx: Ctx, doc: Doc, old: Doc | None, parent: Doc | None) -> None:
    journal = parent or _payment_journal(ctx, doc)
    doc["journalId"], doc["journalDisplayName"] = journal["id"], journal["code"]
    if old is None and not doc["lineNumber"]:
        doc["lineNumber"] = 10000 * (
            1 + len(ctx.find_all("customerPayment", "journalId", journal["id"]))
        )
    customer = resolve_customer(ctx, doc, old)
    if doc["postingDate"] == EMPTY_DATE:
        doc["postingDate"] = ctx.today().isoformat()
    if not doc["documentNumber"]:
        doc["documentNumber"] = f"G{ctx.next_number('payment'):05d}"
    if doc["amount"] <= 0:
        raise bad_request("The payment amount must be positive (the amount received).")
    invoice = find_invoice(ctx, doc["appliesToInvoiceId"], doc["appliesToInvoiceNumber"])
    if invoice is None:
        doc["appliesToInvoiceId"], doc["appliesToInvoiceNumber"] = ZERO_GUID, ""
        return
    if invoice["customerId"] != customer["id"]:
        raise business_error(
            f"Invoice {invoice['number']} does not belong to customer {customer['number']}."
        )
    doc["appliesToInvoiceId"], doc["appliesToInvoiceNumber"] = invoice["id"], invoice["number"]
    doc["description"] = doc["description"] or f"Payment {invoice['number']}"


def _payment_journal(ctx: Ctx, doc: Doc) -> Doc:
    if doc["journalId"] == ZERO_GUID:
        journal = ctx.find("customerPaymentJournal", "code", "GENERAL")
    else:
        journal = ctx.get("customerPaymentJournal", doc["journalId"])
    if journal is None:
        raise record_not_found("Gen. Journal Batch", "Id", doc["journalId"])
    return journal


# -- registry -------------------------------------------------------------------------------
Prepare = Callable[[Ctx, Doc, Doc | None, Doc | None], None]


def _no_check(ctx: Ctx, doc: Doc) -> None:
    return None


def _line_changed(header_type: str) -> Callable[[Ctx, Doc], None]:
    def changed(ctx: Ctx, doc: Doc) -> None:
        refresh_totals(ctx, header_type, doc["documentId"])

    return changed


@dataclass(frozen=True)
class Rules:
    prepare: Prepare
    check_delete: Callable[[Ctx, Doc], None] = _no_check
    changed: Callable[[Ctx, Doc], None] = _no_check


RULES: dict[str, Rules] = {
    "customer": Rules(prepare_customer, check_customer_delete),
    "defaultDimension": Rules(prepare_default_dimension),
    "shipToAddress": Rules(prepare_ship_to),
    "salesInvoice": Rules(prepare_header("salesInvoice"), check_header_delete),
    "salesCreditMemo": Rules(prepare_header("salesCreditMemo"), check_header_delete),
    "salesInvoiceLine": Rules(prepare_line, changed=_line_changed("salesInvoice")),
    "salesCreditMemoLine": Rules(prepare_line, changed=_line_changed("salesCreditMemo")),
    "customerPaymentJournal": Rules(prepare_journal),
    "customerPayment": Rules(prepare_payment),
}
