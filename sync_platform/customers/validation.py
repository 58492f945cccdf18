"""Checks a customer must pass before it is written to the ERP, worded for finance."""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict

from sync_platform.customers import geo
from sync_platform.customers.erp_mapping import BC_FIELD_LIMITS, erp_customer_values
from sync_platform.customers.model import Address, CanonicalCustomer
from sync_platform.customers.tax import REGISTRATION_REQUIRED


class Issue(BaseModel):
    model_config = ConfigDict(frozen=True)

    attribute: str
    code: str
    message: str


# The canonical attribute each ERP field comes from, so an issue says what to correct.
_FIELD_SOURCES = {
    "displayName": ("legal_name", "legal name"),
    "addressLine1": ("bill_to", "first billing address line"),
    "addressLine2": ("bill_to", "second billing address line"),
    "city": ("bill_to", "billing address city"),
    "state": ("bill_to", "billing address state"),
    "country": ("bill_to", "billing address country"),
    "postalCode": ("bill_to", "billing address postal code"),
    "phoneNumber": ("billing_contacts", "billing contact's phone number"),
    "email": ("invoice_delivery_email", "invoice email address"),
    "taxRegistrationNumber": ("tax_registrations", "tax registration number"),
    "currencyCode": ("currency", "currency code"),
}


def validate_customer(customer: CanonicalCustomer) -> tuple[Issue, ...]:
    return (
        *_required(customer),
        *_address("bill_to", "billing address", customer.bill_to),
        *_address("ship_to", "shipping address", customer.ship_to),
        *_currency(customer.currency),
        *_tax(customer),
        *_erp_lengths(customer),
    )


def _required(customer: CanonicalCustomer) -> Iterator[Issue]:
    if not customer.legal_name and not customer.trading_name:
        yield Issue(
            attribute="legal_name",
            code="missing",
            message="The customer has no legal or trading name in any system; "
            "the ERP cannot create a customer without one.",
        )
    if not customer.region.strip():
        yield Issue(
            attribute="region",
            code="missing",
            message="The customer belongs to no sales region, so no entity books it.",
        )
    if customer.bill_to is None or not customer.bill_to.country:
        yield Issue(
            attribute="bill_to",
            code="missing",
            message="The billing address has no country; tax cannot be determined without it.",
        )
    if not customer.currency:
        yield Issue(
            attribute="currency",
            code="missing",
            message="The customer has no billing currency; invoices cannot be posted.",
        )


def _address(attribute: str, label: str, address: Address | None) -> Iterator[Issue]:
    if address is None or not address.country:
        return
    if not geo.is_known_country(address.country):
        yield Issue(
            attribute=attribute,
            code="unknown_country",
            message=f"The {label} country {address.country!r} is not an ISO 3166 country code.",
        )
        return
    subdivision = address.subdivision
    if subdivision and not (
        subdivision.startswith(f"{address.country}-") and geo.is_known_subdivision(subdivision)
    ):
        yield Issue(
            attribute=attribute,
            code="unknown_subdivision",
            message=f"The {label} state/region {subdivision!r} is not an ISO 3166-2 "
            f"subdivision of {address.country}.",
        )


def _currency(currency: str | None) -> Iterator[Issue]:
    if currency and not geo.is_known_currency(currency):
        yield Issue(
            attribute="currency",
            code="unknown_currency",
            message=f"The currency {currency!r} is not an ISO 4217 currency code.",
        )


def _tax(customer: CanonicalCustomer) -> Iterator[Issue]:
    for registration in customer.tax_registrations:
        if not registration.valid:
            yield Issue(
                attribute="tax_registrations",
                code="invalid",
                message=f"The {registration.country} tax number {registration.number} "
                f"({registration.scheme}) fails its check; ask the customer for the correct one.",
            )
    country = customer.bill_to.country if customer.bill_to else None
    registered = {registration.country for registration in customer.tax_registrations}
    if country in REGISTRATION_REQUIRED and country not in registered:
        yield Issue(
            attribute="tax_registrations",
            code="missing",
            message=f"Customers billed in {country} need a tax registration (VAT or ABN) "
            "on file before they are invoiced; none is recorded.",
        )


def _erp_lengths(customer: CanonicalCustomer) -> Iterator[Issue]:
    for field, value in erp_customer_values(customer).items():
        limit = BC_FIELD_LIMITS.get(field)
        if limit is not None and isinstance(value, str) and len(value) > limit:
            attribute, label = _FIELD_SOURCES[field]
            if field == "displayName" and not customer.legal_name:
                attribute, label = "trading_name", "trading name"
            yield Issue(
                attribute=attribute,
                code="too_long",
                message=f"The {label} has {len(value)} characters; the ERP allows {limit}. "
                "Shorten it in the system that owns it.",
            )
