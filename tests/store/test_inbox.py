"""The webhook inbox: events land once per (source, event id), runs take the pending ones in
order, and refused requests are recorded without their bodies."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from store_testing import ManualClock, at_once

from sync_platform.store import InboxEventIn, LandCounts, Store, StoreError


def event(event_id: str, event_type: str = "invoice.finalized", **extra: object) -> InboxEventIn:
    return InboxEventIn(
        event_id=event_id,
        event_type=event_type,
        payload={"id": event_id, "type": event_type, **extra},
        object_id="in_1",
        object_type="invoice",
        occurred_at=datetime(2026, 3, 1, 8, 59, tzinfo=UTC),
    )


def test_an_event_lands_once_however_often_it_is_delivered(store: Store) -> None:
    assert store.land_events("billing", [event("evt_1")]) == LandCounts(new=1, duplicate=0)
    assert store.land_events("billing", [event("evt_1"), event("evt_2")]) == LandCounts(1, 1)

    pending = store.pending_events()
    assert [e.event_id for e in pending] == ["evt_1", "evt_2"]
    first = pending[0]
    assert first.source == "billing"
    assert first.event_type == "invoice.finalized"
    assert (first.object_id, first.object_type) == ("in_1", "invoice")
    assert first.occurred_at == datetime(2026, 3, 1, 8, 59, tzinfo=UTC)
    assert first.received_at == datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    assert first.payload == {"id": "evt_1", "type": "invoice.finalized"}
    assert (first.status, first.processed_at, first.run_key) == ("pending", None, None)


def test_a_repeat_within_one_batch_counts_as_a_duplicate(store: Store) -> None:
    counts = store.land_events("crm", [event("7"), event("7", attemptNumber=1)])

    assert counts == LandCounts(new=1, duplicate=1)
    assert [e.payload for e in store.pending_events()] == [{"id": "7", "type": "invoice.finalized"}]


def test_the_events_of_a_failed_run_move_to_a_new_run_key(store: Store) -> None:
    store.land_events("billing", [event(f"evt_{n}") for n in range(1, 6)])
    pending = [e.id for e in store.pending_events()]
    store.schedule_events(pending[:2], "inbox:a")
    store.schedule_events(pending[2:4], "inbox:b~retry3")
    store.mark_events(pending[1:2], "processed")
    assert store.scheduled_run_keys() == ["inbox:a", "inbox:b~retry3"]
    assert store.scheduled_run_keys(excluding_suffix="~retry3") == ["inbox:a"]

    assert store.reschedule_events("inbox:a", "inbox:a~retry1") == 1
    assert [e.id for e in store.run_events("inbox:a~retry1")] == pending[:1]
    assert store.run_events("inbox:a") == []
    assert store.scheduled_run_keys(limit=1) == ["inbox:a~retry1"]


def test_the_same_event_id_from_two_sources_is_two_events(store: Store) -> None:
    store.land_events("billing", [event("1")])
    store.land_events("crm", [event("1")])

    assert [e.source for e in store.pending_events()] == ["billing", "crm"]
    assert [e.source for e in store.pending_events(source="crm")] == ["crm"]


def test_an_unknown_source_is_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="unknown inbox source 'erp'"):
        store.land_events("erp", [event("1")])


def test_pending_events_page_by_id_and_marked_ones_leave(store: Store, clock: ManualClock) -> None:
    store.land_events("billing", [event(f"evt_{i}") for i in range(5)])
    first_page = store.pending_events(limit=2)
    second_page = store.pending_events(after_id=first_page[-1].id, limit=2)
    assert [e.event_id for e in first_page + second_page] == [f"evt_{i}" for i in range(4)]

    clock.advance(30)
    moved = store.mark_events([e.id for e in first_page], "processed", run_key="run-1")
    assert moved == 2
    assert store.mark_events([first_page[0].id], "ignored", run_key="run-2") == 0
    store.mark_events([second_page[0].id], "ignored")

    assert [e.event_id for e in store.pending_events()] == ["evt_3", "evt_4"]
    assert store.inbox_counts() == {
        "billing": {"pending": 2, "processed": 2, "ignored": 1},
        "crm": {"pending": 0, "processed": 0, "ignored": 0},
    }


def test_events_can_only_be_marked_processed_or_ignored(store: Store) -> None:
    store.land_events("billing", [event("evt_1")])
    with pytest.raises(StoreError, match="not 'pending'"):
        store.mark_events([store.pending_events()[0].id], "pending")


def test_concurrent_deliveries_of_one_event_land_it_once(store: Store) -> None:
    results = at_once(lambda: store.land_events("billing", [event("evt_race")]), workers=4)

    assert sum(r.new for r in results) == 1
    assert sum(r.duplicate for r in results) == 3
    assert len(store.pending_events()) == 1


def test_rejections_are_recorded_newest_first(store: Store, clock: ManualClock) -> None:
    store.record_rejection(
        "billing",
        "bad_signature",
        "no v1 signature matches",
        remote="127.0.0.1",
        body_sha256="ab" * 32,
        body_bytes=120,
    )
    clock.advance(5)
    store.record_rejection("a-very-long-unknown-source-name", "unknown_source", "no such source")

    newest, oldest = store.rejections()
    assert (newest.source, newest.reason_code) == ("a-very-long-unkn", "unknown_source")
    assert newest.body_sha256 is None and newest.body_bytes == 0
    assert (oldest.source, oldest.reason_code, oldest.remote) == (
        "billing",
        "bad_signature",
        "127.0.0.1",
    )
    assert oldest.received_at == datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    assert store.rejections(reason_code="bad_signature") == [oldest]
    assert store.rejections(source="crm") == []
    assert store.rejections(since=clock.now) == [newest]


def test_an_unknown_rejection_reason_is_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="unknown rejection reason 'oops'"):
        store.record_rejection("billing", "oops", "?")
