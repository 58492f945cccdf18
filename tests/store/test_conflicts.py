"""Conflicts: the set given to sync_conflicts becomes the region's open set."""

from __future__ import annotations

from store_testing import ManualClock

from sync_platform.store import ConflictCounts, ConflictIn, Store


def name_conflict(canonical_id: str = "cust_a", crm_value: str = "Acme") -> ConflictIn:
    return ConflictIn(
        canonical_id=canonical_id,
        attribute="legal_name",
        owner_system="erp",
        owner_value="Acme AG",
        other_system="crm",
        other_record_id="101",
        other_value=crm_value,
    )


def test_new_conflicts_open(store: Store, clock: ManualClock) -> None:
    counts = store.sync_conflicts("emea", [name_conflict("cust_a"), name_conflict("cust_b")])

    assert counts == ConflictCounts(opened=2)
    [first, _] = store.conflicts("emea")
    assert (first.status, first.owner_value, first.other_value) == ("open", "Acme AG", "Acme")
    assert first.first_seen_at == first.last_seen_at == clock.now
    assert first.resolved_at is None


def test_still_present_conflicts_stay_open_with_the_latest_values(
    store: Store, clock: ManualClock
) -> None:
    store.sync_conflicts("emea", [name_conflict(crm_value="Acme")])
    later = clock.advance()

    counts = store.sync_conflicts("emea", [name_conflict(crm_value="ACME Inc")])

    assert counts == ConflictCounts(still_open=1)
    [conflict] = store.conflicts("emea")
    assert conflict.other_value == "ACME Inc"
    assert conflict.first_seen_at < conflict.last_seen_at == later


def test_open_resolved_reopened(store: Store, clock: ManualClock) -> None:
    store.sync_conflicts("emea", [name_conflict()])
    resolved_at = clock.advance()

    assert store.sync_conflicts("emea", []) == ConflictCounts(resolved=1)
    assert store.conflicts("emea") == []
    [resolved] = store.conflicts("emea", status="resolved")
    assert resolved.resolved_at == resolved_at

    clock.advance()
    assert store.sync_conflicts("emea", [name_conflict()]) == ConflictCounts(opened=1)
    [reopened] = store.conflicts("emea")
    assert reopened.id == resolved.id
    assert reopened.resolved_at is None
    assert len(store.conflicts(status=None)) == 1


def test_other_regions_are_left_alone(store: Store) -> None:
    store.sync_conflicts("emea", [name_conflict("cust_a")])
    store.sync_conflicts("na", [name_conflict("cust_n")])

    store.sync_conflicts("emea", [])

    assert [c.canonical_id for c in store.conflicts()] == ["cust_n"]


def test_json_values_keep_their_shape(store: Store) -> None:
    conflict = ConflictIn(
        "cust_a", "billing_address", "billing", {"city": "Bern"}, "crm", "101", None
    )

    store.sync_conflicts("emea", [conflict])

    [stored] = store.conflicts()
    assert (stored.owner_value, stored.other_value) == ({"city": "Bern"}, None)
