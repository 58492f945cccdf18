"""Canonical customers: revisions count real changes only."""

from __future__ import annotations

import pytest

from sync_platform.store import CustomerXref, SaveCounts, Store, UnknownCanonicalId


@pytest.fixture
def known(store: Store) -> Store:
    for canonical_id in ("cust_a", "cust_b"):
        store.save_xref(CustomerXref(canonical_id, "emea", "tax_id"))
    return store


def test_new_records_start_at_revision_one(known: Store) -> None:
    counts = known.save_canonical("emea", {"cust_a": {"legal_name": "A"}, "cust_b": {"x": 1}})

    assert counts == SaveCounts(created=2)
    rows = known.canonical_customers("emea")
    assert rows["cust_a"].record == {"legal_name": "A"}
    assert {row.revision for row in rows.values()} == {1}


def test_a_change_increments_the_revision_and_sameness_does_not(known: Store) -> None:
    known.save_canonical("emea", {"cust_a": {"legal_name": "A"}, "cust_b": {"x": 1}})

    counts = known.save_canonical("emea", {"cust_a": {"legal_name": "A AG"}, "cust_b": {"x": 1}})
    again = known.save_canonical("emea", {"cust_a": {"legal_name": "A AG"}})

    assert counts == SaveCounts(changed=1, unchanged=1)
    assert again == SaveCounts(unchanged=1)
    rows = known.canonical_customers()
    assert (rows["cust_a"].revision, rows["cust_b"].revision) == (2, 1)
    assert rows["cust_a"].record == {"legal_name": "A AG"}


def test_a_record_without_a_cross_reference_is_refused(known: Store) -> None:
    with pytest.raises(UnknownCanonicalId, match=r"'cust_ghost'.*save_xref"):
        known.save_canonical("emea", {"cust_a": {}, "cust_ghost": {}})

    assert known.canonical_customers() == {}


def test_regions_filter(known: Store) -> None:
    known.save_xref(CustomerXref("cust_na", "na", "tax_id"))
    known.save_canonical("emea", {"cust_a": {}})
    known.save_canonical("na", {"cust_na": {}})

    assert list(known.canonical_customers("na")) == ["cust_na"]
    assert len(known.canonical_customers()) == 2
