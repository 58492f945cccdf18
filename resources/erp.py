"""ERP system API: Business Central API v2.0 (OData v4, ``@odata.nextLink``, ETags).

Ship-to addresses, which no standard v2.0 page exposes, come from the custom API that the
platform's companion AL extension publishes (``COMPANION_API``); it must be installed in
Business Central for them.

Sales documents and payments take and return amounts as integer minor units; this module
converts them to and from the wire's exact decimals (see "money" below).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal, Self, TypeVar

import httpx
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictInt,
    model_validator,
)

from resources.base import SystemApiResource
from resources.errors import BusinessRuleViolation, NotFound, PermanentError
from resources.http import VendorError, parse_error_envelope
from resources.paginators import ODataNextLinkPaginator, PageRequest

Record = TypeVar("Record", bound="ODataEntity")
STANDARD_API = "v2.0"
COMPANION_API = "syncPlatform/integration/v1.0"  # the companion extension's API pages


class ODataEntity(BaseModel):
    """An OData entity; ``etag`` is its ``@odata.etag`` for ``If-Match``."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    id: str
    etag: str | None = Field(default=None, alias="@odata.etag")
    lastModifiedDateTime: datetime | None = None


class ErpCompany(ODataEntity):
    name: str
    displayName: str | None = None


class ErpDefaultDimension(ODataEntity):
    """A dimension value a customer (item, vendor) carries by default on every document."""

    parentType: str | None = None
    parentId: str | None = None
    dimensionId: str
    dimensionCode: str | None = None
    dimensionValueId: str | None = None
    dimensionValueCode: str | None = None
    postingValidation: str | None = None


class ErpCustomer(ODataEntity):
    number: str
    displayName: str
    type: str | None = None
    addressLine1: str | None = None
    addressLine2: str | None = None
    city: str | None = None
    state: str | None = None
    country: str | None = None
    postalCode: str | None = None
    email: str | None = None
    taxRegistrationNumber: str | None = None
    currencyCode: str | None = None
    paymentTermsId: str | None = None
    blocked: str | None = None
    balanceDue: Decimal | None = None
    defaultDimensions: list[ErpDefaultDimension] | None = None  # with $expand only


# -- money ------------------------------------------------------------------------------------
# Amounts cross this API as integer minor units, the platform's one money convention, and
# travel on the wire as exact decimals (Edm.Decimal), never as floats. Every currency the ERP
# companies keep (USD, EUR, GBP, AUD) has two decimals.
MINOR_UNIT_EXPONENT = 2


def to_wire_amount(minor: int) -> Decimal:
    """Minor units as the wire's decimal: 12345 → Decimal('123.45')."""
    return Decimal(minor).scaleb(-MINOR_UNIT_EXPONENT)


def from_wire_amount(value: object) -> int:
    """A decimal from the wire (a JSON number, or its text) as minor units; sub-cents refused."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError(f"{value!r} is not an amount")
    try:
        # repr() is the shortest text that round-trips a float: 214.5 → '214.5', no drift.
        amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not an amount") from None
    minor = amount.scaleb(MINOR_UNIT_EXPONENT)
    if not minor.is_finite() or minor != minor.to_integral_value():
        raise ValueError(f"{value} is not a whole number of minor units")
    return int(minor)


def _not_a_float(value: object) -> object:
    if isinstance(value, float | bool):
        raise ValueError(f"{value!r}: give quantities as int or Decimal, never float or bool")
    return value


WireAmount = Annotated[
    int, BeforeValidator(from_wire_amount), PlainSerializer(to_wire_amount, return_type=Decimal)
]
"""An amount read from the ERP: minor units in Python, the wire's decimal when dumped."""
Amount = Annotated[StrictInt, PlainSerializer(to_wire_amount, return_type=Decimal)]
"""An amount we send: minor units in, the wire's decimal out."""
Quantity = Annotated[Decimal, BeforeValidator(_not_a_float)]


# -- records the ERP returns ----------------------------------------------------------------
class ErpSalesDocumentLine(ODataEntity):
    """A line of a sales invoice or credit memo; amounts in minor units."""

    documentId: str | None = None
    sequence: int | None = None
    itemId: str | None = None
    accountId: str | None = None
    lineType: str | None = None
    lineObjectNumber: str | None = None
    description: str | None = None
    quantity: Decimal | None = None
    unitPrice: WireAmount | None = None
    taxCode: str | None = None
    amountExcludingTax: WireAmount | None = None
    totalTaxAmount: WireAmount | None = None
    amountIncludingTax: WireAmount | None = None


class _ErpSalesDocument(ODataEntity):
    number: str | None = None
    externalDocumentNumber: str | None = None
    postingDate: date | None = None
    dueDate: date | None = None
    customerId: str | None = None
    customerNumber: str | None = None
    currencyCode: str | None = None
    totalAmountExcludingTax: WireAmount | None = None
    totalTaxAmount: WireAmount | None = None
    totalAmountIncludingTax: WireAmount | None = None
    status: str | None = None


class ErpSalesInvoice(_ErpSalesDocument):
    """A sales invoice; ``status`` Draft until posted, then Open, then Paid."""

    invoiceDate: date | None = None
    remainingAmount: WireAmount | None = None
    salesInvoiceLines: list[ErpSalesDocumentLine] | None = None


