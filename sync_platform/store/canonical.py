"""Canonical customers: the merged record per customer, with a revision that counts changes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from sync_platform.hashing import content_hash
from sync_platform.store.dialect import insert_for
from sync_platform.store.schema import canonical_customers as t
from sync_platform.store.schema import customer_xref


@dataclass(frozen=True, slots=True)
class CanonicalRow:
    canonical_id: str
    region: str
    record: dict[str, Any]
    record_hash: str
    revision: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class SaveCounts:
    created: int = 0
    changed: int = 0
    unchanged: int = 0


def missing_xrefs(conn: Connection, canonical_ids: list[str]) -> list[str]:
    known = set(
        conn.execute(
            select(customer_xref.c.canonical_id).where(
                customer_xref.c.canonical_id.in_(canonical_ids)
            )
        ).scalars()
    )
    return [c for c in canonical_ids if c not in known]


def save_batch(
    conn: Connection, region: str, records: Mapping[str, dict[str, Any]], now: datetime
) -> SaveCounts:
    """Save records whose cross-references exist; ids are processed in sorted order so
    concurrent runs lock rows in the same order."""
    created = changed = unchanged = 0
    for canonical_id in sorted(records):
        record = records[canonical_id]
        digest = content_hash(record)
        inserted = conn.execute(
            insert_for(conn, t)
            .values(
                canonical_id=canonical_id,
                region=region,
                record=record,
                record_hash=digest,
                revision=1,
                updated_at=now,
            )
            .on_conflict_do_nothing()
        )
        if inserted.rowcount == 1:
            created += 1
            continue
        # Comparing hashes inside the UPDATE keeps the revision exact under concurrency.
        result = conn.execute(
            update(t)
            .where(t.c.canonical_id == canonical_id, t.c.record_hash != digest)
            .values(
                region=region,
                record=record,
                record_hash=digest,
                revision=t.c.revision + 1,
                updated_at=now,
            )
        )
        if result.rowcount == 1:
            changed += 1
        else:
            unchanged += 1
    return SaveCounts(created, changed, unchanged)


def list_rows(conn: Connection, region: str | None) -> dict[str, CanonicalRow]:
    query = select(t).order_by(t.c.canonical_id)
    if region is not None:
        query = query.where(t.c.region == region)
    return {row.canonical_id: CanonicalRow(**row._asdict()) for row in conn.execute(query)}
