"""Hand-made canonical documents and an ERP reference for the pure posting tests."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sync_platform.transactions.model import (
    CanonicalCreditNote,
    CanonicalInvoice,
    CanonicalPayment,
    DocumentLine,
)
from sync_platform.transactions.validation import AccountingPeriod, ErpReference

TEAM = "prod_coAuZlnphzOa7Y"  # mapped to item TEAM in config/posting.yaml
DAY = date(2026, 10, 15)


def line(**overrides: Any) -> DocumentLine:
    values: dict[str, Any] = {
        "line_id": "il_1",
        "description": "2 x Team plan",
        "product_id": TEAM,
        "price_id": "price_1",
        "quantity": 2,
        "unit_amount": 19_900,
        "amount": 39_800,
        "tax_amount": 7_562,
        "tax_rate_id": "txr_DE19",
    }
    return DocumentLine(**{**values, **overrides})


def invoice(**overrides: Any) -> CanonicalInvoice:
    lines = overrides.pop("lines", (line(),))
    subtotal = sum(x.amount for x in lines)
    tax = sum(x.tax_amount for x in lines)
    values: dict[str, Any] = {
        "source_id": "in_1",
        "number": "INV-0001",
        "region": "emea",
        "billing_customer_id": "cus_1",
        "currency": "EUR",
        "business_date": DAY,
        "occurred_at": datetime(2026, 10, 15, 9, tzinfo=UTC),
        "status": "open",
        "lines": lines,
        "subtotal": subtotal,
        "tax": tax,
        "total": subtotal + tax,
    }
    return CanonicalInvoice(**{**values, **overrides})


def payment(**overrides: Any) -> CanonicalPayment:
    values: dict[str, Any] = {
        "source_id": "inpay_1",
        "region": "emea",
        "billing_customer_id": "cus_1",
        "currency": "EUR",
        "business_date": DAY,
        "occurred_at": datetime(2026, 10, 15, 10, tzinfo=UTC),
        "invoice_id": "in_1",
        "amount": 47_362,
        "settled": True,
    }
    return CanonicalPayment(**{**values, **overrides})


def credit_note(**overrides: Any) -> CanonicalCreditNote:
    lines = overrides.pop("lines", (line(quantity=1, amount=9_950, tax_amount=1_891),))
    subtotal = sum(x.amount for x in lines)
    values: dict[str, Any] = {
        "source_id": "cn_1",
        "number": "CN-0001",
        "invoice_id": "in_1",
        "region": "emea",
        "billing_customer_id": "cus_1",
        "currency": "EUR",
        "business_date": DAY,
        "occurred_at": datetime(2026, 10, 18, tzinfo=UTC),
        "status": "issued",
        "lines": lines,
        "subtotal": subtotal,
        "total": subtotal + sum(x.tax_amount for x in lines),
    }
    return CanonicalCreditNote(**{**values, **overrides})


def reference(**overrides: Any) -> ErpReference:
    values: dict[str, Any] = {
        "company_id": "company-emea",
        "local_currency": "EUR",
        "periods": tuple(
            AccountingPeriod(date(2026, month, 1), closed=month <= 7, name=f"M{month}")
            for month in range(1, 13)
        ),
        "tax_groups": frozenset({"VAT19", "VAT20", "UKVAT20"}),
        "items": frozenset({"STARTER", "TEAM", "BUSINESS", "ENTERPRISE"}),
        "accounts": frozenset({"40110"}),
        "currencies": frozenset({"USD", "EUR", "GBP", "AUD"}),
    }
    return ErpReference(**{**values, **overrides})