class ErpSalesCreditMemo(_ErpSalesDocument):
    """A sales credit memo, applied on posting to the invoice it names."""

    creditMemoDate: date | None = None
    invoiceId: str | None = None
    invoiceNumber: str | None = None
    salesCreditMemoLines: list[ErpSalesDocumentLine] | None = None


class ErpCustomerPaymentJournal(ODataEntity):
    code: str
    displayName: str | None = None
    balancingAccountId: str | None = None
    balancingAccountNumber: str | None = None


class ErpCustomerPayment(ODataEntity):
    """A cash receipt: a line of a customer payment journal until the journal is posted."""

    journalId: str | None = None
    journalDisplayName: str | None = None
    lineNumber: int | None = None
    customerId: str | None = None
    customerNumber: str | None = None
    postingDate: date | None = None
    documentNumber: str | None = None
    externalDocumentNumber: str | None = None
    amount: WireAmount | None = None
    appliesToInvoiceId: str | None = None
    appliesToInvoiceNumber: str | None = None
    description: str | None = None
    comment: str | None = None


class ErpGeneralLedgerEntry(ODataEntity):
    """A posted G/L entry (read-only). Posting a payment debits the bank account and credits
    receivables under the payment's ``documentNumber`` with ``documentType`` 'Payment'."""

    entryNumber: int
    postingDate: date | None = None
    documentNumber: str = ""
    documentType: str = ""
    accountId: str | None = None
    accountNumber: str | None = None
    description: str | None = None
    debitAmount: WireAmount = 0
    creditAmount: WireAmount = 0


class ErpPaymentRecord(BaseModel):
    """A customer payment as the ERP holds it: a journal line until posted, G/L entries after.

    Posting removes the journal line, so a posted payment is known only by its entries.
    """

    model_config = ConfigDict(frozen=True)

    external_document_number: str
    document_number: str
    posted: bool
    amount: int  # minor units received
    posting_date: date | None
    journal_line: ErpCustomerPayment | None = None
    ledger_entries: tuple[ErpGeneralLedgerEntry, ...] = ()


def payment_document_number(external_document_number: str) -> str:
    """The ``documentNumber`` (Code[20], so upper case) a payment is created and posted under.

    It is a function of the external number because the G/L entries a posted payment leaves
    carry only the document number (API v2.0 ``generalLedgerEntries`` has no external one).
    A billing id such as ``pi_3Q...`` (27 characters) keeps its last 20, its random part.
    """
    return external_document_number[-20:].upper()


# -- what we send ---------------------------------------------------------------------------
class _WriteModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def wire(self) -> dict[str, Any]:
        """The request body: amounts as decimals, unset fields left to the ERP's defaults."""
        return self.model_dump(exclude_none=True)


class SalesLineFields(_WriteModel):
    """A line of a sales invoice or credit memo to create. ``lineObjectNumber`` is the item
    number (``lineType`` Item) or the G/L account number (Account); ``unitPrice`` is in minor
    units, left out to take the item's own price."""

    lineType: Literal["Item", "Account", "Comment"] = "Item"
    lineObjectNumber: str | None = Field(default=None, max_length=20)
    description: str | None = Field(default=None, max_length=100)
    quantity: Quantity | None = None
    unitPrice: Amount | None = None
    taxCode: str | None = Field(default=None, max_length=20)
    sequence: StrictInt | None = None


class _CustomerNamed(_WriteModel):
    customerId: str | None = None
    customerNumber: str | None = Field(default=None, max_length=20)

    @model_validator(mode="after")
    def _names_a_customer(self) -> Self:
        if not (self.customerId or self.customerNumber):
            raise ValueError("name the customer by customerId or customerNumber")
        return self


class _SalesDocumentFields(_CustomerNamed):
    externalDocumentNumber: str = Field(min_length=1, max_length=35)
    postingDate: date | None = None
    dueDate: date | None = None
    currencyCode: str | None = Field(default=None, max_length=10)
    paymentTermsId: str | None = None
    pricesIncludeTax: bool | None = None
    shortcutDimension1Code: str | None = Field(default=None, max_length=20)
    shortcutDimension2Code: str | None = Field(default=None, max_length=20)


class SalesInvoiceFields(_SalesDocumentFields):
    """The header of a sales invoice to create; ``externalDocumentNumber`` is the billing id."""

    invoiceDate: date | None = None


class SalesCreditMemoFields(_SalesDocumentFields):
    """The header of a sales credit memo; ``invoiceId``/``invoiceNumber`` name the posted
    invoice it reverses (posting applies it to that invoice's remaining amount)."""

    creditMemoDate: date | None = None
    invoiceId: str | None = None
    invoiceNumber: str | None = Field(default=None, max_length=20)


class CustomerPaymentFields(_CustomerNamed):
    """A cash receipt to enter in a payment journal; ``amount`` in minor units, received."""

    externalDocumentNumber: str = Field(min_length=1, max_length=35)
    documentNumber: str | None = Field(default=None, max_length=20)
    postingDate: date | None = None
    amount: Amount = Field(gt=0)
    appliesToInvoiceId: str | None = None
    appliesToInvoiceNumber: str | None = Field(default=None, max_length=20)
    description: str | None = Field(default=None, max_length=100)
    comment: str | None = Field(default=None, max_length=250)


