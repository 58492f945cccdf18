"""Financial transactions: one row per billing document, its lifecycle stage and attempts.

The correlation id is fixed at first contact: receiving a new version of a document keeps
the one it was first received with, so logs, run tags and ERP documents stay joined up.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, bindparam, func, insert, select, tuple_, update

from sync_platform.store.errors import InvalidTransition, StoreError, TransactionNotFound
from sync_platform.store.schema import ATTEMPT_OUTCOMES
from sync_platform.store.schema import transaction_attempts as a
from sync_platform.store.schema import transactions as t
from sync_platform.transactions.lifecycle import (
    COUNTED_AS_ATTEMPT,
    IN_ERP,
    TransitionError,
    check_transition,
)
from sync_platform.transactions.model import TRANSACTION_KINDS, CanonicalTransaction

# Namespace of the correlation ids derived from a txn id, so a re-read derives the same one.
CORRELATION_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:sync-platform:correlation")


def derived_correlation_id(txn_id: str) -> str:
    return str(uuid.uuid5(CORRELATION_NAMESPACE, txn_id))


@dataclass(frozen=True, slots=True)
class TransactionIn:
    txn_id: str
    kind: str
    source_system: str
    source_id: str
    region: str
    business_date: date
    source_version: str
    correlation_id: str
    payload: dict[str, Any]

    def __post_init__(self) -> None:
        if self.kind not in TRANSACTION_KINDS:
            raise StoreError(
                f"transaction {self.txn_id!r} has kind {self.kind!r}; "
                f"the kinds are {', '.join(TRANSACTION_KINDS)}"
            )
        if not self.correlation_id:
            raise StoreError(
                f"transaction {self.txn_id!r} has no correlation id; use from_canonical(), "
                "which derives one when the source gave none"
            )

    @classmethod
    def from_canonical(cls, txn: CanonicalTransaction) -> TransactionIn:
        """The payload is the canonical document, carrying the correlation id used here."""
        correlation_id = txn.correlation_id or derived_correlation_id(txn.txn_id)
        payload = txn.model_copy(update={"correlation_id": correlation_id}).model_dump(mode="json")
        return cls(
            txn_id=txn.txn_id,
            kind=txn.kind,
            source_system=txn.source_system,
            source_id=txn.source_id,
            region=txn.region,
            business_date=txn.business_date,
            source_version=txn.source_version,
            correlation_id=correlation_id,
            payload=payload,
        )


@dataclass(frozen=True, slots=True)
class Transaction:
    txn_id: str
    kind: str
    source_system: str
    source_id: str
    region: str
    business_date: date
    stage: str
    source_version: str
    correlation_id: str
    payload: dict[str, Any]
    erp_document_id: str | None
    erp_document_number: str | None
    attempts: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Attempt:
    id: int
    txn_id: str
    seq: int
    at: datetime
    from_stage: str | None
    to_stage: str
    outcome: str
    reason_code: str | None
    message: str | None
    erp_response: Any


@dataclass(frozen=True, slots=True)
class ReceiveCounts:
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    # Changed at the source after the ERP got them: left as they are, for someone to look at.
    changed_after_posting: tuple[str, ...] = ()

    def __add__(self, other: ReceiveCounts) -> ReceiveCounts:
        return ReceiveCounts(
            self.new + other.new,
            self.changed + other.changed,
            self.unchanged + other.unchanged,
            self.changed_after_posting + other.changed_after_posting,
        )


def last_per_id(items: Iterable[TransactionIn]) -> list[TransactionIn]:
    """One item per txn id (the last given), sorted by id so concurrent writers lock rows in
    the same order."""
    last = {item.txn_id: item for item in items}
    return [last[k] for k in sorted(last)]


def receive_batch(conn: Connection, items: Sequence[TransactionIn], now: datetime) -> ReceiveCounts:
    """Apply one batch of items with distinct ids, in one transaction."""
    stored = {
        row.txn_id: row
        for row in conn.execute(
            select(t.c.txn_id, t.c.source_version, t.c.stage).where(
                t.c.txn_id.in_([i.txn_id for i in items])
            )
        )
    }
    new = [i for i in items if i.txn_id not in stored]
    changed = [
        i
        for i in items
        if i.txn_id in stored and stored[i.txn_id].source_version != i.source_version
    ]
    posted = tuple(i.txn_id for i in changed if stored[i.txn_id].stage in IN_ERP)
    to_update = [i for i in changed if stored[i.txn_id].stage not in IN_ERP]
    if new:
        _insert(conn, new, now)
    late = _update(conn, to_update, now) if to_update else ()
    return ReceiveCounts(
        new=len(new),
        changed=len(to_update) - len(late),
        unchanged=len(items) - len(new) - len(changed),
        changed_after_posting=tuple(sorted(posted + late)),
    )


def _insert(conn: Connection, items: Sequence[TransactionIn], now: datetime) -> None:
    conn.execute(
        insert(t),
        [
            {
                "txn_id": i.txn_id,
                "kind": i.kind,
                "source_system": i.source_system,
                "source_id": i.source_id,
                "region": i.region,
                "business_date": i.business_date,
                "stage": "received",
                "source_version": i.source_version,
                "correlation_id": i.correlation_id,
                "payload": i.payload,
                "attempts": 0,
                "created_at": now,
                "updated_at": now,
            }
            for i in items
        ],
    )
    conn.execute(
        insert(a),
        [
            {"txn_id": i.txn_id, "seq": 1, "at": now, "to_stage": "received", "outcome": "ok"}
            for i in items
        ],
    )


def _update(conn: Connection, items: Sequence[TransactionIn], now: datetime) -> tuple[str, ...]:
    """Apply the new versions, except to transactions posted meanwhile; returns those."""
    conn.execute(
        update(t)
        # One != per stage: an IN list cannot be bound in an executemany.
        .where(t.c.txn_id == bindparam("b_txn_id"), *(t.c.stage != s for s in sorted(IN_ERP)))
        .values(
            payload=bindparam("b_payload"),
            source_version=bindparam("b_source_version"),
            region=bindparam("b_region"),
            business_date=bindparam("b_business_date"),
            updated_at=now,
        ),
        [
            {
                "b_txn_id": i.txn_id,
                "b_payload": i.payload,
                "b_source_version": i.source_version,
                "b_region": i.region,
                "b_business_date": i.business_date,
            }
            for i in items
        ],
    )
    # The stage guard is in the UPDATE, so a run posting one of these between our read and
    # our write keeps what it posted; reading the versions back finds which did.
    applied = dict(
        conn.execute(
            select(t.c.txn_id, t.c.source_version).where(t.c.txn_id.in_([i.txn_id for i in items]))
        ).all()
    )
    return tuple(i.txn_id for i in items if applied[i.txn_id] != i.source_version)


def get(conn: Connection, txn_id: str) -> Transaction | None:
    row = conn.execute(select(t).where(t.c.txn_id == txn_id)).first()
    return None if row is None else Transaction(**row._asdict())


def lock(conn: Connection, txn_id: str) -> Transaction:
    """The transaction, locked until the end of the database transaction on PostgreSQL
    (SQLite's BEGIN IMMEDIATE already serialises writers), so concurrent moves queue."""
    row = conn.execute(select(t).where(t.c.txn_id == txn_id).with_for_update()).first()
    if row is None:
        raise TransactionNotFound(txn_id)
    return Transaction(**row._asdict())


def record_attempt(
    conn: Connection,
    current: Transaction,
    to_stage: str,
    outcome: str,
    *,
    reason_code: str | None,
    message: str | None,
    erp_response: Any,
    erp_document_id: str | None,
    erp_document_number: str | None,
    now: datetime,
) -> Transaction:
    """Move ``current`` (locked by the caller) to ``to_stage`` and log the attempt."""
    try:
        check_transition(current.stage, to_stage)
    except TransitionError as refused:
        raise InvalidTransition(refused.current, refused.new, txn_id=current.txn_id) from None
    if outcome not in ATTEMPT_OUTCOMES:
        raise StoreError(
            f"attempt outcome {outcome!r} for transaction {current.txn_id!r} is not one of "
            f"{', '.join(ATTEMPT_OUTCOMES)}"
        )
    last_seq = conn.execute(
        select(func.coalesce(func.max(a.c.seq), 0)).where(a.c.txn_id == current.txn_id)
    ).scalar_one()
    conn.execute(
        insert(a).values(
            txn_id=current.txn_id,
            seq=last_seq + 1,
            at=now,
            from_stage=current.stage,
            to_stage=to_stage,
            outcome=outcome,
            reason_code=reason_code,
            message=message,
            erp_response=erp_response,
        )
    )
    values: dict[str, Any] = {"stage": to_stage, "updated_at": now}
    if to_stage in COUNTED_AS_ATTEMPT and outcome != "waiting":
        # Waiting for a customer or an invoice is not a failed try: it must not use up the
        # retry budget. A replay starts a fresh budget.
        values["attempts"] = t.c.attempts + 1
    elif to_stage == "replayed":
        values["attempts"] = 0
    if erp_document_id is not None:
        values["erp_document_id"] = erp_document_id
    if erp_document_number is not None:
        values["erp_document_number"] = erp_document_number
    conn.execute(update(t).where(t.c.txn_id == current.txn_id).values(**values))
    moved = get(conn, current.txn_id)
    assert moved is not None  # locked by the caller
    return moved


def conditions(
    kind: str | None = None,
    region: str | None = None,
    business_date: date | None = None,
    stages: Iterable[str] | None = None,
) -> list[ColumnElement[bool]]:
    found = [
        t.c[column] == value
        for column, value in (("kind", kind), ("region", region), ("business_date", business_date))
        if value is not None
    ]
    if stages is not None:
        found.append(t.c.stage.in_(list(stages)))
    return found


def list_transactions(
    conn: Connection,
    where: Sequence[ColumnElement[bool]],
    txn_ids: Sequence[str] | None = None,
    after: Transaction | None = None,
    limit: int | None = None,
) -> list[Transaction]:
    """Ordered by (business_date, txn_id); ``after`` continues from a transaction on."""
    query = select(t).where(*where).order_by(t.c.business_date, t.c.txn_id).limit(limit)
    if txn_ids is not None:
        query = query.where(t.c.txn_id.in_(txn_ids))
    if after is not None:
        query = query.where(
            tuple_(t.c.business_date, t.c.txn_id) > tuple_(after.business_date, after.txn_id)
        )
    return [Transaction(**row._asdict()) for row in conn.execute(query)]


def in_order(found: Iterable[Transaction]) -> list[Transaction]:
    return sorted(found, key=lambda txn: (txn.business_date, txn.txn_id))


def stage_counts(conn: Connection, where: Sequence[ColumnElement[bool]]) -> dict[str, int]:
    query = select(t.c.stage, func.count()).where(*where).group_by(t.c.stage)
    return {stage: count for stage, count in conn.execute(query)}


def attempt_counts(conn: Connection, to_stages: Sequence[str]) -> dict[tuple[str, str], int]:
    """How many attempts moved a transaction to each of ``to_stages``, by (kind, stage)."""
    query = (
        select(t.c.kind, a.c.to_stage, func.count())
        .select_from(a.join(t, a.c.txn_id == t.c.txn_id))
        .where(a.c.to_stage.in_(list(to_stages)))
        .group_by(t.c.kind, a.c.to_stage)
    )
    return {(kind, stage): count for kind, stage, count in conn.execute(query)}


def list_attempts(conn: Connection, txn_id: str) -> list[Attempt]:
    query = select(a).where(a.c.txn_id == txn_id).order_by(a.c.seq)
    return [Attempt(**row._asdict()) for row in conn.execute(query)]


def stage_before_last(conn: Connection, txn_id: str) -> str | None:
    """The stage the transaction was in before its current one (from its attempt log)."""
    stages = (
        conn.execute(
            select(a.c.to_stage).where(a.c.txn_id == txn_id).order_by(a.c.seq.desc()).limit(2)
        )
        .scalars()
        .all()
    )
    return stages[1] if len(stages) == 2 else None
