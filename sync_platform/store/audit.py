"""The audit trail: append-only records, each holding the hash of the record before it.

``hash = sha256(canonical JSON of the record's fields and prev_hash)``, so editing a record
no longer matches its hash and deleting one leaves a gap in the ids and a broken link.
Appends are serialised so two writers can never both extend the same head: PostgreSQL takes
an EXCLUSIVE lock on the table until commit (readers go on, other appenders wait); SQLite's
write transaction already is exclusive (the store begins every transaction IMMEDIATE). The
database itself refuses UPDATE and DELETE on the table, and any INSERT that does not extend
the head (triggers from migration 0007, named in ``GUARD_TRIGGERS``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, text

from sync_platform.hashing import content_hash
from sync_platform.store.errors import StoreError
from sync_platform.store.schema import audit_records as t
from sync_platform.store.schema import transaction_attempts
from sync_platform.store.transactions import Transaction

GENESIS_HASH = "0" * 64  # the prev_hash of the first record
# The triggers migration 0007 creates, per dialect: with any of them gone or disabled the
# database no longer refuses edits, so the chain alone cannot be trusted.
GUARD_TRIGGERS = {
    "sqlite": (
        "audit_records_no_update",
        "audit_records_no_delete",
        "audit_records_append_only",
    ),
    "postgresql": (
        "audit_records_no_change",
        "audit_records_no_truncate",
        "audit_records_append_only",
    ),
}
PLATFORM_ACTOR = "sync-platform"  # the actor of what the platform does on its own


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """What to record: who did what to which subject, why, and the facts worth keeping."""

    actor: str
    action: str
    subject: str
    reason: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    at: datetime
    actor: str
    action: str
    subject: str
    reason: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str

    def expected_hash(self) -> str:
        """The hash this record's contents and link should carry."""
        return record_hash(
            self.id,
            self.at,
            self.actor,
            self.action,
            self.subject,
            self.reason,
            self.details,
            self.prev_hash,
        )


POSTED_AFTER = {"replayed": "posted after a replay", "retried": "posted on a retry"}


def posting_entry(txn: Transaction, came_from: str, move: Mapping[str, Any]) -> AuditEntry:
    """The record of an ERP posting: the billing document, the ERP document it became."""
    payload = txn.payload
    return AuditEntry(
        actor=PLATFORM_ACTOR,
        action="erp_posted",
        subject=txn.txn_id,
        reason=move.get("message") or POSTED_AFTER.get(came_from),
        details={
            "kind": txn.kind,
            "region": txn.region,
            "business_date": txn.business_date.isoformat(),
            "source_id": txn.source_id,
            "source_version": txn.source_version,
            "correlation_id": txn.correlation_id,
            "erp_document_id": txn.erp_document_id,
            "erp_document_number": txn.erp_document_number,
            "currency": payload.get("currency"),
            # Minor units: an invoice's or credit note's total, a payment's amount.
            "amount": payload.get("total", payload.get("amount")),
            "came_from": came_from,
        },
    )


def record_hash(
    record_id: int,
    at: datetime,
    actor: str,
    action: str,
    subject: str,
    reason: str | None,
    details: Mapping[str, Any],
    prev_hash: str,
) -> str:
    return content_hash(
        {
            "id": record_id,
            "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
            "actor": actor,
            "action": action,
            "subject": subject,
            "reason": reason,
            "details": details,
            "prev_hash": prev_hash,
        }
    )


def append(conn: Connection, entries: Sequence[AuditEntry], now: datetime) -> list[AuditRecord]:
    """Append ``entries`` after the current head, inside the caller's transaction."""
    if not entries:
        return []
    lock_for_append(conn)
    head = conn.execute(select(t.c.id, t.c.hash).order_by(t.c.id.desc()).limit(1)).first()
    last_id, prev_hash = (head.id, head.hash) if head is not None else (0, GENESIS_HASH)
    # Microseconds are what both databases keep, so the hash is over what is stored.
    at = now.astimezone(UTC)
    appended: list[AuditRecord] = []
    for offset, entry in enumerate(entries, 1):
        record = _sealed(last_id + offset, at, entry, prev_hash)
        appended.append(record)
        prev_hash = record.hash
    conn.execute(
        insert(t),
        [
            {
                "id": r.id,
                "at": r.at,
                "actor": r.actor,
                "action": r.action,
                "subject": r.subject,
                "reason": r.reason,
                "details": r.details,
                "prev_hash": r.prev_hash,
                "hash": r.hash,
            }
            for r in appended
        ],
    )
    return appended


def lock_for_append(conn: Connection) -> None:
    """Hold the right to append until the transaction ends."""
    if conn.dialect.name == "postgresql":
        # Under READ COMMITTED (the store's level) the head is read after the lock is held.
        conn.execute(text(f"LOCK TABLE {t.name} IN EXCLUSIVE MODE"))


