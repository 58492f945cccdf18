"""Source snapshots: what upsert_source_records counts and what it keeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from store_testing import ManualClock

from sync_platform.store import SourceRecordIn, Store, UpsertCounts, content_hash

T0 = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)


def company(
    record_id: str, name: str, modified_at: datetime = T0, region: str = "emea"
) -> SourceRecordIn:
    return SourceRecordIn(
        record_id=record_id,
        modified_at=modified_at,
        payload={"id": record_id, "properties": {"name": name}},
        region=region,
        version=modified_at.isoformat(),
    )


def test_first_upsert_inserts_every_record(store: Store) -> None:
    counts = store.upsert_source_records(
        "crm", "company", [company("1", "Acme"), company("2", "Bolt")]
    )

    assert counts == UpsertCounts(inserted=2)
    assert [r.record_id for r in store.source_records("crm", "company")] == ["1", "2"]


def test_same_content_is_unchanged_but_marked_seen(store: Store, clock: ManualClock) -> None:
    store.upsert_source_records("crm", "company", [company("1", "Acme")])
    later = clock.advance()

    counts = store.upsert_source_records("crm", "company", [company("1", "Acme")])

    assert counts == UpsertCounts(unchanged=1)
    [record] = store.source_records("crm", "company")
    assert record.first_seen_at < record.last_seen_at == later


def test_key_order_in_the_payload_is_not_a_change(store: Store) -> None:
    store.upsert_source_records("crm", "company", [company("1", "Acme")])
    reordered = SourceRecordIn(
        "1", T0, {"properties": {"name": "Acme"}, "id": "1"}, "emea", T0.isoformat()
    )

    assert store.upsert_source_records("crm", "company", [reordered]) == UpsertCounts(unchanged=1)


def test_changed_content_updates_payload_hash_and_version(store: Store) -> None:
    store.upsert_source_records("crm", "company", [company("1", "Acme")])
    newer = company("1", "Acme GmbH", T0 + timedelta(hours=1))

    counts = store.upsert_source_records("crm", "company", [newer])

    assert counts == UpsertCounts(updated=1)
    [record] = store.source_records("crm", "company")
    assert record.payload["properties"]["name"] == "Acme GmbH"
    assert record.content_hash == content_hash(newer.payload)
    assert record.version == newer.version
    assert record.modified_at == newer.modified_at


def test_an_older_version_never_replaces_a_newer_one(store: Store) -> None:
    store.upsert_source_records(
        "crm", "company", [company("1", "Acme GmbH", T0 + timedelta(hours=1))]
    )

    counts = store.upsert_source_records("crm", "company", [company("1", "Acme", T0)])

    assert counts == UpsertCounts(stale=1)
    [record] = store.source_records("crm", "company")
    assert record.payload["properties"]["name"] == "Acme GmbH"


def test_duplicates_within_one_call_keep_the_newest(store: Store) -> None:
    batch = [company("1", "New", T0 + timedelta(minutes=5)), company("1", "Old", T0)]

    counts = store.upsert_source_records("crm", "company", batch)

    assert counts == UpsertCounts(inserted=1, stale=1)
    assert store.source_records("crm", "company")[0].payload["properties"]["name"] == "New"


def test_records_are_kept_per_system_object_type_and_region(store: Store) -> None:
    store.upsert_source_records(
        "crm", "company", [company("1", "A"), company("2", "B", region="na")]
    )
    store.upsert_source_records("billing", "customer", [company("1", "A")])

    assert [r.record_id for r in store.source_records("crm", "company", region="na")] == ["2"]
    assert len(store.source_records("billing", "customer")) == 1
    assert store.source_records("erp", "customer") == []


def test_large_batches_span_several_transactions(store: Store) -> None:
    records = [company(f"{i:05d}", f"Company {i}") for i in range(1_200)]

    assert store.upsert_source_records("crm", "company", records) == UpsertCounts(inserted=1_200)
    assert store.upsert_source_records("crm", "company", records) == UpsertCounts(unchanged=1_200)


def test_regions_of_the_snapshots_are_read_without_their_payloads(store: Store) -> None:
    at = datetime(2026, 11, 1, tzinfo=UTC)
    store.upsert_source_records(
        "billing",
        "customer",
        [
            SourceRecordIn("cus_1", at, {"name": "A"}, region="emea"),
            SourceRecordIn("cus_2", at, {"name": "B"}, region="na"),
            SourceRecordIn("cus_3", at, {"name": "C"}),
        ],
    )
    store.upsert_source_records("crm", "company", [SourceRecordIn("1", at, {}, region="apac")])

    assert store.source_regions("billing", "customer") == {"cus_1": "emea", "cus_2": "na"}
