"""The webhook inbox: verified events, one row per (source, event id), and refused requests.

The gateway lands events here and answers the sender only once they are committed; runs
read the pending ones in arrival order and mark them processed or ignored. Nothing is
processed in the request.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, func, insert, select, update

from sync_platform.store.dialect import insert_for
from sync_platform.store.errors import StoreError
from sync_platform.store.schema import INBOX_SOURCES, INBOX_STATUSES, REJECTION_REASONS
from sync_platform.store.schema import inbox_events as e
from sync_platform.store.schema import webhook_rejections as r

# Where an event can go once a run has taken it.
DONE_STATUSES = tuple(s for s in INBOX_STATUSES if s != "pending")
REJECTION_SOURCE_LENGTH = 16
# Events per INSERT when landing (9 bound values each, well inside SQLite's limit).
LAND_CHUNK = 500


@dataclass(frozen=True, slots=True)
class InboxEventIn:
    """One verified event as the sender described it; ``payload`` is the event itself."""

    event_id: str
    event_type: str
    payload: Any
    object_id: str | None = None
    object_type: str | None = None
    occurred_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class InboxEvent:
    id: int
    source: str
    event_id: str
    event_type: str
    object_id: str | None
    object_type: str | None
    occurred_at: datetime | None
    received_at: datetime
    payload: Any
    status: str
    processed_at: datetime | None
    run_key: str | None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class LandCounts:
    new: int = 0
    duplicate: int = 0


@dataclass(frozen=True, slots=True)
class Rejection:
    id: int
    source: str
    received_at: datetime
    reason_code: str
    detail: str
    remote: str | None
    body_sha256: str | None
    body_bytes: int


def require_source(source: str) -> str:
    if source not in INBOX_SOURCES:
        raise StoreError(f"unknown inbox source {source!r}; the sources are {INBOX_SOURCES}")
    return source


def land(
    conn: Connection, source: str, events: Iterable[InboxEventIn], now: datetime
) -> LandCounts:
    """Insert each event unless its (source, event id) is already there: one statement per
    ``LAND_CHUNK`` events (a HubSpot batch is one), duplicates skipped by the database."""
    new = duplicate = 0
    landing = list(events)
    for start in range(0, len(landing), LAND_CHUNK):
        rows = [
            {
                "source": source,
                "event_id": event.event_id,
                "event_type": event.event_type,
                "object_id": event.object_id,
                "object_type": event.object_type,
                "occurred_at": event.occurred_at,
                "received_at": now,
                "payload": event.payload,
                "status": "pending",
            }
            for event in landing[start : start + LAND_CHUNK]
        ]
        inserted = conn.execute(
            insert_for(conn, e)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["source", "event_id"])
        )
        new += inserted.rowcount
        duplicate += len(rows) - inserted.rowcount
    return LandCounts(new, duplicate)


def pending(conn: Connection, source: str | None, after_id: int, limit: int) -> list[InboxEvent]:
    query = select(e).where(e.c.status == "pending", e.c.id > after_id)
    if source is not None:
        query = query.where(e.c.source == require_source(source))
    return [_event(row) for row in conn.execute(query.order_by(e.c.id).limit(limit))]


def mark(
    conn: Connection,
    ids: Sequence[int],
    status: str,
    run_key: str | None,
    now: datetime,
    reason: str | None = None,
) -> int:
    """Move pending events to ``status``; returns how many moved (others were taken).
    Without ``run_key`` an event keeps the run it was scheduled for."""
    if status not in DONE_STATUSES:
        raise StoreError(f"inbox events can be marked {DONE_STATUSES}, not {status!r}")
    values: dict[str, Any] = {"status": status, "processed_at": now, "reason": reason}
    if run_key is not None:
        values["run_key"] = run_key
    result = conn.execute(
        update(e).where(e.c.id.in_(ids), e.c.status == "pending").values(**values)
    )
    return int(result.rowcount)


def schedule(conn: Connection, ids: Sequence[int], run_key: str) -> int:
    """Name the run that will take these pending events, unless one is named already."""
    result = conn.execute(
        update(e)
        .where(e.c.id.in_(ids), e.c.status == "pending", e.c.run_key.is_(None))
        .values(run_key=run_key)
    )
    return int(result.rowcount)


def scheduled_run_keys(conn: Connection, limit: int, excluding_suffix: str | None) -> list[str]:
    """Run keys that pending events are scheduled under, oldest first."""
    query = select(e.c.run_key, func.min(e.c.id).label("first")).where(
        e.c.status == "pending", e.c.run_key.is_not(None)
    )
    if excluding_suffix is not None:
        query = query.where(e.c.run_key.not_like(f"%{excluding_suffix}"))
    rows = conn.execute(query.group_by(e.c.run_key).order_by("first").limit(limit))
    return [str(run_key) for run_key, _ in rows]


def reschedule(conn: Connection, run_key: str, new_run_key: str) -> int:
    """Move the pending events of ``run_key`` to the run ``new_run_key``."""
    result = conn.execute(
        update(e).where(e.c.run_key == run_key, e.c.status == "pending").values(run_key=new_run_key)
    )
    return int(result.rowcount)


def for_run(conn: Connection, run_key: str, status: str | None) -> list[InboxEvent]:
    query = select(e).where(e.c.run_key == run_key)
    if status is not None:
        query = query.where(e.c.status == status)
    return [_event(row) for row in conn.execute(query.order_by(e.c.id))]


def record_rejection(
    conn: Connection,
    source: str,
    reason_code: str,
    detail: str,
    remote: str | None,
    body_sha256: str | None,
    body_bytes: int,
    now: datetime,
) -> Rejection:
    if reason_code not in REJECTION_REASONS:
        raise StoreError(
            f"unknown rejection reason {reason_code!r}; use one of {REJECTION_REASONS}"
        )
    inserted = conn.execute(
        insert(r).values(
            # The source of a request to an unknown path is whatever the path said.
            source=source[:REJECTION_SOURCE_LENGTH],
            received_at=now,
            reason_code=reason_code,
            detail=detail,
            remote=remote,
            body_sha256=body_sha256,
            body_bytes=body_bytes,
        )
    )
    (new_id,) = inserted.inserted_primary_key or (None,)
    row = conn.execute(select(r).where(r.c.id == new_id)).one()
    return _rejection(row)


def list_rejections(
    conn: Connection,
    source: str | None,
    reason_code: str | None,
    since: datetime | None,
    limit: int,
) -> list[Rejection]:
    query = select(r)
    if source is not None:
        query = query.where(r.c.source == source)
    if reason_code is not None:
        query = query.where(r.c.reason_code == reason_code)
    if since is not None:
        query = query.where(r.c.received_at >= since)
    rows = conn.execute(query.order_by(r.c.id.desc()).limit(limit))
    return [_rejection(row) for row in rows]


def counts(conn: Connection) -> dict[str, dict[str, int]]:
    """Events per source and status, every source and status present (zero if none)."""
    found = {source: dict.fromkeys(INBOX_STATUSES, 0) for source in INBOX_SOURCES}
    rows = conn.execute(
        select(e.c.source, e.c.status, func.count()).group_by(e.c.source, e.c.status)
    )
    for source, status, count in rows:
        found[source][status] = int(count)
    return found


def _event(row: Row[Any]) -> InboxEvent:
    return InboxEvent(**row._mapping)


def _rejection(row: Row[Any]) -> Rejection:
    return Rejection(**row._mapping)
