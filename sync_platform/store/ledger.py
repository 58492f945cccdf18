"""The write ledger: one row per idempotency key for every write to another system."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from sync_platform.store.dialect import insert_for
from sync_platform.store.errors import LedgerError
from sync_platform.store.schema import write_ledger as t


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    idempotency_key: str
    system: str
    object_type: str
    object_id: str | None
    operation: str
    source_version: str
    correlation_id: str
    payload_hash: str
    status: str
    attempts: int
    last_error: str | None
    response: Any
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class WriteIntent:
    idempotency_key: str
    system: str
    object_type: str
    operation: str
    source_version: str
    correlation_id: str
    payload_hash: str


def begin(conn: Connection, intent: WriteIntent, now: datetime) -> LedgerEntry:
    inserted = conn.execute(
        insert_for(conn, t)
        .values(
            idempotency_key=intent.idempotency_key,
            system=intent.system,
            object_type=intent.object_type,
            operation=intent.operation,
            source_version=intent.source_version,
            correlation_id=intent.correlation_id,
            payload_hash=intent.payload_hash,
            status="pending",
            attempts=1,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing()
    )
    if inserted.rowcount != 1:
        # A retry: count the attempt and remember what this attempt sends. A succeeded
        # write stays as it is, so the caller sees it and does not write again.
        conn.execute(
            update(t)
            .where(t.c.idempotency_key == intent.idempotency_key, t.c.status != "succeeded")
            .values(
                status="pending",
                attempts=t.c.attempts + 1,
                payload_hash=intent.payload_hash,
                updated_at=now,
            )
        )
    return get_required(conn, intent.idempotency_key)


def complete(
    conn: Connection, key: str, object_id: str | None, response: Any, now: datetime
) -> LedgerEntry:
    result = conn.execute(
        update(t)
        .where(t.c.idempotency_key == key, t.c.status != "succeeded")
        .values(status="succeeded", object_id=object_id, response=response, updated_at=now)
    )
    entry = get_required(conn, key)
    # Completing twice with the same object is a harmless replay; another object is a bug.
    if result.rowcount != 1 and entry.object_id != object_id:
        raise LedgerError(
            f"write {key!r} already succeeded for {entry.system} {entry.object_type} "
            f"{entry.object_id!r}; it cannot complete again for {object_id!r}"
        )
    return entry


def fail(conn: Connection, key: str, error: str, now: datetime) -> LedgerEntry:
    result = conn.execute(
        update(t)
        .where(t.c.idempotency_key == key, t.c.status != "succeeded")
        .values(status="failed", last_error=error, updated_at=now)
    )
    entry = get_required(conn, key)
    if result.rowcount != 1:
        raise LedgerError(
            f"write {key!r} already succeeded ({entry.system} {entry.object_type} "
            f"{entry.object_id!r}); a failure cannot be recorded after success"
        )
    return entry


def get(conn: Connection, key: str) -> LedgerEntry | None:
    row = conn.execute(select(t).where(t.c.idempotency_key == key)).first()
    return None if row is None else LedgerEntry(**row._asdict())


def get_required(conn: Connection, key: str) -> LedgerEntry:
    entry = get(conn, key)
    if entry is None:
        raise LedgerError(f"no ledger entry for idempotency key {key!r}; call begin_write first")
    return entry


def last_written_hash(
    conn: Connection, system: str, object_type: str, object_id: str
) -> str | None:
    return conn.execute(
        select(t.c.payload_hash)
        .where(
            t.c.system == system,
            t.c.object_type == object_type,
            t.c.object_id == object_id,
            t.c.status == "succeeded",
        )
        .order_by(t.c.updated_at.desc(), t.c.created_at.desc())
        .limit(1)
    ).scalar()
