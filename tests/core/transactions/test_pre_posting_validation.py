"""Pre-posting validation finds what the ERP would refuse, with a reason finance can act on."""

from __future__ import annotations

from datetime import date

import pytest
from transaction_factories import credit_note, invoice, line, payment, reference

from sync_platform.transactions.mappings import PostingConfig
from sync_platform.transactions.validation import (
    ErpCustomerRef,
    validate_credit_note,
    validate_invoice,
    validate_payment,
)

CONFIG = PostingConfig.load()
CUSTOMER = ErpCustomerRef(number="C00001", id="guid-1")


def reasons(failures: list) -> list[str]:
    return [f.reason for f in failures]


def test_a_well_mapped_invoice_in_an_open_period_passes() -> None:
    assert validate_invoice(invoice(), CONFIG, reference(), CUSTOMER) == []


def test_an_unmapped_tax_rate_is_named_with_its_region() -> None:
    failures = validate_invoice(
        invoice(lines=(line(tax_rate_id="txr_NL21"),)), CONFIG, reference(), CUSTOMER
    )
    assert reasons(failures) == ["tax_code_unmapped"]
    assert failures[0].message.startswith("Tax rate txr_NL21 has no ERP tax group for region emea")
    assert not failures[0].waits


def test_a_tax_group_the_erp_lacks_is_not_the_same_as_an_unmapped_rate() -> None:
    failures = validate_invoice(
        invoice(), CONFIG, reference(tax_groups=frozenset({"VAT20"})), CUSTOMER
    )
    assert reasons(failures) == ["tax_group_missing"]
    assert "VAT19" in failures[0].message


def test_a_closed_period_and_a_missing_period_are_told_apart() -> None:
    closed = validate_invoice(
        invoice(business_date=date(2026, 7, 14)), CONFIG, reference(), CUSTOMER
    )
    assert reasons(closed) == ["period_closed"]
    assert "2026-07-14" in closed[0].message and "M7 2026" in closed[0].message
    missing = validate_invoice(
        invoice(business_date=date(2027, 1, 2)), CONFIG, reference(), CUSTOMER
    )
    assert reasons(missing) == ["period_missing"]


@pytest.mark.parametrize("currency", ["CHF", "USD"])
def test_a_currency_the_region_does_not_post_is_refused(currency: str) -> None:
    failures = validate_invoice(invoice(currency=currency), CONFIG, reference(), CUSTOMER)
    assert reasons(failures) == ["currency_not_allowed"]
    assert currency in failures[0].message and "EUR, GBP" in failures[0].message


def test_an_unknown_product_and_an_item_the_erp_lacks() -> None:
    unmapped = validate_invoice(
        invoice(lines=(line(product_id="prod_new"),)), CONFIG, reference(), CUSTOMER
    )
    assert reasons(unmapped) == ["account_mapping_missing"]
    assert "prod_new" in unmapped[0].message
    lacking = validate_invoice(invoice(), CONFIG, reference(items=frozenset()), CUSTOMER)
    assert reasons(lacking) == ["line_target_missing"]


def test_a_customer_not_in_the_erp_makes_the_invoice_wait_not_fail() -> None:
    failures = validate_invoice(invoice(), CONFIG, reference(), None)
    assert reasons(failures) == ["customer_not_in_erp"]
    assert failures[0].waits


def test_every_problem_of_a_document_is_reported_once() -> None:
    doc = invoice(
        currency="CHF",
        business_date=date(2026, 7, 1),
        lines=(line(tax_rate_id="txr_NL21"), line(line_id="il_2", tax_rate_id="txr_NL21")),
    )
    failures = validate_invoice(doc, CONFIG, reference(), None)
    assert reasons(failures) == [
        "customer_not_in_erp",
        "currency_not_allowed",
        "period_closed",
        "tax_code_unmapped",
    ]


def test_a_payment_waits_for_its_invoice_and_a_credit_note_too() -> None:
    assert reasons(validate_payment(payment(), CONFIG, reference(), CUSTOMER, False)) == [
        "invoice_not_posted"
    ]
    assert validate_payment(payment(), CONFIG, reference(), CUSTOMER, True) == []
    assert validate_payment(payment(invoice_id=None), CONFIG, reference(), CUSTOMER, False) == []
    assert reasons(validate_credit_note(credit_note(), CONFIG, reference(), CUSTOMER, False)) == [
        "invoice_not_posted"
    ]


def test_a_credit_note_may_not_credit_more_than_its_invoice() -> None:
    note = credit_note()
    ok = validate_credit_note(note, CONFIG, reference(), CUSTOMER, True, 0, note.total)
    assert ok == []
    over = validate_credit_note(note, CONFIG, reference(), CUSTOMER, True, 1, note.total)
    assert reasons(over) == ["exceeds_invoice"]


def test_foreign_cash_must_be_applied_to_an_invoice_in_its_currency() -> None:
    applied = payment(currency="GBP")
    assert validate_payment(applied, CONFIG, reference(), CUSTOMER, True) == []
    unapplied = payment(currency="GBP", invoice_id=None)
    failures = validate_payment(unapplied, CONFIG, reference(), CUSTOMER, True)
    assert reasons(failures) == ["currency_not_allowed"]
    assert "GBP cash applied to no invoice" in failures[0].message
    assert validate_payment(payment(invoice_id=None), CONFIG, reference(), CUSTOMER, True) == []
