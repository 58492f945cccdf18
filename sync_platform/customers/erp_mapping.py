"""A canonical customer as Business Central API v2.0 ``customers`` fields.

Values are never shortened to fit: a cut legal name on an invoice is worse than a customer
held back, so ``validation`` reports over-long values against ``BC_FIELD_LIMITS`` instead.
A field the canonical customer has no value for is left out, so the ERP's value is kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sync_platform.customers.model import Address, CanonicalCustomer

# Lengths of the Business Central customer fields we write (Customer table field lengths).
BC_FIELD_LIMITS: dict[str, int] = {
    "displayName": 100,
    "addressLine1": 100,
    "addressLine2": 50,
    "city": 30,
    "state": 30,
    "country": 10,
    "postalCode": 20,
    "phoneNumber": 30,
    "email": 80,
    "taxRegistrationNumber": 20,
    "currencyCode": 10,
}

# Compared without regard to case: codes the ERP may store in another case.
_CODE_FIELDS = frozenset({"country", "state", "currencyCode"})


class UnknownPaymentTerms(LookupError):
    """The customer's payment terms code has no payment terms record in the ERP."""

    def __init__(self, code: str, known: list[str]) -> None:
        self.code = code
        super().__init__(
            f"payment terms {code!r} do not exist in the ERP (known: {', '.join(known) or 'none'});"
            " create them in the ERP or correct the customer's terms"
        )


def erp_customer_fields(
    customer: CanonicalCustomer,
    payment_terms_ids: Mapping[str, str],
    *,
    local_currency: str | None = None,
) -> dict[str, Any]:
    """The fields to write; ``local_currency`` is the ERP company's own, which BC leaves blank."""
    fields = erp_customer_values(customer, local_currency=local_currency)
    if customer.payment_terms:
        terms_id = payment_terms_ids.get(customer.payment_terms)
        if terms_id is None:
            raise UnknownPaymentTerms(customer.payment_terms, sorted(payment_terms_ids))
        fields["paymentTermsId"] = terms_id
    return fields


def erp_customer_values(
    customer: CanonicalCustomer, *, local_currency: str | None = None
) -> dict[str, Any]:
    """Every field but ``paymentTermsId``, which needs the ERP's payment terms ids."""
    currency = customer.currency
    if currency is not None and local_currency is not None and currency == local_currency.upper():
        currency = ""
    contacts = customer.billing_contacts
    values: dict[str, Any] = {
        "type": "Company",
        "displayName": customer.legal_name or customer.trading_name,
        **_address_fields(customer.bill_to),
        "email": customer.invoice_delivery_email or _first(c.email for c in contacts),
        "phoneNumber": _first(c.phone for c in contacts),
        "taxRegistrationNumber": _tax_number(customer),
        "currencyCode": currency,
    }
    return {name: value for name, value in values.items() if value is not None}


def erp_changes(current: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """The desired fields whose value differs from the ERP's, ignoring spacing and blanks."""
    return {
        name: value
        for name, value in desired.items()
        if _comparable(name, value) != _comparable(name, current.get(name))
    }


def _address_fields(address: Address | None) -> dict[str, str | None]:
    if address is None:
        return {}
    subdivision = address.subdivision
    return {
        "addressLine1": address.line1,
        "addressLine2": address.line2,
        "city": address.city,
        "state": subdivision.partition("-")[2] or subdivision if subdivision else None,
        "country": address.country,
        "postalCode": address.postal_code,
    }


def _tax_number(customer: CanonicalCustomer) -> str | None:
    country = customer.bill_to.country if customer.bill_to else None
    return _first(
        reg.number for reg in customer.tax_registrations if reg.valid and reg.country == country
    )


def _first(values: Iterable[str | None]) -> str | None:
    return next((value for value in values if value), None)


def _comparable(name: str, value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str):
        text = value.strip()
        return text.upper() if name in _CODE_FIELDS else text
    return value
