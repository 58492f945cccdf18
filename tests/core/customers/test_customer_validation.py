"""Validation before a customer reaches the ERP, with messages finance can act on."""

from __future__ import annotations

import pytest
from customer_factories import AU_ABN, berlin_customer

from sync_platform.customers.model import Address, CanonicalCustomer, tax_registration
from sync_platform.customers.validation import validate_customer


def codes(customer: CanonicalCustomer) -> set[tuple[str, str]]:
    return {(issue.attribute, issue.code) for issue in validate_customer(customer)}


def test_a_complete_customer_has_no_issues() -> None:
    assert validate_customer(berlin_customer()) == ()


def test_a_name_is_required_but_a_trading_name_will_do() -> None:
    assert codes(berlin_customer(legal_name=None)) == set()
    (issue,) = validate_customer(berlin_customer(legal_name=None, trading_name=None))
    assert (issue.attribute, issue.code) == ("legal_name", "missing")
    assert "no legal or trading name" in issue.message


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"region": " "}, ("region", "missing")),
        ({"bill_to": None}, ("bill_to", "missing")),
        ({"bill_to": Address(city="Berlin")}, ("bill_to", "missing")),
        ({"currency": None}, ("currency", "missing")),
        ({"currency": "EUX"}, ("currency", "unknown_currency")),
        ({"bill_to": Address(country="XK1")}, ("bill_to", "unknown_country")),
        (
            {"ship_to": Address(country="FR", subdivision="FR-75")},
            ("ship_to", "unknown_subdivision"),
        ),
        (
            {"bill_to": Address(country="DE", subdivision="US-CA")},
            ("bill_to", "unknown_subdivision"),
        ),
    ],
)
def test_required_values_and_iso_codes(changes: dict, expected: tuple[str, str]) -> None:
    assert expected in codes(berlin_customer(**changes))


def test_eu_customers_need_a_tax_registration() -> None:
    (issue,) = validate_customer(berlin_customer(tax_registrations=[]))

    assert (issue.attribute, issue.code) == ("tax_registrations", "missing")
    assert "billed in DE need a tax registration" in issue.message


def test_an_invalid_registration_is_named() -> None:
    customer = berlin_customer(tax_registrations=[tax_registration("DE", "DE136695977")])

    (issue,) = validate_customer(customer)

    assert (issue.attribute, issue.code) == ("tax_registrations", "invalid")
    assert "DE136695977" in issue.message


def test_australian_customers_need_an_abn_and_us_customers_need_no_ein() -> None:
    sydney = Address(city="Sydney", country="AU", subdivision="AU-NSW")
    austin = Address(city="Austin", country="US", subdivision="US-TX")

    assert ("tax_registrations", "missing") in codes(
        berlin_customer(bill_to=sydney, tax_registrations=[], currency="AUD")
    )
    assert (
        codes(berlin_customer(bill_to=sydney, tax_registrations=[tax_registration("AU", AU_ABN)]))
        == set()
    )
    assert codes(berlin_customer(bill_to=austin, tax_registrations=[], currency="USD")) == set()


def test_values_longer_than_business_central_allows_are_issues() -> None:
    address = Address(
        line1="x" * 101,
        city="Llanfairpwllgwyngyll-gogerychwyrn",
        postal_code="1" * 21,
        country="DE",
    )
    customer = berlin_customer(legal_name="N" * 101, bill_to=address)

    too_long = [issue for issue in validate_customer(customer) if issue.code == "too_long"]

    assert {issue.attribute for issue in too_long} == {"legal_name", "bill_to"}
    assert len(too_long) == 4
    assert any("101 characters; the ERP allows 100" in issue.message for issue in too_long)
