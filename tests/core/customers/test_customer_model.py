"""The canonical vocabulary: addresses, contacts and tax registrations as vendors send them."""

from __future__ import annotations

from datetime import datetime

import pytest
from customer_factories import source
from pydantic import ValidationError

from sync_platform.customers.model import (
    Address,
    Contact,
    Lineage,
    normalize_address,
    tax_registration,
)


@pytest.mark.parametrize(
    ("state", "country", "subdivision", "alpha_2"),
    [
        ("CA", "us", "US-CA", "US"),
        ("ca", "United States", "US-CA", "US"),
        ("NSW", "AUS", "AU-NSW", "AU"),
        ("New South Wales", "Australia", "AU-NSW", "AU"),
        ("BY", "germany", "DE-BY", "DE"),
        ("ENG", "UK", "GB-ENG", "GB"),
        ("gb-sct", "GB", "GB-SCT", "GB"),
        ("", "DE", None, "DE"),
    ],
)
def test_vendor_states_and_countries_become_iso_codes(
    state: str, country: str, subdivision: str | None, alpha_2: str
) -> None:
    address = normalize_address(state=state, country=country)

    assert (address.subdivision, address.country) == (subdivision, alpha_2)


def test_unknown_codes_are_kept_not_invented() -> None:
    # Paris was FR-75 until ISO renamed it FR-75C; vendors still send "75".
    assert normalize_address(state="75", country="FR").subdivision == "FR-75"
    assert normalize_address(state="QQ", country="Atlantis") == Address(
        subdivision="QQ", country="ATLANTIS"
    )


def test_blank_strings_become_none() -> None:
    address = normalize_address(line1=" 1 Main St ", line2="  ", city="", postal_code=" ")

    assert address == Address(line1="1 Main St")


def test_contact_emails_are_lower_case() -> None:
    assert Contact(name=" Ada ", email=" Ada@Acme.COM ").email == "ada@acme.com"


@pytest.mark.parametrize(
    ("country", "raw", "scheme", "number", "valid"),
    [
        ("DE", "DE 136 695 976", "eu_vat", "DE136695976", True),
        ("DE", "136695976", "eu_vat", "DE136695976", True),
        ("Greece", "094259216", "eu_vat", "EL094259216", True),
        ("DE", "DE136695977", "eu_vat", "DE136695977", False),
        ("DE", "FR40303265045", "eu_vat", "FR40303265045", False),
        ("GB", "GB 980 7806 84", "gb_vat", "980780684", True),
        ("US", "12-3456789", "us_ein", "123456789", True),
        ("US", "00-3456789", "us_ein", "003456789", False),
        ("AU", "51 824 753 556", "au_abn", "51824753556", True),
        ("ZZ", "12 34", "unknown", "1234", False),
    ],
)
def test_tax_registrations_are_compact_and_checked(
    country: str, raw: str, scheme: str, number: str, valid: bool
) -> None:
    registration = tax_registration(country, raw)

    assert (registration.scheme, registration.number, registration.valid) == (
        scheme,
        number,
        valid,
    )


def test_source_attributes_are_typed_as_canonical_values() -> None:
    record = source(
        "billing",
        "cus_A",
        bill_to={"line1": "1 Main St", "country": "US"},
        currency="eur",
        billing_contacts=[{"email": "AP@acme.com"}],
    )

    assert isinstance(record.attributes["bill_to"], Address)
    assert record.attributes["currency"] == "EUR"
    assert record.attributes["billing_contacts"] == [Contact(email="ap@acme.com")]


@pytest.mark.parametrize(
    "attributes",
    [{"website": "acme.com"}, {"status": "deleted"}, {"bill_to": "1 Main St"}],
)
def test_source_attributes_outside_the_vocabulary_are_refused(attributes: dict) -> None:
    with pytest.raises(ValidationError):
        source("crm", "101", **attributes)


def test_lineage_needs_an_aware_time() -> None:
    with pytest.raises(ValidationError):
        Lineage(system="crm", record_id="1", version="1", observed_at=datetime(2025, 1, 1))