Fields = TypeVar("Fields", bound=_WriteModel)


def _as_fields(model: type[Fields], given: Fields | Mapping[str, Any]) -> Fields:
    return given if isinstance(given, model) else model.model_validate(dict(given))


@dataclass(frozen=True)
class _DocumentSet:
    """What differs between the sales invoice and the sales credit memo endpoints."""

    name: str  # the entity set, e.g. salesInvoices
    lines: str  # its contained lines, e.g. salesInvoiceLines


class ErpTaxGroup(ODataEntity):
    code: str
    displayName: str | None = None


class ErpAccount(ODataEntity):
    number: str
    displayName: str | None = None
    category: str | None = None


class ErpAccountingPeriod(ODataEntity):
    startingDate: str
    name: str | None = None
    closed: bool | None = None


class ErpPaymentTerm(ODataEntity):
    code: str
    displayName: str | None = None
    dueDateCalculation: str | None = None


class ErpDimension(ODataEntity):
    code: str
    displayName: str | None = None


class ErpDimensionValue(ODataEntity):
    code: str
    dimensionId: str
    displayName: str | None = None


class ErpItem(ODataEntity):
    number: str
    displayName: str | None = None
    type: str | None = None
    blocked: bool | None = None
    unitPrice: WireAmount | None = None
    taxGroupCode: str | None = None
    baseUnitOfMeasureCode: str | None = None


class ErpCurrency(ODataEntity):
    code: str
    displayName: str | None = None
    symbol: str | None = None
    amountDecimalPlaces: str | None = None


# -- ship-to addresses (companion extension API) -------------------------------------------------
class ErpShipToAddress(ODataEntity):
    """One of a customer's ship-to addresses (table 222; ``state`` is BC's County), unique by
    (``customerNumber``, ``code``)."""

    customerNumber: str
    code: str
    name: str | None = None
    addressLine1: str | None = None
    addressLine2: str | None = None
    city: str | None = None
    state: str | None = None
    country: str | None = None
    postalCode: str | None = None
    email: str | None = None
    phoneNumber: str | None = None


class ShipToAddressFields(_WriteModel):
    """A ship-to address to create; lengths are table 222's."""

    customerNumber: str = Field(min_length=1, max_length=20)
    code: str = Field(min_length=1, max_length=10)
    name: str | None = Field(default=None, max_length=100)
    addressLine1: str | None = Field(default=None, max_length=100)
    addressLine2: str | None = Field(default=None, max_length=50)
    city: str | None = Field(default=None, max_length=30)
    state: str | None = Field(default=None, max_length=30)
    country: str | None = Field(default=None, max_length=10)
    postalCode: str | None = Field(default=None, max_length=20)
    email: str | None = Field(default=None, max_length=80)
    phoneNumber: str | None = Field(default=None, max_length=30)


class BusinessCentralDialect:
    system = "erp"

    def parse_error(self, response: httpx.Response) -> VendorError:
        return parse_error_envelope(response)

    def retry_decision(self, response: httpx.Response) -> bool | None:
        return None

    def throttle_seconds(self, response: httpx.Response) -> float:
        return 0.0

    def is_precondition_failure(self, response: httpx.Response, error: VendorError) -> bool:
        # OData says 412; Business Central is reported to answer 409 Request_EntityChanged.
        return response.status_code == 412 or (
            response.status_code == 409 and (error.code or "").endswith("EntityChanged")
        )

    def is_idempotency_conflict(self, response: httpx.Response, error: VendorError) -> bool:
        return False