def _sealed(record_id: int, at: datetime, entry: AuditEntry, prev_hash: str) -> AuditRecord:
    for name in ("actor", "action", "subject"):
        if not str(getattr(entry, name)).strip():
            raise StoreError(f"an audit record needs a non-blank {name} ({entry!r})")
    details = _json_document(entry)
    reason = (entry.reason or "").strip() or None
    digest = record_hash(
        record_id, at, entry.actor, entry.action, entry.subject, reason, details, prev_hash
    )
    return AuditRecord(
        record_id, at, entry.actor, entry.action, entry.subject, reason, details, prev_hash, digest
    )


def _json_document(entry: AuditEntry) -> dict[str, Any]:
    """The details as the database will give them back, so the hash stays verifiable.

    Floats are refused: PostgreSQL's JSONB may print them back differently (1e300 returns
    as an integer), which would read as an edit. Money is integer minor units anyway."""
    try:
        text_form = json.dumps(dict(entry.details), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"audit details of {entry.action} {entry.subject!r}: {exc}") from None
    document: dict[str, Any] = json.loads(text_form)
    if _has_float(document):
        raise StoreError(
            f"audit details of {entry.action} {entry.subject!r} hold a float; record amounts "
            "as integer minor units and other numbers as text"
        )
    return document


def _has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_has_float(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_float(v) for v in value)
    return False


def list_records(conn: Connection, after_id: int, limit: int | None) -> list[AuditRecord]:
    query = select(t).where(t.c.id > after_id).order_by(t.c.id).limit(limit)
    return [AuditRecord(**row._asdict()) for row in conn.execute(query)]


def latest_by_subject(conn: Connection, actions: Iterable[str]) -> dict[str, AuditRecord]:
    """The newest record of each subject among ``actions``."""
    query = select(t).where(t.c.action.in_(list(actions))).order_by(t.c.id)
    return {row.subject: AuditRecord(**row._asdict()) for row in conn.execute(query)}


CONFIG_ACTIONS = ("config_changed", "config_removed")


def config_entries(
    conn: Connection, hashes: Mapping[str, str], actor: str, details: dict[str, Any]
) -> list[AuditEntry]:
    """Entries for the config files whose sha256 differs from the last one recorded (a file
    seen for the first time too), and for recorded files no longer there."""
    last = {
        subject: record.details.get("sha256") if record.action == "config_changed" else None
        for subject, record in latest_by_subject(conn, CONFIG_ACTIONS).items()
    }
    entries = [
        AuditEntry(
            actor,
            "config_changed",
            name,
            "first recorded" if name not in last else "content differs from the last recorded",
            {**details, "sha256": digest, "previous_sha256": last.get(name)},
        )
        for name, digest in sorted(hashes.items())
        if last.get(name) != digest
    ]
    entries += [
        AuditEntry(
            actor, "config_removed", name, "file no longer there", {**details, "previous_sha256": h}
        )
        for name, h in sorted(last.items())
        if h is not None and name not in hashes
    ]
    return entries


def guard_trigger_states(conn: Connection) -> dict[str, bool]:
    """Each guard trigger found on the table → whether it is enabled."""
    if conn.dialect.name == "postgresql":
        rows = conn.execute(
            text(
                "SELECT tgname, tgenabled <> 'D' FROM pg_trigger "
                "WHERE tgrelid = to_regclass(:table) AND NOT tgisinternal"
            ),
            {"table": t.name},
        )
        return {name: bool(enabled) for name, enabled in rows}
    rows = conn.execute(
        text("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :table"),
        {"table": t.name},
    )
    return {name: True for (name,) in rows}


@dataclass(frozen=True, slots=True)
class UnauditedPosting:
    txn_id: str
    at: datetime


def first_unaudited_posting(conn: Connection) -> UnauditedPosting | None:
    """The earliest posting without its ``erp_posted`` record: the n-th posting of a
    transaction needs n such records. Only postings at or after the first record count (a
    store upgraded from before the audit trail posted without one); with no records at all,
    every posting counts."""
    a = transaction_attempts
    earlier = a.alias("earlier")
    first_at = conn.execute(select(func.min(t.c.at))).scalar()
    counted = a.c.to_stage == "posted"
    earlier_counted = earlier.c.to_stage == "posted"
    if first_at is not None:
        counted = and_(counted, a.c.at >= first_at)
        earlier_counted = and_(earlier_counted, earlier.c.at >= first_at)
    nth = (
        select(func.count())
        .where(earlier.c.txn_id == a.c.txn_id, earlier_counted, earlier.c.seq <= a.c.seq)
        .scalar_subquery()
    )
    recorded = (
        select(func.count())
        .where(t.c.action == "erp_posted", t.c.subject == a.c.txn_id)
        .scalar_subquery()
    )
    row = conn.execute(
        select(a.c.txn_id, a.c.at).where(counted, nth > recorded).order_by(a.c.at, a.c.id).limit(1)
    ).first()
    return UnauditedPosting(row.txn_id, row.at) if row is not None else None
