"""A canonical customer as Business Central v2.0 customer fields, and what to update."""

from __future__ import annotations

import pytest
from customer_factories import GB_VAT, berlin_customer

from sync_platform.customers.erp_mapping import (
    UnknownPaymentTerms,
    erp_changes,
    erp_customer_fields,
)
from sync_platform.customers.model import Address, Contact, tax_registration

TERMS = {"NET30": "6f1b-net30", "NET14": "6f1b-net14"}


def test_a_customer_maps_to_business_central_fields() -> None:
    fields = erp_customer_fields(berlin_customer(), TERMS)

    assert fields == {
        "type": "Company",
        "displayName": "Nordwind Analytics GmbH",
        "addressLine1": "Unter den Linden 1",
        "city": "Berlin",
        "state": "BE",
        "country": "DE",
        "postalCode": "10117",
        "email": "invoices@nordwind.de",
        "phoneNumber": "+49 30 1234",
        "taxRegistrationNumber": "DE136695976",
        "currencyCode": "EUR",
        "paymentTermsId": "6f1b-net30",
    }


def test_without_a_legal_name_the_trading_name_is_displayed() -> None:
    fields = erp_customer_fields(berlin_customer(legal_name=None), TERMS)

    assert fields["displayName"] == "Nordwind"


def test_without_an_invoice_email_the_first_billing_contact_receives_invoices() -> None:
    customer = berlin_customer(
        invoice_delivery_email=None,
        billing_contacts=[Contact(name="No Mail"), Contact(email="second@nordwind.de")],
    )

    assert erp_customer_fields(customer, TERMS)["email"] == "second@nordwind.de"


def test_only_a_valid_registration_for_the_billing_country_is_sent() -> None:
    customer = berlin_customer(
        tax_registrations=[tax_registration("GB", GB_VAT), tax_registration("DE", "DE136695977")]
    )

    assert "taxRegistrationNumber" not in erp_customer_fields(customer, TERMS)


def test_values_are_never_truncated() -> None:
    long_name = "Nordwind " * 20
    customer = berlin_customer(legal_name=long_name)

    assert erp_customer_fields(customer, TERMS)["displayName"] == long_name.strip()


def test_unknown_payment_terms_are_a_typed_error() -> None:
    with pytest.raises(UnknownPaymentTerms, match=r"'NET45'.*NET14, NET30") as raised:
        erp_customer_fields(berlin_customer(payment_terms="NET45"), TERMS)

    assert raised.value.code == "NET45"


def test_the_erp_companys_own_currency_is_left_blank() -> None:
    fields = erp_customer_fields(berlin_customer(), TERMS, local_currency="eur")

    assert fields["currencyCode"] == ""


def test_fields_without_a_value_are_left_out_so_the_erp_keeps_its_own() -> None:
    customer = berlin_customer(bill_to=Address(country="DE"), billing_contacts=[])

    fields = erp_customer_fields(customer, TERMS)

    assert "addressLine1" not in fields and "phoneNumber" not in fields
    assert fields["country"] == "DE"


def test_changes_are_the_fields_that_differ_after_normalization() -> None:
    current = {
        "displayName": "Nordwind Analytics GmbH ",
        "country": "de",
        "addressLine2": "",
        "city": "Berlin",
        "currencyCode": "eur",
        "phoneNumber": "+49 30 1234",
    }
    desired = {
        "displayName": "Nordwind Analytics GmbH",
        "country": "DE",
        "addressLine2": None,
        "city": "Hamburg",
        "currencyCode": "EUR",
        "email": "ap@nordwind.de",
    }

    assert erp_changes(current, desired) == {"city": "Hamburg", "email": "ap@nordwind.de"}