class ErpResource(SystemApiResource):
    """Business Central-shaped ERP API. ``base_url`` is the part before ``/api/v2.0``."""

    base_url: str = Field(
        description="e.g. https://api.businesscentral.dynamics.com/v2.0/"
        "<tenant>/<environment> or the sandbox URL"
    )
    access_token: str = Field(description="OAuth bearer token")

    def _dialect(self) -> BusinessCentralDialect:
        return BusinessCentralDialect()

    def _auth_headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.access_token}",
            "Prefer": f"odata.maxpagesize={self.page_size}",
            "Accept": "application/json",
        }

    # -- generic ----------------------------------------------------------------------------
    def _collection(
        self, path: str, model: type[Record], *, api: str = STANDARD_API, **options: str
    ) -> Iterator[Record]:
        params = {f"${k}": v for k, v in options.items() if v}
        first = PageRequest("GET", f"/api/{api}/{path}", params=params)
        for raw in self.api.paginate(first, ODataNextLinkPaginator()):
            yield self._validate(model, raw)

    def _entity(self, path: str, model: type[Record], **options: str) -> Record:
        params = {f"${k}": v for k, v in options.items() if v}
        return self._validate(model, self.api.get_json(f"/api/v2.0/{path}", params=params))

    def _first(self, path: str, model: type[Record], filter: str) -> Record | None:
        for record in self._collection(path, model, filter=filter, top="1"):
            return record
        return None

    def _find_many(
        self, path: str, model: type[Record], external_document_numbers: Sequence[str]
    ) -> dict[str, Record]:
        """External number → the first record carrying it. Matched without regard to case:
        Business Central keeps externalDocumentNumber as Code[35], upper case."""
        wanted = {n.upper(): n for n in external_document_numbers}
        found: dict[str, Record] = {}
        for flt in self._any_of(path, "externalDocumentNumber", external_document_numbers):
            for record in self._collection(path, model, filter=flt):
                number = wanted.get(str(getattr(record, "externalDocumentNumber", "")).upper())
                if number is not None:
                    found.setdefault(number, record)
        return found

    def _any_of(
        self, path: str, field: str, values: Sequence[str], *, also: str = ""
    ) -> Iterator[str]:
        """``field eq 'a' or field eq 'b' ...`` filters (``and``-ed with ``also``), each
        keeping its request URL under ``MAX_URL_LENGTH``. Business Central takes ``in (...)``
        only with ``$schemaversion=2.1``, and ``or`` only between conditions on one field."""
        url = f"{self.base_url.rstrip('/')}/api/v2.0/{path}"
        clauses: list[str] = []
        for value in dict.fromkeys(values):
            clause = f"{field} eq {_odata_string(value)}"
            if clauses and _url_length(url, _filter_text([*clauses, clause], also)) > (
                MAX_URL_LENGTH - _PAGING_ROOM
            ):
                yield _filter_text(clauses, also)
                clauses = []
            clauses.append(clause)
        if clauses:
            yield _filter_text(clauses, also)

    def _write(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        api: str = STANDARD_API,
    ) -> httpx.Response:
        """A write. Business Central's refusals (``Application_*`` codes: an AL error such
        as a closed period) become ``BusinessRuleViolation`` with the ERP's message."""
        send = dict(headers or {})
        content = None
        if body is not None:
            content = _json_body(body)
            send["Content-Type"] = "application/json"
        try:
            return self.api.request(
                method, f"/api/{api}/{path}", params=params, content=content, headers=send
            )
        except PermanentError as exc:
            if type(exc) is not PermanentError or not (exc.code or "").startswith("Application_"):
                raise
            raise BusinessRuleViolation(
                exc.system,
                exc.message,
                status=exc.status,
                code=exc.code,
                request_id=exc.request_id,
                method=exc.method,
                url=exc.url,
                attempts=exc.attempts,
            ) from exc

    def _get_document(
        self,
        company_id: str,
        documents: _DocumentSet,
        document_id: str,
        model: type[Record],
        with_lines: bool,
    ) -> Record:
        path = f"companies({company_id})/{documents.name}({document_id})"
        return self._entity(path, model, expand=documents.lines if with_lines else "")

    def _create_document(
        self,
        company_id: str,
        documents: _DocumentSet,
        header: _WriteModel,
        lines: Sequence[SalesLineFields | Mapping[str, Any]],
        model: type[Record],
    ) -> Record:
        body = {
            **header.wire(),
            documents.lines: [_as_fields(SalesLineFields, line).wire() for line in lines],
        }
        response = self._write(
            "POST",
            f"companies({company_id})/{documents.name}",
            body=body,
            params={"$expand": documents.lines},
        )
        return self._validate(model, self.api.decode(response))

    def _post_action(self, path: str) -> None:
        self._write("POST", f"{path}/Microsoft.NAV.post")

    def _delete(self, path: str, record: ODataEntity) -> None:
        if not record.etag:
            raise ValueError(f"{path} was read without an ETag")
        self._write("DELETE", path, headers={"If-Match": record.etag})

    # -- companies --------------------------------------------------------------------------
    def list_companies(self) -> list[ErpCompany]:
        return list(self._collection("companies", ErpCompany))

    # -- customers --------------------------------------------------------------------------
    def list_customers(
        self,
        company_id: str,
        *,
        modified_since: datetime | None = None,
        with_default_dimensions: bool = False,
    ) -> Iterator[ErpCustomer]:
        """``with_default_dimensions`` reads each customer's default dimensions (its parent
        account among them) in the same paged request."""
        flt = f"lastModifiedDateTime gt {_odata_datetime(modified_since)}" if modified_since else ""
        return self._collection(
            f"companies({company_id})/customers",
            ErpCustomer,
            filter=flt,
            expand="defaultDimensions" if with_default_dimensions else "",
        )

    def get_customer(self, company_id: str, customer_id: str) -> ErpCustomer:
        return self._entity(f"companies({company_id})/customers({customer_id})", ErpCustomer)

    def find_customer_by_number(self, company_id: str, number: str) -> ErpCustomer | None:
        return self._first(
            f"companies({company_id})/customers", ErpCustomer, f"number eq {_odata_string(number)}"
        )

    def create_customer(self, company_id: str, fields: Mapping[str, Any]) -> ErpCustomer:
        """Create a customer. The caller must have looked it up by number first: a create
        that fails ambiguously is not repeated (``UnsafeToRetry``)."""
        response = self.api.request(
            "POST", f"/api/v2.0/companies({company_id})/customers", json=dict(fields)
        )
        return self._validate(ErpCustomer, self.api.decode(response))

    def update_customer(
        self, company_id: str, customer: ErpCustomer, changes: Mapping[str, Any]
    ) -> ErpCustomer:
        """PATCH guarded by the ETag we read; ``PreconditionFailed`` if it changed since."""
        if not customer.etag:
            raise ValueError(f"customer {customer.number} was read without an ETag")
        response = self.api.request(
            "PATCH",
            f"/api/v2.0/companies({company_id})/customers({customer.id})",
            json=dict(changes),
            headers={"If-Match": customer.etag},
        )
        return self._validate(ErpCustomer, self.api.decode(response))

    def list_customer_default_dimensions(
        self, company_id: str, customer_id: str
    ) -> list[ErpDefaultDimension]:
        path = _default_dimensions_path(company_id, customer_id)
        return list(self._collection(path, ErpDefaultDimension))

    def create_customer_default_dimension(
        self, company_id: str, customer_id: str, fields: Mapping[str, Any]
    ) -> ErpDefaultDimension:
        """``fields`` name the dimension and value by id (BC ignores codes here). The caller
        reads the customer's default dimensions first: BC refuses a second one per dimension."""
        path = _default_dimensions_path(company_id, customer_id)
        response = self._write("POST", path, body=fields)
        return self._validate(ErpDefaultDimension, self.api.decode(response))

    def update_customer_default_dimension(
        self,
        company_id: str,
        customer_id: str,
        dimension: ErpDefaultDimension,
        changes: Mapping[str, Any],
    ) -> ErpDefaultDimension:
        """PATCH guarded by the ETag we read; ``PreconditionFailed`` if it changed since."""
        path = f"{_default_dimensions_path(company_id, customer_id)}({dimension.id})"
        if not dimension.etag:
            raise ValueError(f"{path} was read without an ETag")
        response = self._write("PATCH", path, body=changes, headers={"If-Match": dimension.etag})
        return self._validate(ErpDefaultDimension, self.api.decode(response))

    def delete_customer_default_dimension(
        self, company_id: str, customer_id: str, dimension: ErpDefaultDimension
    ) -> None:
        """DELETE guarded by the ETag we read; ``PreconditionFailed`` if it changed since."""
        path = f"{_default_dimensions_path(company_id, customer_id)}({dimension.id})"
        self._delete(path, dimension)

    # -- sales invoices ---------------------------------------------------------------------
    def list_sales_invoices(
        self,
        company_id: str,
        *,
        modified_since: datetime | None = None,
        with_lines: bool = False,
        posting_date: date | None = None,
    ) -> Iterator[ErpSalesInvoice]:
        flt = f"lastModifiedDateTime gt {_odata_datetime(modified_since)}" if modified_since else ""
        return self._collection(
            f"companies({company_id})/salesInvoices",
            ErpSalesInvoice,
            filter=_filter_text([_posting_date(posting_date)], flt) if posting_date else flt,
            expand="salesInvoiceLines" if with_lines else "",
        )

    def get_sales_invoice(
        self, company_id: str, invoice_id: str, *, with_lines: bool = False
    ) -> ErpSalesInvoice:
        return self._get_document(company_id, _INVOICES, invoice_id, ErpSalesInvoice, with_lines)

    def find_sales_invoice(
        self, company_id: str, external_document_number: str
    ) -> ErpSalesInvoice | None:
        """Search-before-create: the invoice we made for this source document, if any."""
        return self._first(
            f"companies({company_id})/salesInvoices",
            ErpSalesInvoice,
            f"externalDocumentNumber eq {_odata_string(external_document_number)}",
        )

    def find_sales_invoices(
        self, company_id: str, external_document_numbers: Sequence[str]
    ) -> dict[str, ErpSalesInvoice]:
        """Search-before-create for many: external number → invoice, for those that exist
        (the oldest one if the ERP holds several), in a few requests."""
        return self._find_many(
            f"companies({company_id})/salesInvoices", ErpSalesInvoice, external_document_numbers
        )

    def create_sales_invoice(
        self,
        company_id: str,
        fields: SalesInvoiceFields | Mapping[str, Any],
        lines: Sequence[SalesLineFields | Mapping[str, Any]],
    ) -> ErpSalesInvoice:
        """Create a draft invoice with its lines in one request (a deep insert, which Business
        Central applies all or nothing). Not retried on an ambiguous failure
        (``UnsafeToRetry``): look it up with ``find_sales_invoice`` before creating again."""
        header = _as_fields(SalesInvoiceFields, fields)
        return self._create_document(company_id, _INVOICES, header, lines, ErpSalesInvoice)

    def post_sales_invoice(self, company_id: str, invoice_id: str) -> None:
        """Run the bound ``Microsoft.NAV.post`` action (204). Posting twice is refused by the
        ERP, so an ambiguous failure is settled by reading the invoice's status. A refusal
        (closed period, unknown tax group) raises ``BusinessRuleViolation``."""
        self._post_action(f"companies({company_id})/salesInvoices({invoice_id})")

    def delete_sales_invoice(self, company_id: str, invoice: ErpSalesInvoice) -> None:
        """Delete a draft invoice, guarded by the ETag we read (a posted one cannot be)."""
        self._delete(f"companies({company_id})/salesInvoices({invoice.id})", invoice)

    # -- sales credit memos -----------------------------------------------------------------
    def list_sales_credit_memos(
        self, company_id: str, *, posting_date: date | None = None
    ) -> Iterator[ErpSalesCreditMemo]:
        return self._collection(
            f"companies({company_id})/salesCreditMemos",
            ErpSalesCreditMemo,
            filter=_posting_date(posting_date) if posting_date else "",
        )

    def credit_memos_naming(
        self, company_id: str, invoices: Mapping[str, str]
    ) -> dict[str, list[ErpSalesCreditMemo]]:
        """Posted invoice id → the credit memos (drafts too) that name it as the invoice they
        reverse, whoever made them; ``invoices``: id → number. Filtered on ``invoiceNumber``
        (the Applies-to Doc. No. field; ``invoiceId`` is not a field BC filters on), matched
        on either."""
        path = f"companies({company_id})/salesCreditMemos"
        # A blank number would match every credit memo applied to no invoice.
        numbered = {invoice_id: number for invoice_id, number in invoices.items() if number}
        by_number = {number.upper(): invoice_id for invoice_id, number in numbered.items()}
        by_id = {invoice_id.lower(): invoice_id for invoice_id in numbered}
        found: dict[str, list[ErpSalesCreditMemo]] = {}
        for flt in self._any_of(path, "invoiceNumber", list(numbered.values())):
            for memo in self._collection(path, ErpSalesCreditMemo, filter=flt):
                invoice_id = by_id.get((memo.invoiceId or "").lower()) or by_number.get(
                    (memo.invoiceNumber or "").upper()
                )
                if invoice_id is not None:
                    found.setdefault(invoice_id, []).append(memo)
        return found

    def get_sales_credit_memo(
        self, company_id: str, credit_memo_id: str, *, with_lines: bool = False
    ) -> ErpSalesCreditMemo:
        return self._get_document(
            company_id, _CREDIT_MEMOS, credit_memo_id, ErpSalesCreditMemo, with_lines
        )

    def find_sales_credit_memo(
        self, company_id: str, external_document_number: str
    ) -> ErpSalesCreditMemo | None:
        return self._first(
            f"companies({company_id})/salesCreditMemos",
            ErpSalesCreditMemo,
            f"externalDocumentNumber eq {_odata_string(external_document_number)}",
        )

    def find_sales_credit_memos(
        self, company_id: str, external_document_numbers: Sequence[str]
    ) -> dict[str, ErpSalesCreditMemo]:
        return self._find_many(
            f"companies({company_id})/salesCreditMemos",
            ErpSalesCreditMemo,
            external_document_numbers,
        )

    def create_sales_credit_memo(
        self,
        company_id: str,
        fields: SalesCreditMemoFields | Mapping[str, Any],
        lines: Sequence[SalesLineFields | Mapping[str, Any]],
    ) -> ErpSalesCreditMemo:
        """Create a draft credit memo with its lines in one request (see
        ``create_sales_invoice``); ``invoiceId``/``invoiceNumber`` name the invoice it reverses."""
        header = _as_fields(SalesCreditMemoFields, fields)
        return self._create_document(company_id, _CREDIT_MEMOS, header, lines, ErpSalesCreditMemo)

    def post_sales_credit_memo(self, company_id: str, credit_memo_id: str) -> None:
        """Post (``Microsoft.NAV.post``); the amount is applied to the named invoice."""
        self._post_action(f"companies({company_id})/salesCreditMemos({credit_memo_id})")

    def delete_sales_credit_memo(self, company_id: str, credit_memo: ErpSalesCreditMemo) -> None:
        self._delete(f"companies({company_id})/salesCreditMemos({credit_memo.id})", credit_memo)

    # -- customer payments (cash receipts) --------------------------------------------------
    def payment_journal(self, company_id: str, code: str = "GENERAL") -> ErpCustomerPaymentJournal:
        journal = self._first(
            f"companies({company_id})/customerPaymentJournals",
            ErpCustomerPaymentJournal,
            f"code eq {_odata_string(code.upper())}",
        )
        if journal is None:
            raise NotFound("erp", f"no customer payment journal {code!r} in company {company_id}")
        return journal

    def list_customer_payments(self, company_id: str) -> Iterator[ErpCustomerPayment]:
        """The unposted payment lines of every journal (posting removes them)."""
        return self._collection(f"companies({company_id})/customerPayments", ErpCustomerPayment)

    def create_customer_payment(
        self, company_id: str, journal_id: str, fields: CustomerPaymentFields | Mapping[str, Any]
    ) -> ErpCustomerPayment:
        """Enter a payment line in the journal. Its ``documentNumber`` is always
        ``payment_document_number(externalDocumentNumber)``, so that the payment can still be
        found once posted; a different one is refused (``ValueError``). Not retried on an
        ambiguous failure: look it up with ``find_customer_payment`` first."""
        payment = _as_fields(CustomerPaymentFields, fields)
        number = payment_document_number(payment.externalDocumentNumber)
        if payment.documentNumber is not None and payment.documentNumber.upper() != number:
            raise ValueError(
                f"documentNumber {payment.documentNumber!r} of payment "
                f"{payment.externalDocumentNumber} must be {number!r}: a posted payment is "
                "found by the document number derived from its external number"
            )
        response = self._write(
            "POST",
            f"companies({company_id})/customerPaymentJournals({journal_id})/customerPayments",
            body={**payment.wire(), "documentNumber": number},
        )
        return self._validate(ErpCustomerPayment, self.api.decode(response))

    def delete_customer_payment(
        self, company_id: str, journal_id: str, payment: ErpCustomerPayment
    ) -> None:
        """Remove an unposted payment line (with its ETag), e.g. one the ERP refused to post."""
        self._delete(
            f"companies({company_id})/customerPaymentJournals({journal_id})"
            f"/customerPayments({payment.id})",
            payment,
        )

    def create_customer_payment_journal(
        self, company_id: str, code: str, display_name: str
    ) -> ErpCustomerPaymentJournal:
        """A payment journal (batch) of our own, so posting it never posts other people's
        lines; its balancing account is the ERP's default bank account."""
        response = self._write(
            "POST",
            f"companies({company_id})/customerPaymentJournals",
            body={"code": code.upper(), "displayName": display_name},
        )
        return self._validate(ErpCustomerPaymentJournal, self.api.decode(response))

    def post_customer_payment_journal(self, company_id: str, journal_id: str) -> None:
        """Post every line of the journal, including lines other runs entered (the journal is
        shared). Refused (``BusinessRuleViolation``) when the journal is empty or a line
        cannot be posted; nothing is posted then."""
        self._post_action(f"companies({company_id})/customerPaymentJournals({journal_id})")

    def find_customer_payment(
        self, company_id: str, external_document_number: str
    ) -> ErpPaymentRecord | None:
        """Search-before-create for a payment, whether still a journal line or posted."""
        found = self.find_customer_payments(company_id, [external_document_number])
        return found.get(external_document_number)

    def find_customer_payments(
        self, company_id: str, external_document_numbers: Sequence[str]
    ) -> dict[str, ErpPaymentRecord]:
        """External number → payment, for those the ERP holds, in a few requests.

        Journal lines are read before G/L entries: a payment posted in between has left the
        journal by the time its entries are read, so it is never missed.
        """
        found: dict[str, ErpPaymentRecord] = {}
        lines = self._find_many(
            f"companies({company_id})/customerPayments",
            ErpCustomerPayment,
            external_document_numbers,
        )
        for number, line in lines.items():
            found[number] = ErpPaymentRecord(
                external_document_number=number,
                document_number=line.documentNumber or "",
                posted=False,
                amount=line.amount or 0,
                posting_date=line.postingDate,
                journal_line=line,
            )
        by_document = {
            payment_document_number(n): n for n in external_document_numbers if n not in found
        }
        entries: dict[str, list[ErpGeneralLedgerEntry]] = {}
        for entry in self.list_general_ledger_entries(
            company_id, document_type="Payment", document_numbers=list(by_document)
        ):
            entries.setdefault(entry.documentNumber, []).append(entry)
        for document_number, posted in entries.items():
            external = by_document.get(document_number.upper())
            if external is None:
                continue
            found[external] = ErpPaymentRecord(
                external_document_number=external,
                document_number=document_number,
                posted=True,
                amount=sum(e.debitAmount for e in posted),  # the bank's debit side
                posting_date=posted[0].postingDate,
                ledger_entries=tuple(posted),
            )
        return found

    # -- general ledger ---------------------------------------------------------------------
    def list_general_ledger_entries(
        self,
        company_id: str,
        *,
        document_type: str | None = None,
        document_numbers: Sequence[str] = (),
        posting_date: date | None = None,
    ) -> Iterator[ErpGeneralLedgerEntry]:
        """Posted G/L entries, optionally of one document type, some document numbers and
        one posting date."""
        path = f"companies({company_id})/generalLedgerEntries"
        conditions = [
            f"documentType eq {_odata_string(document_type)}" if document_type else "",
            _posting_date(posting_date) if posting_date else "",
        ]
        kind = " and ".join(c for c in conditions if c)
        if not document_numbers:
            yield from self._collection(path, ErpGeneralLedgerEntry, filter=kind)
            return
        for chunk in self._any_of(path, "documentNumber", document_numbers, also=kind):
            yield from self._collection(path, ErpGeneralLedgerEntry, filter=chunk)

    # -- reference data ---------------------------------------------------------------------
    def list_tax_groups(self, company_id: str) -> list[ErpTaxGroup]:
        return list(self._collection(f"companies({company_id})/taxGroups", ErpTaxGroup))

    def list_accounts(self, company_id: str) -> list[ErpAccount]:
        return list(self._collection(f"companies({company_id})/accounts", ErpAccount))

    def list_accounting_periods(self, company_id: str) -> list[ErpAccountingPeriod]:
        return list(
            self._collection(f"companies({company_id})/accountingPeriods", ErpAccountingPeriod)
        )

    def list_payment_terms(self, company_id: str) -> list[ErpPaymentTerm]:
        return list(self._collection(f"companies({company_id})/paymentTerms", ErpPaymentTerm))

    def list_dimensions(self, company_id: str) -> list[ErpDimension]:
        return list(self._collection(f"companies({company_id})/dimensions", ErpDimension))

    def find_dimension(self, company_id: str, code: str) -> ErpDimension | None:
        return self._first(
            f"companies({company_id})/dimensions", ErpDimension, f"code eq {_odata_string(code)}"
        )

    def list_dimension_values(
        self, company_id: str, dimension_code: str
    ) -> list[ErpDimensionValue]:
        """The values of the dimension with this code; none if the ERP has no such dimension."""
        dimension = self.find_dimension(company_id, dimension_code)
        if dimension is None:
            return []
        path = f"companies({company_id})/dimensions({dimension.id})/dimensionValues"
        return list(self._collection(path, ErpDimensionValue))

    def find_dimension_value(
        self, company_id: str, dimension_code: str, value_code: str
    ) -> ErpDimensionValue | None:
        """A value by its code. BC's API cannot create one: finance maintains them."""
        dimension = self.find_dimension(company_id, dimension_code)
        if dimension is None:
            return None
        path = f"companies({company_id})/dimensions({dimension.id})/dimensionValues"
        return self._first(path, ErpDimensionValue, f"code eq {_odata_string(value_code)}")

    def list_items(self, company_id: str) -> list[ErpItem]:
        return list(self._collection(f"companies({company_id})/items", ErpItem))

    def list_currencies(self, company_id: str) -> list[ErpCurrency]:
        return list(self._collection(f"companies({company_id})/currencies", ErpCurrency))

    def company_for_region(self, region: str) -> ErpCompany:
        """The ERP company whose name ends with the region code (``CRONUS EMEA`` → emea)."""
        for company in self.list_companies():
            if company.name.strip().lower().endswith(region.lower()):
                return company
        raise NotFound("erp", f"no ERP company for region {region!r}")

    # -- ship-to addresses (companion extension API) ----------------------------------------
    def list_ship_to_addresses(
        self, company_id: str, customer_number: str | None = None
    ) -> list[ErpShipToAddress]:
        """The ship-to addresses of one customer, or of every customer of the company."""
        flt = f"customerNumber eq {_odata_string(customer_number)}" if customer_number else ""
        path = f"companies({company_id})/shipToAddresses"
        try:
            return list(self._collection(path, ErpShipToAddress, api=COMPANION_API, filter=flt))
        except NotFound as exc:
            raise NotFound(
                "erp",
                f"no ship-to API at /api/{COMPANION_API} for company {company_id}: install the "
                f"sync-platform companion extension in Business Central ({exc.message})",
            ) from exc

    def create_ship_to_address(
        self, company_id: str, fields: ShipToAddressFields | Mapping[str, Any]
    ) -> ErpShipToAddress:
        """Create a ship-to address. Not retried on an ambiguous failure (``UnsafeToRetry``):
        look for its (customer number, code) with ``list_ship_to_addresses`` first. A second
        one with the same key, or one for an unknown customer, is refused (``PermanentError``)."""
        body = _as_fields(ShipToAddressFields, fields).wire()
        path = f"companies({company_id})/shipToAddresses"
        response = self._write("POST", path, body=body, api=COMPANION_API)
        return self._validate(ErpShipToAddress, self.api.decode(response))

    def update_ship_to_address(
        self, company_id: str, address: ErpShipToAddress, changes: Mapping[str, Any]
    ) -> ErpShipToAddress:
        """PATCH guarded by the ETag we read; ``PreconditionFailed`` if it changed since."""
        path = f"companies({company_id})/shipToAddresses({address.id})"
        if not address.etag:
            raise ValueError(f"{path} was read without an ETag")
        response = self._write(
            "PATCH", path, body=changes, headers={"If-Match": address.etag}, api=COMPANION_API
        )
        return self._validate(ErpShipToAddress, self.api.decode(response))


