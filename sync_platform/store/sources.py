"""Source snapshots: the last version of each record read from the CRM, billing or ERP."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, func, select, update

from sync_platform.hashing import content_hash
from sync_platform.store.columns import require_aware
from sync_platform.store.dialect import insert_for
from sync_platform.store.schema import source_records as t


@dataclass(frozen=True, slots=True)
class SourceRecordIn:
    record_id: str
    modified_at: datetime
    payload: dict[str, Any]
    region: str | None = None
    version: str | None = None
    business_date: date | None = None  # the day a financial document belongs to

    def __post_init__(self) -> None:
        require_aware(self.modified_at)


@dataclass(frozen=True, slots=True)
class SourceRecord:
    system: str
    object_type: str
    record_id: str
    region: str | None
    version: str | None
    modified_at: datetime
    payload: dict[str, Any]
    content_hash: str
    first_seen_at: datetime
    last_seen_at: datetime
    business_date: date | None = None


@dataclass(frozen=True, slots=True)
class UpsertCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0  # older than what the store already holds, so not applied

    def __add__(self, other: UpsertCounts) -> UpsertCounts:
        return UpsertCounts(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
            self.stale + other.stale,
        )


def newest_per_id(records: Iterable[SourceRecordIn]) -> tuple[list[SourceRecordIn], int]:
    """One record per id (the newest; the later one on a tie), sorted by id, plus how many
    older duplicates were dropped.

    Sorting makes concurrent writers lock rows in the same order, so PostgreSQL never
    deadlocks between two runs upserting overlapping batches.
    """
    newest: dict[str, SourceRecordIn] = {}
    dropped = 0
    for record in records:
        seen = newest.get(record.record_id)
        if seen is not None:
            dropped += 1
            if record.modified_at < seen.modified_at:
                continue
        newest[record.record_id] = record
    return [newest[k] for k in sorted(newest)], dropped


def upsert_batch(
    conn: Connection,
    system: str,
    object_type: str,
    records: Sequence[SourceRecordIn],
    now: datetime,
) -> UpsertCounts:
    """Apply one batch of records with distinct ids, in one transaction."""
    hashes = {r.record_id: content_hash(r.payload) for r in records}
    key = (t.c.system == system) & (t.c.object_type == object_type)
    stored_hash = dict(
        conn.execute(
            select(t.c.record_id, t.c.content_hash).where(
                key, t.c.record_id.in_([r.record_id for r in records])
            )
        ).all()
    )
    unchanged_ids = {
        r.record_id for r in records if stored_hash.get(r.record_id) == hashes[r.record_id]
    }
    if unchanged_ids:
        conn.execute(
            update(t).where(key, t.c.record_id == bindparam("rid")).values(last_seen_at=now),
            [{"rid": rid} for rid in sorted(unchanged_ids)],
        )
    counts = UpsertCounts(unchanged=len(unchanged_ids))
    for record in records:
        if record.record_id in unchanged_ids:
            continue
        digest = hashes[record.record_id]
        if record.record_id not in stored_hash and _insert(
            conn, system, object_type, record, digest, now
        ):
            counts += UpsertCounts(inserted=1)
        else:
            counts += _update(conn, system, object_type, record, digest, now)
    return counts


def _insert(
    conn: Connection,
    system: str,
    object_type: str,
    record: SourceRecordIn,
    digest: str,
    now: datetime,
) -> bool:
    """Insert unless a concurrent run inserted the same record first."""
    stmt = insert_for(conn, t).values(
        system=system,
        object_type=object_type,
        record_id=record.record_id,
        region=record.region,
        version=record.version,
        business_date=record.business_date,
        modified_at=record.modified_at,
        payload=record.payload,
        content_hash=digest,
        first_seen_at=now,
        last_seen_at=now,
    )
    return conn.execute(stmt.on_conflict_do_nothing()).rowcount == 1


def _update(
    conn: Connection,
    system: str,
    object_type: str,
    record: SourceRecordIn,
    digest: str,
    now: datetime,
) -> UpsertCounts:
    row = (
        (t.c.system == system)
        & (t.c.object_type == object_type)
        & (t.c.record_id == record.record_id)
    )
    # The modified_at guard sits in the UPDATE itself, so a concurrent run holding a newer
    # version can never be overwritten by this one.
    changed = conn.execute(
        update(t)
        .where(row, t.c.modified_at <= record.modified_at, t.c.content_hash != digest)
        .values(
            region=record.region,
            version=record.version,
            business_date=record.business_date,
            modified_at=record.modified_at,
            payload=record.payload,
            content_hash=digest,
            last_seen_at=now,
        )
    )
    if changed.rowcount == 1:
        return UpsertCounts(updated=1)
    same = conn.execute(update(t).where(row, t.c.content_hash == digest).values(last_seen_at=now))
    return UpsertCounts(unchanged=1) if same.rowcount == 1 else UpsertCounts(stale=1)


def list_records(
    conn: Connection,
    system: str,
    object_type: str,
    region: str | None,
    business_date: date | None = None,
) -> list[SourceRecord]:
    query = select(t).where(t.c.system == system, t.c.object_type == object_type)
    if region is not None:
        query = query.where(t.c.region == region)
    if business_date is not None:
        query = query.where(t.c.business_date == business_date)
    return [_record(row) for row in conn.execute(query.order_by(t.c.record_id))]


def _record(row: Row[Any]) -> SourceRecord:
    return SourceRecord(**row._asdict())


def regions(conn: Connection, system: str, object_type: str) -> dict[str, str]:
    """Record id → region, without reading the payloads."""
    rows = conn.execute(
        select(t.c.record_id, t.c.region).where(
            t.c.system == system, t.c.object_type == object_type, t.c.region.is_not(None)
        )
    )
    return {record_id: region for record_id, region in rows}


def latest_modified(
    conn: Connection, system: str, object_type: str, region: str | None
) -> datetime | None:
    """The newest source modification time stored, or None when nothing is."""
    query = select(func.max(t.c.modified_at)).where(
        t.c.system == system, t.c.object_type == object_type
    )
    if region is not None:
        query = query.where(t.c.region == region)
    # max() keeps the column's type, so the value comes back an aware UTC datetime.
    newest: datetime | None = conn.execute(query).scalar_one_or_none()
    return newest
