"""Merging the systems' records of one account into the canonical customer."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from customer_factories import OWNERSHIP_FILE, source, source_customers
from hypothesis import given, settings
from hypothesis import strategies as st

from sync_platform.customers.compare import has_value, same_value
from sync_platform.customers.merge import MergeResult, current_records, merge_customer
from sync_platform.customers.model import (
    CANONICAL_ATTRIBUTES,
    Address,
    Contact,
    SourceCustomer,
    tax_registration,
)
from sync_platform.customers.ownership import OwnershipRules

RULES = OwnershipRules.load(OWNERSHIP_FILE)
SOURCE_LISTS = st.lists(source_customers(), max_size=6)


def merge(sources: list[SourceCustomer]) -> MergeResult:
    return merge_customer("cus-1", "emea", sources, RULES)


# --- examples -------------------------------------------------------------------------


def test_each_attribute_comes_from_its_owner() -> None:
    crm = source("crm", "101", legal_name="Acme", trading_name="Acme", sales_contacts=[])
    billing = source("billing", "cus_A", legal_name="Acme Billing Name", currency="eur")
    erp = source("erp", "C001", legal_name="Acme GmbH", trading_name="ACME Trading", currency="USD")

    customer = merge([crm, billing, erp]).customer

    assert customer.legal_name == "Acme GmbH"  # ERP owns the legal name
    assert customer.trading_name == "Acme"  # CRM owns the trading name
    assert customer.currency == "EUR"  # billing owns the currency
    assert customer.external_ids == {"crm": "101", "billing": "cus_A", "erp": "C001"}
    assert customer.lineage["legal_name"].system == "erp"
    assert customer.lineage["legal_name"].record_id == "C001"


def test_a_non_owners_different_value_is_a_conflict_and_not_applied() -> None:
    billing = source("billing", "cus_A", legal_name="Acme Billing Name")
    erp = source("erp", "C001", legal_name="Acme GmbH")

    result = merge([billing, erp])

    assert result.customer.legal_name == "Acme GmbH"
    (conflict,) = result.conflicts
    assert conflict.attribute == "legal_name"
    assert (conflict.owner_system, conflict.owner_value) == ("erp", "Acme GmbH")
    assert (conflict.other_system, conflict.other_record_id) == ("billing", "cus_A")
    assert conflict.other_value == "Acme Billing Name"


@pytest.mark.parametrize(
    ("attribute", "owner_value", "other_value"),
    [
        ("legal_name", "Acme GmbH", "  ACME   gmbh "),
        (
            "tax_registrations",
            [tax_registration("DE", "DE136695976")],
            [tax_registration("de", "136 695 976")],
        ),
        (
            "ship_to",
            Address(line1="1 Main St", city="Berlin", country="DE"),
            Address(line1="1 MAIN ST ", city="berlin", country="de"),
        ),
    ],
)
def test_values_that_differ_only_in_form_are_no_conflict(
    attribute: str, owner_value: object, other_value: object
) -> None:
    erp = source("erp", "C001", **{attribute: owner_value})
    crm = source("crm", "101", **{attribute: other_value})

    assert merge([erp, crm]).conflicts == ()


def test_when_the_owner_is_silent_the_fallback_order_supplies_the_value() -> None:
    billing = source("billing", "cus_A", legal_name="Acme (billing)")
    crm = source("crm", "101", legal_name="Acme (crm)")

    customer = merge([crm, billing]).customer

    # fallback_order is erp, billing, crm and the ERP has no record yet.
    assert customer.legal_name == "Acme (billing)"
    assert customer.lineage["legal_name"].system == "billing"


def test_an_owner_value_of_none_or_blank_counts_as_silence() -> None:
    erp = source("erp", "C001", legal_name="  ", payment_terms=None)
    billing = source("billing", "cus_A", legal_name="Acme", payment_terms="NET14")

    customer = merge([erp, billing]).customer

    assert (customer.legal_name, customer.payment_terms) == ("Acme", "NET14")


def test_the_newest_record_of_a_system_counts() -> None:
    old = source("billing", "cus_A", version="2025-01-01T00:00:00Z", currency="USD")
    new = source("billing", "cus_A", version="2025-02-01T00:00:00Z", currency="EUR")

    result = merge([new, old])

    assert result.customer.currency == "EUR"
    assert result.customer.lineage["currency"].version == "2025-02-01T00:00:00Z"


def test_records_with_the_same_version_resolve_by_record_id() -> None:
    first = source("crm", "101", trading_name="Acme One")
    second = source("crm", "102", trading_name="Acme Two")

    assert merge([second, first]).customer.trading_name == "Acme Two"
    assert merge([first, second]).customer.external_ids == {"crm": "102"}


def test_lineage_times_are_utc() -> None:
    record = SourceCustomer(
        system="crm",
        record_id="101",
        region="emea",
        version="v1",
        modified_at=datetime.fromisoformat("2025-03-01T14:00:00+02:00"),
        attributes={"trading_name": "Acme", "sales_contacts": [Contact(email="A@acme.com")]},
    )

    lineage = merge([record]).customer.lineage["trading_name"]

    assert lineage.observed_at == datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    assert lineage.observed_at.utcoffset() is not None


# --- properties -------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(sources=SOURCE_LISTS, data=st.data())
def test_merging_does_not_depend_on_record_order(
    sources: list[SourceCustomer], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(sources))

    assert merge(list(shuffled)) == merge(sources)


@settings(max_examples=150, deadline=None)
@given(sources=SOURCE_LISTS.filter(bool), data=st.data())
def test_merging_is_idempotent(sources: list[SourceCustomer], data: st.DataObject) -> None:
    once = merge(sources)
    repeated = data.draw(st.sampled_from(sources))

    assert merge(sources) == once
    assert merge([*sources, repeated]) == once
    # Only the records that count matter: dropping superseded versions changes nothing.
    assert merge(list(current_records(sources).values())) == once


@settings(max_examples=150, deadline=None)
@given(sources=SOURCE_LISTS)
def test_an_owners_value_is_never_lost(sources: list[SourceCustomer]) -> None:
    result = merge(sources)
    current = current_records(sources)

    for attribute in CANONICAL_ATTRIBUTES:
        owner = current.get(RULES.owner_of(attribute))
        if owner is None or not has_value(owner.attributes.get(attribute)):
            continue
        assert getattr(result.customer, attribute) == owner.attributes[attribute]
        assert result.customer.lineage[attribute].system == owner.system
    for conflict in result.conflicts:
        assert getattr(result.customer, conflict.attribute) == conflict.owner_value
        assert not same_value(conflict.owner_value, conflict.other_value)
