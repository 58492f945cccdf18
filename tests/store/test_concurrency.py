"""Concurrent Dagster runs share the store: unique keys and upserts, never errors."""

from __future__ import annotations

from datetime import UTC, datetime

from store_testing import at_once

from sync_platform.store import (
    CustomerXref,
    DuplicateExternalId,
    SourceRecordIn,
    Store,
    UpsertCounts,
)


def test_two_runs_upserting_the_same_records_leave_one_row_each(database_url: str) -> None:
    records = [
        SourceRecordIn(f"{i:04d}", datetime(2026, 2, 1, tzinfo=UTC), {"n": i}) for i in range(300)
    ]
    stores = [Store.open(database_url), Store.open(database_url)]
    handed_out = iter(stores)
    try:
        results = at_once(lambda: next(handed_out).upsert_source_records("crm", "company", records))

        assert len(stores[0].source_records("crm", "company")) == 300
        assert sum(results, UpsertCounts()) == UpsertCounts(inserted=300, unchanged=300)
    finally:
        for store in stores:
            store.close()


def test_two_runs_beginning_the_same_write_share_one_ledger_row(store: Store) -> None:
    entries = at_once(
        lambda: store.begin_write("k", "erp", "customer", "create", "v1", "corr", "h"), workers=4
    )

    assert {e.idempotency_key for e in entries} == {"k"}
    assert store.ledger_entry("k").attempts == 4  # type: ignore[union-attr]


def test_two_runs_opening_the_same_review_get_the_same_row(store: Store) -> None:
    reviews = at_once(
        lambda: store.open_review("emea", "identity", "billing:cus_x", "Match?", {}, "id:cus_x"),
        workers=4,
    )

    assert len({r.id for r in reviews}) == 1


def test_two_processes_opening_a_fresh_store_both_migrate_safely(database_url: str) -> None:
    stores = at_once(lambda: Store.open(database_url), workers=3)

    for store in stores:
        assert store.xrefs() == []
        store.close()


def test_two_runs_claiming_one_external_id_for_different_customers(store: Store) -> None:
    claims = iter(["cust_a", "cust_b"])

    def claim() -> str:
        xref = CustomerXref(next(claims), "emea", "email", billing_customer_id="cus_X")
        try:
            return store.save_xref(xref).canonical_id
        except DuplicateExternalId as clash:
            return f"refused: held by {clash.existing_canonical_id}"

    outcomes = sorted(at_once(claim))

    [winner] = [x.canonical_id for x in store.xrefs()]
    assert outcomes == sorted([winner, f"refused: held by {winner}"])
