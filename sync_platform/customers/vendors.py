"""Vendor records → ``SourceCustomer``: what each system states about an account.

Inputs are the vendor payloads as the system APIs returned them (and as the store keeps
them). Each system contributes the attributes it knows; where a system is only the *target*
of a sync (the ERP's address and e-mail are written by us from billing), its copy is not
stated, so it can never be mistaken for a divergent opinion.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sync_platform.customers.model import (
    Contact,
    SourceCustomer,
    normalize_address,
    tax_registration,
)

Payload = Mapping[str, Any]


def crm_company(company: Payload, contacts: Iterable[Payload] = ()) -> SourceCustomer:
    """A HubSpot company with the contacts associated to it."""
    props: Mapping[str, Any] = company.get("properties") or {}
    modified = _iso(props.get("hs_lastmodifieddate") or company.get("updatedAt"))
    attributes: dict[str, Any] = {
        "trading_name": props.get("name"),
        "parent_crm_company_id": props.get("hs_parent_company_id"),
        "sales_contacts": [_crm_contact(c) for c in contacts],
    }
    if props.get("payment_terms"):
        attributes["payment_terms"] = props["payment_terms"]
    if props.get("vat_number"):
        attributes["tax_registrations"] = [
            tax_registration(props.get("country") or "", str(props["vat_number"]))
        ]
    links = {"billing": props["billing_customer_id"]} if props.get("billing_customer_id") else {}
    return SourceCustomer(
        system="crm",
        record_id=str(company["id"]),
        region=str(props.get("region") or ""),
        version=modified.isoformat(),
        modified_at=modified,
        links=links,
        attributes=attributes,
        domain=props.get("domain"),
    )


def _crm_contact(contact: Payload) -> Contact:
    props: Mapping[str, Any] = contact.get("properties") or {}
    name = " ".join(p for p in (props.get("firstname"), props.get("lastname")) if p)
    return Contact(name=name or None, email=props.get("email"), phone=props.get("phone"))


def billing_customer(customer: Payload, region: str | None = None) -> SourceCustomer:
    """A Stripe customer. Stripe keeps no last-modified time, so the version is ``created``
    unless the platform saw a newer event for it (passed in the payload as ``_version``)."""
    metadata: Mapping[str, str] = customer.get("metadata") or {}
    raw_created = customer.get("created")
    created = (
        datetime.fromtimestamp(raw_created, tz=UTC)
        if isinstance(raw_created, int)
        else _iso(raw_created)
    )
    address = customer.get("address") or {}
    email = customer.get("email")
    links = {
        system: metadata[key]
        for system, key in (("crm", "hubspot_company_id"), ("erp", "erp_customer_number"))
        if metadata.get(key)
    }
    attributes: dict[str, Any] = {
        "trading_name": customer.get("name"),
        "billing_contacts": [
            Contact(name=customer.get("name"), email=email, phone=customer.get("phone"))
        ]
        if email
        else [],
        "invoice_delivery_email": email,
        "bill_to": normalize_address(
            line1=address.get("line1"),
            line2=address.get("line2"),
            city=address.get("city"),
            postal_code=address.get("postal_code"),
            state=address.get("state"),
            country=address.get("country"),
        ),
        "currency": customer.get("currency"),
        "status": "inactive" if customer.get("deleted") else "active",
    }
    version = str(customer.get("_version") or created.isoformat())
    return SourceCustomer(
        system="billing",
        record_id=str(customer["id"]),
        region=str(region or metadata.get("region") or ""),
        version=version,
        modified_at=_iso(version) if customer.get("_version") else created,
        links=links,
        attributes=attributes,
        domain=email.rpartition("@")[2] if email else None,
    )


def erp_customer(
    customer: Payload, region: str, payment_terms_codes: Mapping[str, str]
) -> SourceCustomer:
    """A Business Central customer: the legal name, terms and tax registration it owns."""
    modified = _iso(customer.get("lastModifiedDateTime"))
    attributes: dict[str, Any] = {
        "legal_name": customer.get("displayName"),
        "payment_terms": payment_terms_codes.get(str(customer.get("paymentTermsId") or "")),
    }
    if customer.get("taxRegistrationNumber"):
        attributes["tax_registrations"] = [
            tax_registration(customer.get("country") or "", str(customer["taxRegistrationNumber"]))
        ]
    return SourceCustomer(
        system="erp",
        record_id=str(customer["number"]),
        region=region,
        version=modified.isoformat(),
        modified_at=modified,
        attributes=attributes,
        domain=customer.get("website") or None,
    )


def _iso(value: Any) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    else:
        raise ValueError(f"expected a timestamp, got {value!r}")
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no time zone")
    return parsed.astimezone(UTC)
