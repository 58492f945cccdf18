"""Ownership conflicts: a non-owner system holding a different value than the owner."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from sync_platform.store.dialect import insert_for
from sync_platform.store.schema import conflicts as t

ConflictKey = tuple[str, str, str]  # canonical_id, attribute, other_system


@dataclass(frozen=True, slots=True)
class ConflictIn:
    canonical_id: str
    attribute: str
    owner_system: str
    owner_value: Any
    other_system: str
    other_record_id: str
    other_value: Any

    @property
    def key(self) -> ConflictKey:
        return (self.canonical_id, self.attribute, self.other_system)


@dataclass(frozen=True, slots=True)
class Conflict:
    id: int
    canonical_id: str
    region: str
    attribute: str
    owner_system: str
    owner_value: Any
    other_system: str
    other_record_id: str
    other_value: Any
    status: str
    first_seen_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True, slots=True)
class ConflictCounts:
    opened: int = 0  # new, or resolved before and back again
    still_open: int = 0
    resolved: int = 0


def sync(
    conn: Connection, region: str, current: Iterable[ConflictIn], now: datetime
) -> ConflictCounts:
    wanted = {c.key: c for c in current}
    open_before: dict[ConflictKey, int] = {
        (row.canonical_id, row.attribute, row.other_system): row.id
        for row in conn.execute(
            select(t.c.id, t.c.canonical_id, t.c.attribute, t.c.other_system).where(
                t.c.region == region, t.c.status == "open"
            )
        )
    }
    for key in sorted(wanted):
        _open(conn, region, wanted[key], now)
    gone = sorted(row_id for key, row_id in open_before.items() if key not in wanted)
    if gone:
        conn.execute(
            update(t)
            .where(t.c.id.in_(gone), t.c.status == "open")
            .values(status="resolved", resolved_at=now)
        )
    still_open = sum(1 for key in wanted if key in open_before)
    return ConflictCounts(len(wanted) - still_open, still_open, len(gone))


def _open(conn: Connection, region: str, conflict: ConflictIn, now: datetime) -> None:
    stmt = insert_for(conn, t).values(
        canonical_id=conflict.canonical_id,
        region=region,
        attribute=conflict.attribute,
        owner_system=conflict.owner_system,
        owner_value=conflict.owner_value,
        other_system=conflict.other_system,
        other_record_id=conflict.other_record_id,
        other_value=conflict.other_value,
        status="open",
        first_seen_at=now,
        last_seen_at=now,
    )
    latest = (
        "region",
        "owner_system",
        "owner_value",
        "other_record_id",
        "other_value",
        "status",
        "last_seen_at",
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[t.c.canonical_id, t.c.attribute, t.c.other_system],
            set_={**{name: stmt.excluded[name] for name in latest}, "resolved_at": None},
        )
    )


def list_conflicts(conn: Connection, region: str | None, status: str | None) -> list[Conflict]:
    query = select(t).order_by(t.c.id)
    if region is not None:
        query = query.where(t.c.region == region)
    if status is not None:
        query = query.where(t.c.status == status)
    return [Conflict(**row._asdict()) for row in conn.execute(query)]