_INVOICES = _DocumentSet("salesInvoices", "salesInvoiceLines")
_CREDIT_MEMOS = _DocumentSet("salesCreditMemos", "salesCreditMemoLines")
MAX_URL_LENGTH = 2_000  # what proxies and Business Central reliably accept
_PAGING_ROOM = 60  # what a next link adds ($skiptoken)


def _odata_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# Business Central's sales document statuses once posted ("Canceled": posted, then cancelled
# by a corrective credit memo, which itself shows "Corrective"); Draft and In Review are not.
POSTED_STATUSES = frozenset({"Open", "Paid", "Canceled", "Corrective"})


def is_posted(status: str | None) -> bool:
    return status in POSTED_STATUSES


def in_effect(status: str | None) -> bool:
    """Posted and not cancelled since (a cancelled document is undone by a corrective one)."""
    return is_posted(status) and status != "Canceled"


def document_currency(code: str | None, local_currency: str) -> str:
    """The ISO code of a sales document's currency: Business Central returns the company's
    own code for it, or a blank one where its General Ledger Setup names none."""
    return (code or local_currency).upper()


def _posting_date(day: date | None) -> str:
    return f"postingDate eq {day.isoformat()}" if day else ""


def _default_dimensions_path(company_id: str, customer_id: str) -> str:
    return f"companies({company_id})/customers({customer_id})/defaultDimensions"


def _filter_text(clauses: list[str], also: str) -> str:
    either = " or ".join(clauses)
    return f"{also} and ({either})" if also else either


def _url_length(url: str, flt: str) -> int:
    return len(str(httpx.URL(url, params={"$filter": flt})))


def _json_body(value: Any) -> bytes:
    """JSON with decimals written exactly as numbers (``json`` can only write floats)."""
    return _json_text(value).encode()


def _json_text(value: Any) -> str:
    if isinstance(value, Mapping):
        items = (f"{json.dumps(str(k))}:{_json_text(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_json_text(v) for v in value) + "]"
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a number")
        return format(value, "f")
    if isinstance(value, date):
        return json.dumps(value.isoformat())
    if isinstance(value, float):
        raise TypeError(f"{value!r}: amounts and quantities are sent as Decimal, never float")
    return json.dumps(value, ensure_ascii=False)


def _odata_datetime(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        raise ValueError("OData datetimes must be timezone-aware")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
