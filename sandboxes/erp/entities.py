"""Entity definitions: one table drives ``$metadata``, input validation and rendering.

Field kinds are the sandbox's storage types: ``money`` is kept as integer minor units (all four
currencies have two decimals) and rendered as an ``Edm.Decimal``; ``datetime`` is kept as a
fixed-width UTC string so SQLite can compare it as text.

Each entity belongs to one API route: Business Central's standard ``v2.0``, or the custom API
``syncPlatform/integration/v1.0`` that the platform's companion AL extension publishes (see
``sandboxes.erp.app``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["guid", "string", "enum", "money", "decimal", "int", "bool", "date", "datetime"]
STANDARD_API = "v2.0"  # /api/v2.0/...
COMPANION_API = "syncPlatform/integration/v1.0"  # /api/{publisher}/{group}/{version}/...
APIS = (STANDARD_API, COMPANION_API)

EDM_TYPES: dict[Kind, str] = {
    "guid": "Edm.Guid",
    "string": "Edm.String",
    "enum": "Edm.String",
    "money": "Edm.Decimal",
    "decimal": "Edm.Decimal",
    "int": "Edm.Int32",
    "bool": "Edm.Boolean",
    "date": "Edm.Date",
    "datetime": "Edm.DateTimeOffset",
}


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    writable: bool = True
    max_len: int | None = None  # Business Central's Code[n] / Text[n] length
    values: tuple[str, ...] = ()  # allowed values of an ``enum``


@dataclass(frozen=True)
class Nav:
    """A contained collection, e.g. ``salesInvoices({id})/salesInvoiceLines``."""

    name: str
    entity: str  # type name of the child
    parent_field: str  # the child's field holding the parent's id


@dataclass(frozen=True)
class EntityDef:
    type_name: str  # ``customer``; the store kind is ``customer:<company id>``
    set_name: str  # ``customers``
    fields: tuple[Field, ...]
    writable: bool = True
    navs: tuple[Nav, ...] = ()
    post_action: bool = False  # has the bound action ``Microsoft.NAV.post``
    company_set: bool = True  # also addressable at company level (lines are only nested)
    api: str = STANDARD_API  # the API route that publishes the entity set
    by_name: dict[str, Field] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.by_name.update({f.name: f for f in self.fields})

    def nav(self, name: str) -> Nav | None:
        return next((n for n in self.navs if n.name == name), None)


def _f(name: str, kind: Kind = "string", max_len: int | None = None, **kw: object) -> Field:
    return Field(name, kind, max_len=max_len, **kw)  # type: ignore[arg-type]


def _ro(name: str, kind: Kind = "string", **kw: object) -> Field:
    return Field(name, kind, writable=False, **kw)  # type: ignore[arg-type]


ID = Field("id", "guid")  # writable on insert only: BC lets a client choose the SystemId
MODIFIED = _ro("lastModifiedDateTime", "datetime")
INVOICE_STATUS = ("Draft", "In Review", "Open", "Paid", "Canceled", "Corrective")
LINE_TYPES = ("Item", "Comment", "Account", "Resource", "Fixed Asset", "Charge")
# The first value of an enum is its default.
BLOCKED = (" ", "Ship", "Invoice", "All")
DEFAULT_DIMENSION_PARENT_TYPES = (" ", "Customer", "Item", "Vendor", "Employee")
VALUE_POSTING = (" ", "Code Mandatory", "Same Code", "No Code")
GL_DOCUMENT_TYPES = (
    " ",
    "Payment",
    "Invoice",
    "Credit Memo",
    "Finance Charge Memo",
    "Reminder",
    "Refund",
)

# Business Central's address fields (customers, ship-to addresses); ``state`` is "County".
_ADDRESS_FIELDS: tuple[Field, ...] = (
    _f("addressLine1", max_len=100),
    _f("addressLine2", max_len=50),
    _f("city", max_len=30),
    _f("state", max_len=30),
    _f("country", max_len=10),
    _f("postalCode", max_len=20),
)

_DOCUMENT_LINE_FIELDS: tuple[Field, ...] = (
    ID,
    _ro("documentId", "guid"),
    _f("sequence", "int"),
    _f("itemId", "guid"),
    _f("accountId", "guid"),
    _f("lineType", "enum", values=LINE_TYPES),
    _f("lineObjectNumber", max_len=20),
    _f("description", max_len=100),
    _f("unitOfMeasureCode", max_len=10),
    _f("quantity", "decimal"),
    _f("unitPrice", "money"),
    _f("discountAmount", "money"),
    _f("discountPercent", "decimal"),
    _ro("amountExcludingTax", "money"),
    _f("taxCode", max_len=20),
    _ro("taxPercent", "decimal"),
    _ro("totalTaxAmount", "money"),
    _ro("amountIncludingTax", "money"),
    _ro("netAmount", "money"),
    _ro("netTaxAmount", "money"),
    _ro("netAmountIncludingTax", "money"),
)


def _document_fields(date_field: str, extra: tuple[Field, ...]) -> tuple[Field, ...]:
    """Header fields shared by sales invoices and sales credit memos."""
    return (
        ID,
        _ro("number", max_len=20),
        _f("externalDocumentNumber", max_len=35),
        _f(date_field, "date"),
        _f("postingDate", "date"),
        _f("dueDate", "date"),
        _f("customerId", "guid"),
        _f("customerNumber", max_len=20),
        _ro("customerName", max_len=100),
        _f("billToName", max_len=100),
        _f("billToCustomerId", "guid"),
        _f("billToCustomerNumber", max_len=20),
        _f("currencyId", "guid"),
        _f("currencyCode", max_len=10),
        _f("paymentTermsId", "guid"),
        _f("shortcutDimension1Code", max_len=20),
        _f("shortcutDimension2Code", max_len=20),
        _f("pricesIncludeTax", "bool"),
        _f("discountAmount", "money"),
        _ro("discountAppliedBeforeTax", "bool"),
        _ro("totalAmountExcludingTax", "money"),
        _ro("totalTaxAmount", "money"),
        _ro("totalAmountIncludingTax", "money"),
        *extra,
        _ro("status", "enum", values=INVOICE_STATUS),
        _f("email", max_len=80),
        MODIFIED,
    )


ENTITY_LIST: tuple[EntityDef, ...] = (
    EntityDef(
        "company",
        "companies",
        (
            ID,
            _ro("systemVersion"),
            _ro("name", max_len=30),
            _ro("displayName", max_len=250),
            _ro("businessProfileId", max_len=250),
            _ro("systemCreatedAt", "datetime"),
            _ro("systemModifiedAt", "datetime"),
        ),
        writable=False,
    ),
    EntityDef(
        "customer",
        "customers",
        (
            ID,
            _f("number", max_len=20),
            _f("displayName", max_len=100),
            _f("type", "enum", values=("Company", "Person")),
            *_ADDRESS_FIELDS,
            _f("phoneNumber", max_len=30),
            _f("email", max_len=80),
            _f("website", max_len=80),
            _f("salespersonCode", max_len=20),
            _ro("balanceDue", "money"),
            _f("creditLimit", "money"),
            _f("taxLiable", "bool"),
            _f("taxAreaId", "guid"),
            _ro("taxAreaDisplayName", max_len=100),
            _f("taxRegistrationNumber", max_len=20),
            _f("currencyId", "guid"),
            _f("currencyCode", max_len=10),
            _f("paymentTermsId", "guid"),
            _f("shipmentMethodId", "guid"),
            _f("paymentMethodId", "guid"),
            _f("blocked", "enum", values=BLOCKED),
            MODIFIED,
        ),
        navs=(Nav("defaultDimensions", "defaultDimension", "parentId"),),
    ),
    EntityDef(
        "defaultDimension",
        "defaultDimensions",
        (
            ID,
            _f("parentType", "enum", values=DEFAULT_DIMENSION_PARENT_TYPES),
            _f("parentId", "guid"),
            _f("dimensionId", "guid"),
            _ro("dimensionCode", max_len=20),
            _f("dimensionValueId", "guid"),
            _ro("dimensionValueCode", max_len=20),
            _f("postingValidation", "enum", values=VALUE_POSTING),
            MODIFIED,
        ),
    ),
    EntityDef(
        "salesInvoice",
        "salesInvoices",
        _document_fields("invoiceDate", (_ro("remainingAmount", "money"),)),
        navs=(Nav("salesInvoiceLines", "salesInvoiceLine", "documentId"),),
        post_action=True,
    ),
    EntityDef(
        "salesInvoiceLine",
        "salesInvoiceLines",
        _DOCUMENT_LINE_FIELDS,
        company_set=False,
    ),
    EntityDef(
        "salesCreditMemo",
        "salesCreditMemos",
        _document_fields(
            "creditMemoDate",
            (_f("invoiceId", "guid"), _f("invoiceNumber", max_len=20)),
        ),
        navs=(Nav("salesCreditMemoLines", "salesCreditMemoLine", "documentId"),),
        post_action=True,
    ),
    EntityDef(
        "salesCreditMemoLine",
        "salesCreditMemoLines",
        _DOCUMENT_LINE_FIELDS,
        company_set=False,
    ),
    EntityDef(
        "customerPaymentJournal",
        "customerPaymentJournals",
        (
            ID,
            _f("code", max_len=10),
            _f("displayName", max_len=100),
            _f("balancingAccountId", "guid"),
            _ro("balancingAccountNumber", max_len=20),
            MODIFIED,
        ),
        navs=(Nav("customerPayments", "customerPayment", "journalId"),),
        post_action=True,
    ),
    EntityDef(
        "customerPayment",
        "customerPayments",
        (
            ID,
            _f("journalId", "guid"),
            _ro("journalDisplayName", max_len=10),
            _f("lineNumber", "int"),
            _f("customerId", "guid"),
            _f("customerNumber", max_len=20),
            _f("contactId", max_len=250),
            _f("postingDate", "date"),
            _f("documentNumber", max_len=20),
            _f("externalDocumentNumber", max_len=35),
            _f("amount", "money"),
            _f("appliesToInvoiceId", "guid"),
            _f("appliesToInvoiceNumber", max_len=20),
            _f("description", max_len=100),
            _f("comment", max_len=250),
            MODIFIED,
        ),
    ),
    EntityDef(
        # Written only by posting. API v2.0 has no externalDocumentNumber here: a posted
        # payment is found by its documentNumber with documentType 'Payment'.
        "generalLedgerEntry",
        "generalLedgerEntries",
        (
            ID,
            _ro("entryNumber", "int"),
            _ro("postingDate", "date"),
            _ro("documentNumber", max_len=20),
            _ro("documentType", "enum", values=GL_DOCUMENT_TYPES),
            _ro("accountId", "guid"),
            _ro("accountNumber", max_len=20),
            _ro("description", max_len=100),
            _ro("debitAmount", "money"),
            _ro("creditAmount", "money"),
            MODIFIED,
        ),
        writable=False,
    ),
    EntityDef(
        "account",
        "accounts",
        (
            ID,
            _ro("number", max_len=20),
            _ro("displayName", max_len=100),
            _ro(
                "category",
                "enum",
                values=(
                    "",
                    "Assets",
                    "Liabilities",
                    "Equity",
                    "Income",
                    "CostOfGoodsSold",
                    "Expense",
                ),
            ),
            _ro("subCategory", max_len=80),
            _ro("blocked", "bool"),
            _ro(
                "accountType",
                "enum",
                values=("Posting", "Heading", "Total", "Begin-Total", "End-Total"),
            ),
            _ro("directPosting", "bool"),
            MODIFIED,
        ),
        writable=False,
    ),
    EntityDef(
        "taxGroup",
        "taxGroups",
        (
            ID,
            _ro("code", max_len=20),
            _ro("displayName", max_len=100),
            _ro("taxType", "enum", values=("Sales Tax", "VAT")),
            MODIFIED,
        ),
        writable=False,
    ),
    EntityDef(
        "accountingPeriod",
        "accountingPeriods",
        (
            ID,
            _ro("startingDate", "date"),
            _ro("name", max_len=10),
            _ro("newFiscalYear", "bool"),
            _ro("closed", "bool"),
            _ro("dateLocked", "bool"),
            MODIFIED,
        ),
        writable=False,
    ),
    EntityDef(
        "dimension",
        "dimensions",
        (ID, _ro("code", max_len=20), _ro("displayName", max_len=30), MODIFIED),
        writable=False,
        navs=(Nav("dimensionValues", "dimensionValue", "dimensionId"),),
    ),
    EntityDef(
        "dimensionValue",
        "dimensionValues",
        (
            ID,
            _ro("code", max_len=20),
            _ro("dimensionId", "guid"),
            _ro("displayName", max_len=50),
            MODIFIED,
        ),
        writable=False,
    ),
    EntityDef(
        "currency",
        "currencies",
        (
            ID,
            _ro("code", max_len=10),
            _ro("displayName", max_len=30),
            _ro("symbol", max_len=10),
            _ro("amountDecimalPlaces", max_len=5),
            _ro("amountRoundingPrecision", "decimal"),
            MODIFIED,
        ),
        writable=False,
    ),
    EntityDef(
        "paymentTerm",
        "paymentTerms",
        (
            ID,
            _ro("code", max_len=10),
            _ro("displayName", max_len=100),
            _ro("dueDateCalculation", max_len=32),
            _ro("discountDateCalculation", max_len=32),
            _ro("discountPercent", "decimal"),
            _ro("calculateDiscountOnCreditMemos", "bool"),
            MODIFIED,
        ),
        writable=False,
    ),
    EntityDef(
        "item",
        "items",
        (
            ID,
            _ro("number", max_len=20),
            _ro("displayName", max_len=100),
            _ro("type", "enum", values=("Inventory", "Service", "Non-Inventory")),
            _ro("blocked", "bool"),
            _ro("unitPrice", "money"),
            _ro("priceIncludesTax", "bool"),
            _ro("unitCost", "money"),
            _ro("taxGroupId", "guid"),
            _ro("taxGroupCode", max_len=20),
            _ro("baseUnitOfMeasureCode", max_len=10),
            MODIFIED,
        ),
        writable=False,
    ),
    EntityDef(
        # Table 222 "Ship-to Address", which no standard v2.0 page exposes: published by the
        # companion extension's API page. Key (customerNumber, code); ``state`` is "County".
        "shipToAddress",
        "shipToAddresses",
        (
            ID,
            _f("customerNumber", max_len=20),
            _f("code", max_len=10),
            _f("name", max_len=100),
            *_ADDRESS_FIELDS,
            _f("email", max_len=80),
            _f("phoneNumber", max_len=30),
            MODIFIED,
        ),
        api=COMPANION_API,
    ),
)

ENTITIES: dict[str, EntityDef] = {e.type_name: e for e in ENTITY_LIST}
COMPANY = ENTITIES["company"]


def api_sets(api: str) -> dict[str, EntityDef]:
    """The company-level entity sets one API route serves; ``companies`` is in every route,
    as Business Central serves it under each custom API too."""
    return {e.set_name: e for e in ENTITY_LIST if e.company_set and (e is COMPANY or e.api == api)}


SETS = api_sets(STANDARD_API)


def store_kind(type_name: str, company_id: str) -> str:
    """Each company's records of a type are one store kind, so listings use the kind index."""
    return f"{type_name}:{company_id}"
