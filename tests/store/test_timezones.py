"""Datetimes: aware UTC in, aware UTC out, on SQLite too; naive ones are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import StatementError

from sync_platform.store import NaiveDatetimeError, SourceRecordIn, Store
from sync_platform.store.schema import write_ledger

ZURICH_SUMMER = timezone(timedelta(hours=2))


def test_an_aware_datetime_comes_back_as_the_same_instant_in_utc(store: Store) -> None:
    modified = datetime(2026, 7, 1, 14, 30, 15, 123456, tzinfo=ZURICH_SUMMER)
    store.upsert_source_records("crm", "company", [SourceRecordIn("1", modified, {})])

    [record] = store.source_records("crm", "company")

    assert record.modified_at == modified
    assert record.modified_at.tzinfo == UTC
    assert record.modified_at.hour == 12
    assert record.first_seen_at.tzinfo == UTC


def test_ordering_follows_the_instant_not_the_local_clock(store: Store) -> None:
    utc_noon = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    earlier_but_later_on_the_wall = datetime(2026, 7, 1, 13, 0, tzinfo=ZURICH_SUMMER)  # 11:00Z
    store.upsert_source_records("crm", "company", [SourceRecordIn("1", utc_noon, {"v": 2})])

    counts = store.upsert_source_records(
        "crm", "company", [SourceRecordIn("1", earlier_but_later_on_the_wall, {"v": 1})]
    )

    assert counts.stale == 1


def test_a_naive_datetime_is_refused_with_a_clear_error() -> None:
    with pytest.raises(NaiveDatetimeError, match="timezone-aware UTC"):
        SourceRecordIn("1", datetime(2026, 7, 1, 12, 0), {})


def test_the_column_type_itself_refuses_naive_datetimes(store: Store) -> None:
    naive = datetime(2026, 7, 1, 12, 0)
    row = {
        "idempotency_key": "k",
        "system": "erp",
        "object_type": "customer",
        "operation": "create",
        "source_version": "v1",
        "correlation_id": "c",
        "payload_hash": "h",
        "status": "pending",
        "attempts": 1,
        "created_at": naive,
        "updated_at": naive,
    }
    # Raised inside SQLAlchemy's bind step, which wraps it; the message still says why.
    with (
        pytest.raises(StatementError, match="naive datetime") as caught,
        store.engine.begin() as conn,
    ):
        conn.execute(insert(write_ledger).values(row))
    assert isinstance(caught.value.orig, NaiveDatetimeError)
    with store.engine.begin() as conn:
        assert conn.execute(select(write_ledger)).first() is None
