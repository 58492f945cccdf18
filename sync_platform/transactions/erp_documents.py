"""Canonical documents as Business Central API v2.0 sales documents and payment lines.

Amounts stay integer minor units here; the ERP system API turns them into the wire's
decimals. ``externalDocumentNumber`` is always the billing id: it is how we find a document
we made before writing another one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sync_platform.transactions.mappings import PostingConfig
from sync_platform.transactions.model import (
    CanonicalCreditNote,
    CanonicalInvoice,
    CanonicalPayment,
    DocumentLine,
)
from sync_platform.transactions.validation import ErpCustomerRef

Fields = dict[str, Any]


@dataclass(frozen=True)
class ErpDocument:
    """One document to create: its header fields and lines (no lines for a payment)."""

    external_number: str
    header: Fields
    lines: tuple[Fields, ...] = ()


def _dimensions(config: PostingConfig, region: str) -> Fields:
    values = list(config.region(region).dimensions.values())
    names = ("shortcutDimension1Code", "shortcutDimension2Code")
    return dict(zip(names, values, strict=False))


def _line(line: DocumentLine, region: str, config: PostingConfig, sequence: int) -> Fields:
    target = config.line_target(line.product_id or "")
    if target is None:
        raise LookupError(f"product {line.product_id} has no ERP mapping")
    quantity, unit = line.quantity, line.unit_amount
    if quantity == 0 or quantity * unit != line.amount:
        # Discounts or prorations: post the line's net amount as one unit, so totals agree.
        quantity, unit = 1, line.amount
    return {
        "sequence": sequence * 10_000,
        "lineType": target.line_type,
        "lineObjectNumber": target.number,
        "description": line.description[:100],
        "quantity": quantity,
        "unitPrice": unit,
        "taxCode": (config.tax_group(line.tax_rate_id, region) or "") if line.tax_rate_id else "",
    }


def sales_invoice(
    invoice: CanonicalInvoice,
    customer: ErpCustomerRef,
    config: PostingConfig,
) -> ErpDocument:
    header: Fields = {
        "externalDocumentNumber": invoice.source_id,
        "invoiceDate": invoice.business_date.isoformat(),
        "postingDate": invoice.business_date.isoformat(),
        "customerNumber": customer.number,
        # Always the ISO code, the company's own included (the API stores that one as
        # blank): a blank code leaves the ERP to take the customer's currency, which books a
        # EUR invoice to a customer kept in GBP as GBP.
        "currencyCode": invoice.currency,
        **_dimensions(config, invoice.region),
    }
    if invoice.due_date is not None:
        header["dueDate"] = invoice.due_date.isoformat()
    lines = tuple(_line(line, invoice.region, config, i) for i, line in enumerate(invoice.lines, 1))
    return ErpDocument(invoice.source_id, header, lines)


def sales_credit_memo(
    note: CanonicalCreditNote,
    customer: ErpCustomerRef,
    invoice_erp_id: str,
    config: PostingConfig,
) -> ErpDocument:
    header: Fields = {
        "externalDocumentNumber": note.source_id,
        "creditMemoDate": note.business_date.isoformat(),
        "postingDate": note.business_date.isoformat(),
        "customerNumber": customer.number,
        "currencyCode": note.currency,
        "invoiceId": invoice_erp_id,
        **_dimensions(config, note.region),
    }
    lines = tuple(_line(line, note.region, config, i) for i, line in enumerate(note.lines, 1))
    return ErpDocument(note.source_id, header, lines)


def customer_payment(
    payment: CanonicalPayment,
    customer: ErpCustomerRef,
    invoice_erp_id: str | None,
) -> ErpDocument:
    header: Fields = {
        "customerNumber": customer.number,
        "postingDate": payment.business_date.isoformat(),
        # The ERP API derives the document number (Code[20]) from the external number.
        "externalDocumentNumber": payment.source_id,
        "amount": payment.amount,
        "description": f"Billing payment {payment.source_id}"[:100],
    }
    if invoice_erp_id:
        header["appliesToInvoiceId"] = invoice_erp_id
    return ErpDocument(payment.source_id, header)
