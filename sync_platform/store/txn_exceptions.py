"""Transaction exceptions: why a transaction is not in the ERP, for finance to act on.

A transaction has at most one open exception; the database enforces it through
``open_txn_id``, which holds the txn id while the exception is open and NULL once closed.
The same reason seen again counts another occurrence; another reason supersedes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import Connection, func, insert, select, update

from sync_platform.store.schema import transaction_exceptions as t
from sync_platform.store.transactions import Transaction

# What closes an exception when its transaction is posted, by the stage it was posted from.
POSTED_RESOLUTIONS = {"retried": "posted after retry", "replayed": "posted after replay"}


@dataclass(frozen=True, slots=True)
class TransactionException:
    id: int
    txn_id: str
    kind: str
    region: str
    source_system: str
    reason_code: str
    message: str
    status: str
    occurrences: int
    opened_at: datetime
    last_seen_at: datetime
    closed_at: datetime | None
    resolution: str | None
    correlation_id: str


_COLUMNS = [t.c[field.name] for field in fields(TransactionException)]


def open_exception(
    conn: Connection, txn: Transaction, reason_code: str, message: str, now: datetime
) -> TransactionException:
    """Open (or count again) the exception of ``txn``, which the caller has locked."""
    current = conn.execute(
        select(t.c.id, t.c.reason_code).where(t.c.open_txn_id == txn.txn_id)
    ).first()
    if current is not None and current.reason_code == reason_code:
        conn.execute(
            update(t)
            .where(t.c.id == current.id)
            .values(
                occurrences=t.c.occurrences + 1,
                last_seen_at=now,
                message=message,
                region=txn.region,
            )
        )
        return _get(conn, current.id)
    if current is not None:
        close(conn, txn.txn_id, f"superseded by {reason_code}", now)
    opened = conn.execute(
        insert(t)
        .values(
            txn_id=txn.txn_id,
            kind=txn.kind,
            region=txn.region,
            source_system=txn.source_system,
            reason_code=reason_code,
            message=message,
            status="open",
            open_txn_id=txn.txn_id,
            occurrences=1,
            opened_at=now,
            last_seen_at=now,
            correlation_id=txn.correlation_id,
        )
        .returning(t.c.id)
    ).scalar_one()
    return _get(conn, opened)


def close(conn: Connection, txn_id: str, resolution: str, now: datetime) -> int:
    result = conn.execute(
        update(t)
        .where(t.c.open_txn_id == txn_id)
        .values(status="closed", open_txn_id=None, closed_at=now, resolution=resolution)
    )
    return result.rowcount


def posted_resolution(previous_stage: str) -> str:
    return POSTED_RESOLUTIONS.get(previous_stage, "posted")


def _get(conn: Connection, exception_id: int) -> TransactionException:
    row = conn.execute(select(*_COLUMNS).where(t.c.id == exception_id)).one()
    return TransactionException(**row._asdict())


def list_exceptions(
    conn: Connection,
    *,
    status: str | None,
    reason_code: str | None,
    region: str | None,
    kind: str | None,
    opened_since: datetime | None,
    txn_ids: Sequence[str] | None,
) -> list[TransactionException]:
    query = select(*_COLUMNS).order_by(t.c.opened_at, t.c.id)
    for column, value in (
        ("status", status),
        ("reason_code", reason_code),
        ("region", region),
        ("kind", kind),
    ):
        if value is not None:
            query = query.where(t.c[column] == value)
    if opened_since is not None:
        query = query.where(t.c.opened_at >= opened_since)
    if txn_ids is not None:
        query = query.where(t.c.txn_id.in_(txn_ids))
    return [TransactionException(**row._asdict()) for row in conn.execute(query)]


def in_order(found: Sequence[TransactionException]) -> list[TransactionException]:
    return sorted(found, key=lambda e: (e.opened_at, e.id))


def open_counts(conn: Connection, region: str | None) -> dict[str, int]:
    query = select(t.c.reason_code, func.count()).where(t.c.status == "open")
    if region is not None:
        query = query.where(t.c.region == region)
    return {reason: count for reason, count in conn.execute(query.group_by(t.c.reason_code))}
