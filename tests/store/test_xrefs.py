"""Cross-references: one canonical customer per set of external ids, never re-pointed."""

from __future__ import annotations

import pytest
from store_testing import ManualClock

from sync_platform.store import CustomerXref, DuplicateExternalId, Store, xrefs


def acme(**ids: str | None) -> CustomerXref:
    return CustomerXref(canonical_id="cust_acme", region="emea", match_rule="tax_id", **ids)


def test_save_creates_and_lists_by_region(store: Store) -> None:
    saved = store.save_xref(acme(crm_company_id="101", billing_customer_id="cus_A"))
    store.save_xref(CustomerXref("cust_bolt", "na", "crm_only", crm_company_id="102"))

    assert saved.created_at == saved.updated_at
    assert [x.canonical_id for x in store.xrefs()] == ["cust_acme", "cust_bolt"]
    assert store.xrefs(region="emea") == [saved]


def test_save_updates_by_canonical_id_and_keeps_created_at(
    store: Store, clock: ManualClock
) -> None:
    first = store.save_xref(acme(crm_company_id="101"))
    later = clock.advance()

    second = store.save_xref(acme(crm_company_id="101", erp_customer_number="C00042"))

    assert second.erp_customer_number == "C00042"
    assert (second.created_at, second.updated_at) == (first.created_at, later)
    assert len(store.xrefs()) == 1


def test_saving_the_same_ids_again_does_not_touch_updated_at(
    store: Store, clock: ManualClock
) -> None:
    first = store.save_xref(acme(crm_company_id="101"))
    clock.advance()

    assert store.save_xref(acme(crm_company_id="101")).updated_at == first.updated_at


def test_an_external_id_held_by_another_customer_is_refused(store: Store) -> None:
    store.save_xref(acme(billing_customer_id="cus_A"))
    thief = CustomerXref("cust_other", "emea", "email", billing_customer_id="cus_A")

    with pytest.raises(DuplicateExternalId) as caught:
        store.save_xref(thief)

    assert (caught.value.system, caught.value.external_id) == ("billing", "cus_A")
    assert caught.value.existing_canonical_id == "cust_acme"
    assert "'cus_A' already belongs to canonical customer 'cust_acme'" in str(caught.value)
    assert [x.canonical_id for x in store.xrefs()] == ["cust_acme"]


def test_missing_external_ids_do_not_clash(store: Store) -> None:
    store.save_xref(acme(crm_company_id="101"))
    store.save_xref(CustomerXref("cust_bolt", "emea", "crm_only", crm_company_id="102"))

    assert all(x.billing_customer_id is None for x in store.xrefs())


def test_a_clash_only_the_database_sees_is_reported_the_same_way(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.save_xref(acme(billing_customer_id="cus_A"))
    check = xrefs.find_clash
    # The first check misses, as when another run commits the id between check and write.
    misses = iter([None])
    monkeypatch.setattr(xrefs, "find_clash", lambda conn, xref: next(misses, check(conn, xref)))

    with pytest.raises(DuplicateExternalId, match=r"'cus_A' already belongs to .*'cust_acme'"):
        store.save_xref(CustomerXref("cust_other", "emea", "email", billing_customer_id="cus_A"))
