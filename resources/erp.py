"""ERP system API: Business Central API v2.0 (OData v4, ``@odata.nextLink``, ETags)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field

from resources.base import SystemApiResource
from resources.errors import NotFound
from resources.http import VendorError, parse_error_envelope
from resources.paginators import ODataNextLinkPaginator, PageRequest

Record = TypeVar("Record", bound="ODataEntity")


class ODataEntity(BaseModel):
    """An OData entity; ``etag`` is its ``@odata.etag`` for ``If-Match``."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    id: str
    etag: str | None = Field(default=None, alias="@odata.etag")
    lastModifiedDateTime: datetime | None = None


class ErpCompany(ODataEntity):
    name: str
    displayName: str | None = None


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


class ErpSalesInvoiceLine(ODataEntity):
    documentId: str | None = None
    sequence: int | None = None
    lineType: str | None = None
    lineObjectNumber: str | None = None
    description: str | None = None
    quantity: Decimal | None = None
    unitPrice: Decimal | None = None
    taxCode: str | None = None
    amountExcludingTax: Decimal | None = None
    totalTaxAmount: Decimal | None = None
    amountIncludingTax: Decimal | None = None


class ErpSalesInvoice(ODataEntity):
    number: str | None = None
    externalDocumentNumber: str | None = None
    invoiceDate: str | None = None
    postingDate: str | None = None
    customerId: str | None = None
    customerNumber: str | None = None
    currencyCode: str | None = None
    totalAmountExcludingTax: Decimal | None = None
    totalTaxAmount: Decimal | None = None
    totalAmountIncludingTax: Decimal | None = None
    remainingAmount: Decimal | None = None
    status: str | None = None
    salesInvoiceLines: list[ErpSalesInvoiceLine] | None = None


class ErpCustomerPayment(ODataEntity):
    customerId: str | None = None
    customerNumber: str | None = None
    postingDate: str | None = None
    documentNumber: str | None = None
    externalDocumentNumber: str | None = None
    amount: Decimal | None = None
    appliesToInvoiceId: str | None = None
    appliesToInvoiceNumber: str | None = None


class ErpSalesCreditMemo(ODataEntity):
    number: str | None = None
    externalDocumentNumber: str | None = None
    customerId: str | None = None
    customerNumber: str | None = None
    invoiceId: str | None = None
    invoiceNumber: str | None = None
    currencyCode: str | None = None
    totalAmountIncludingTax: Decimal | None = None
    status: str | None = None


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
    def _collection(self, path: str, model: type[Record], **options: str) -> Iterator[Record]:
        params = {f"${k}": v for k, v in options.items() if v}
        first = PageRequest("GET", f"/api/v2.0/{path}", params=params)
        for raw in self.api.paginate(first, ODataNextLinkPaginator()):
            yield self._validate(model, raw)

    def _entity(self, path: str, model: type[Record], **options: str) -> Record:
        params = {f"${k}": v for k, v in options.items() if v}
        return self._validate(model, self.api.get_json(f"/api/v2.0/{path}", params=params))

    def _first(self, path: str, model: type[Record], filter: str) -> Record | None:
        for record in self._collection(path, model, filter=filter, top="1"):
            return record
        return None

    # -- companies --------------------------------------------------------------------------
    def list_companies(self) -> list[ErpCompany]:
        return list(self._collection("companies", ErpCompany))

    # -- customers --------------------------------------------------------------------------
    def list_customers(
        self, company_id: str, *, modified_since: datetime | None = None
    ) -> Iterator[ErpCustomer]:
        flt = f"lastModifiedDateTime gt {_odata_datetime(modified_since)}" if modified_since else ""
        return self._collection(f"companies({company_id})/customers", ErpCustomer, filter=flt)

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

    # -- sales documents --------------------------------------------------------------------
    def list_sales_invoices(
        self, company_id: str, *, modified_since: datetime | None = None, with_lines: bool = False
    ) -> Iterator[ErpSalesInvoice]:
        flt = f"lastModifiedDateTime gt {_odata_datetime(modified_since)}" if modified_since else ""
        return self._collection(
            f"companies({company_id})/salesInvoices",
            ErpSalesInvoice,
            filter=flt,
            expand="salesInvoiceLines" if with_lines else "",
        )

    def find_sales_invoice(
        self, company_id: str, external_document_number: str
    ) -> ErpSalesInvoice | None:
        """Search-before-create: the invoice we made for this source document, if any."""
        return self._first(
            f"companies({company_id})/salesInvoices",
            ErpSalesInvoice,
            f"externalDocumentNumber eq {_odata_string(external_document_number)}",
        )

    def create_sales_invoice(self, company_id: str, fields: Mapping[str, Any]) -> ErpSalesInvoice:
        response = self.api.request(
            "POST", f"/api/v2.0/companies({company_id})/salesInvoices", json=dict(fields)
        )
        return self._validate(ErpSalesInvoice, self.api.decode(response))

    def post_sales_invoice(self, company_id: str, invoice_id: str) -> None:
        """Run the bound ``Microsoft.NAV.post`` action (204). Posting twice is refused by the
        ERP, so an ambiguous failure is settled by reading the invoice's status."""
        self.api.request(
            "POST",
            f"/api/v2.0/companies({company_id})/salesInvoices({invoice_id})/Microsoft.NAV.post",
        )

    def list_customer_payments(self, company_id: str) -> Iterator[ErpCustomerPayment]:
        return self._collection(f"companies({company_id})/customerPayments", ErpCustomerPayment)

    def list_sales_credit_memos(self, company_id: str) -> Iterator[ErpSalesCreditMemo]:
        return self._collection(f"companies({company_id})/salesCreditMemos", ErpSalesCreditMemo)

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

    def company_for_region(self, region: str) -> ErpCompany:
        """The ERP company whose name ends with the region code (``CRONUS EMEA`` → emea)."""
        for company in self.list_companies():
            if company.name.strip().lower().endswith(region.lower()):
                return company
        raise NotFound("erp", f"no ERP company for region {region!r}")


def _odata_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _odata_datetime(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        raise ValueError("OData datetimes must be timezone-aware")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
