"""The integration store: our own state, on SQLite by default or PostgreSQL in production."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import IntegrityError

from sync_platform.hashing import content_hash
from sync_platform.store import (
    api_stats,
    audit,
    breaches,
    canonical,
    conflicts,
    inbox,
    ledger,
    locks,
    reviews,
    sources,
    transactions,
    txn_exceptions,
    xrefs,
)
from sync_platform.store.api_stats import ApiStatKey
from sync_platform.store.audit import PLATFORM_ACTOR, AuditEntry, AuditRecord
from sync_platform.store.breaches import Breach, BreachCounts, CheckEvaluation, Notice
from sync_platform.store.canonical import CanonicalRow, SaveCounts
from sync_platform.store.columns import require_aware, utc_now
from sync_platform.store.conflicts import Conflict, ConflictCounts, ConflictIn
from sync_platform.store.dialect import create_store_engine
from sync_platform.store.errors import UnknownCanonicalId
from sync_platform.store.inbox import InboxEvent, InboxEventIn, LandCounts, Rejection
from sync_platform.store.ledger import LedgerEntry, WriteIntent
from sync_platform.store.reviews import Review
from sync_platform.store.sources import SourceRecord, SourceRecordIn, UpsertCounts
from sync_platform.store.transactions import Attempt, ReceiveCounts, Transaction, TransactionIn
from sync_platform.store.txn_exceptions import TransactionException
from sync_platform.store.upgrade import migrate_engine
from sync_platform.store.xrefs import CustomerXref

DEFAULT_URL = "sqlite:///.sync-platform/store.sqlite3"

# Rows per transaction for bulk writes: big enough to be fast, small enough that a
# concurrent run never waits long for a lock.
BATCH_SIZE = 500

Clock = Callable[[], datetime]
T = TypeVar("T")


def batched(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Store:
    """Every method is one short transaction and returns plain frozen values."""

    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    @classmethod
    def open(cls, url: str, clock: Clock = utc_now) -> Store:
        """Open the store at ``url`` and upgrade its schema to the newest migration."""
        engine = create_store_engine(url)
        migrate_engine(engine)
        return cls(engine, clock)

    @classmethod
    def from_env(cls) -> Store:
        """Open the store named by ``SYNC_STORE_URL`` (an SQLite file in .sync-platform/)."""
        return cls.open(os.environ.get("SYNC_STORE_URL") or DEFAULT_URL)

    @property
    def engine(self) -> Engine:
        return self._engine

    def close(self) -> None:
        self._engine.dispose()

    def partition_locks(self, names: Iterable[str]) -> AbstractContextManager[None]:
        """Exclusive, cross-process locks on the named partitions, released when the block
        ends or the process dies; a second holder waits."""
        return locks.partition_locks(self._engine, names)

    def _now(self) -> datetime:
        return require_aware(self._clock())

    def ping(self) -> None:
        """Raise if the database cannot be reached."""
        with self._engine.connect() as conn:
            conn.execute(select(1))

    # -- source snapshots ---------------------------------------------------------------

    def upsert_source_records(
        self, system: str, object_type: str, records: Iterable[SourceRecordIn]
    ) -> UpsertCounts:
        """Insert new records, update changed ones, never replace a newer ``modified_at``.

        ``stale`` counts records older than the stored version (and older duplicates
        within ``records``); they are not applied.
        """
        unique, dropped = sources.newest_per_id(records)
        counts = UpsertCounts(stale=dropped)
        for batch in batched(unique, BATCH_SIZE):
            with self._engine.begin() as conn:
                counts += sources.upsert_batch(conn, system, object_type, batch, self._now())
        return counts

    def source_records(
        self,
        system: str,
        object_type: str,
        region: str | None = None,
        business_date: date | None = None,
    ) -> list[SourceRecord]:
        with self._engine.begin() as conn:
            return sources.list_records(conn, system, object_type, region, business_date)

    def latest_modified(
        self, system: str, object_type: str, region: str | None = None
    ) -> datetime | None:
        """The newest ``modified_at`` among the stored snapshots (None if there are none)."""
        with self._engine.begin() as conn:
            return sources.latest_modified(conn, system, object_type, region)

    def source_regions(self, system: str, object_type: str) -> dict[str, str]:
        """Record id → region of the stored snapshots (payloads are not read)."""
        with self._engine.begin() as conn:
            return sources.regions(conn, system, object_type)

    # -- cross-references ---------------------------------------------------------------

    def xrefs(self, region: str | None = None) -> list[CustomerXref]:
        with self._engine.begin() as conn:
            return xrefs.list_xrefs(conn, region)

    def save_xref(self, xref: CustomerXref) -> CustomerXref:
        """Create or update by canonical id; raises ``DuplicateExternalId`` rather than
        take an external id away from another canonical customer."""
        try:
            with self._engine.begin() as conn:
                clash = xrefs.find_clash(conn, xref)
                if clash is not None:
                    raise clash
                xrefs.save(conn, xref, self._now())
                saved = xrefs.get(conn, xref.canonical_id)
        except IntegrityError:
            # A concurrent run claimed the id between our check and our write.
            with self._engine.begin() as conn:
                clash = xrefs.find_clash(conn, xref)
            if clash is None:
                raise
            raise clash from None
        assert saved is not None  # written in the same transaction
        return saved

    # -- canonical customers ------------------------------------------------------------

    def save_canonical(self, region: str, records: Mapping[str, dict[str, Any]]) -> SaveCounts:
        """Save merged records; a changed record gets the next revision."""
        with self._engine.begin() as conn:
            missing = canonical.missing_xrefs(conn, sorted(records))
        if missing:
            raise UnknownCanonicalId(missing)
        created = changed = unchanged = 0
        for ids in batched(sorted(records), BATCH_SIZE):
            with self._engine.begin() as conn:
                counts = canonical.save_batch(
                    conn, region, {i: records[i] for i in ids}, self._now()
                )
            created += counts.created
            changed += counts.changed
            unchanged += counts.unchanged
        return SaveCounts(created, changed, unchanged)

    def canonical_customers(self, region: str | None = None) -> dict[str, CanonicalRow]:
        with self._engine.begin() as conn:
            return canonical.list_rows(conn, region)

    # -- conflicts ----------------------------------------------------------------------

    def sync_conflicts(self, region: str, current: Iterable[ConflictIn]) -> ConflictCounts:
        """Make ``current`` the open conflicts of ``region``: open or reopen those given,
        resolve the open ones that are no longer given."""
        with self._engine.begin() as conn:
            return conflicts.sync(conn, region, current, self._now())

    def conflicts(self, region: str | None = None, status: str | None = "open") -> list[Conflict]:
        with self._engine.begin() as conn:
            return conflicts.list_conflicts(conn, region, status)

    # -- reviews ------------------------------------------------------------------------

    def open_review(
        self,
        region: str,
        kind: str,
        subject: str,
        summary: str,
        payload: dict[str, Any],
        dedupe_key: str,
    ) -> Review:
        """Open a pending review, or return the one already opened under ``dedupe_key``
        whatever its status."""
        with self._engine.begin() as conn:
            return reviews.open_review(
                conn, region, kind, subject, summary, payload, dedupe_key, self._now()
            )

    def reviews(
        self, status: str | None = None, region: str | None = None, kind: str | None = None
    ) -> list[Review]:
        with self._engine.begin() as conn:
            return reviews.list_reviews(conn, status, region, kind)

    def review(self, review_id: int) -> Review:
        with self._engine.begin() as conn:
            return reviews.get(conn, review_id)

    def decide(self, review_id: int, approve: bool, by: str, reason: str) -> Review:
        values = {
            "status": "approved" if approve else "rejected",
            "decided_by": reviews.require_text(review_id, "by", by),
            "reason": reviews.require_text(review_id, "reason", reason),
            "decided_at": self._now(),
        }
        action = "approve" if approve else "reject"
        with self._engine.begin() as conn:
            review = reviews.transition(conn, review_id, ("pending",), action, values)
            self._audit_review(conn, review, review.decided_by or by, review.reason)
            return review

    def mark_applied(self, review_id: int, by: str = PLATFORM_ACTOR) -> Review:
        values = {"status": "applied", "applied_at": self._now()}
        with self._engine.begin() as conn:
            review = reviews.transition(conn, review_id, ("approved",), "apply", values)
            self._audit_review(conn, review, by, f"approved by {review.decided_by}")
            return review

    def supersede(self, review_id: int) -> Review:
        """Retire a review that a newer proposal replaces, before it was applied."""
        with self._engine.begin() as conn:
            review = reviews.transition(
                conn, review_id, ("pending", "approved"), "supersede", {"status": "superseded"}
            )
            self._audit_review(conn, review, PLATFORM_ACTOR, "a newer proposal replaces it")
            return review

    def _audit_review(
        self, conn: Connection, review: Review, actor: str, reason: str | None
    ) -> None:
        """Audit a review's move, in the transaction that made it."""
        entry = AuditEntry(
            actor=actor,
            action=f"review_{review.status}",
            subject=f"review {review.id}",
            reason=reason,
            details={
                "review_id": review.id,
                "kind": review.kind,
                "region": review.region,
                "review_subject": review.subject,
                "summary": review.summary,
                "payload_hash": content_hash(review.payload),
            },
        )
        audit.append(conn, [entry], self._now())

    # -- write ledger -------------------------------------------------------------------

    def begin_write(
        self,
        key: str,
        system: str,
        object_type: str,
        operation: str,
        source_version: str,
        correlation_id: str,
        payload_hash: str,
    ) -> LedgerEntry:
        """Record the intent to write; a repeat of an unfinished key counts another attempt,
        a succeeded key is returned unchanged so the caller skips the write."""
        intent = WriteIntent(
            key, system, object_type, operation, source_version, correlation_id, payload_hash
        )
        with self._engine.begin() as conn:
            return ledger.begin(conn, intent, self._now())

    def complete_write(self, key: str, object_id: str | None, response: Any) -> LedgerEntry:
        with self._engine.begin() as conn:
            return ledger.complete(conn, key, object_id, response, self._now())

    def fail_write(self, key: str, error: str) -> LedgerEntry:
        with self._engine.begin() as conn:
            return ledger.fail(conn, key, error, self._now())

    def ledger_entry(self, key: str) -> LedgerEntry | None:
        with self._engine.begin() as conn:
            return ledger.get(conn, key)

    def last_written_hash(self, system: str, object_type: str, object_id: str) -> str | None:
        """Payload hash of our latest successful write to that object, so its webhook echo
        can be recognised and ignored."""
        with self._engine.begin() as conn:
            return ledger.last_written_hash(conn, system, object_type, object_id)

    # -- webhook inbox ------------------------------------------------------------------

    def land_events(self, source: str, events: Sequence[InboxEventIn]) -> LandCounts:
        """Store verified webhook events in one transaction, ignoring any whose
        (source, event id) is already there; when this returns they are committed."""
        inbox.require_source(source)
        with self._engine.begin() as conn:
            return inbox.land(conn, source, events, self._now())

    def pending_events(
        self, source: str | None = None, after_id: int = 0, limit: int = 1000
    ) -> list[InboxEvent]:
        """Pending events with an id above ``after_id``, oldest first."""
        with self._engine.begin() as conn:
            return inbox.pending(conn, source, after_id, limit)

    def mark_events(
        self,
        ids: Iterable[int],
        status: str,
        run_key: str | None = None,
        reason: str | None = None,
    ) -> int:
        """Mark pending events ``processed`` or ``ignored`` (by the run ``run_key``, with the
        ``reason`` an ignored event affects nothing); returns how many were still pending
        and moved."""
        now = self._now()
        moved = 0
        for chunk in batched(sorted(set(ids)), BATCH_SIZE):
            with self._engine.begin() as conn:
                moved += inbox.mark(conn, chunk, status, run_key, now, reason)
        return moved

    def schedule_events(self, ids: Iterable[int], run_key: str) -> int:
        """Name the run that will take pending events (they stay ``pending`` until it has);
        an event already scheduled keeps its run. Returns how many were newly scheduled."""
        moved = 0
        for chunk in batched(sorted(set(ids)), BATCH_SIZE):
            with self._engine.begin() as conn:
                moved += inbox.schedule(conn, chunk, run_key)
        return moved

    def scheduled_run_keys(
        self, limit: int = 500, excluding_suffix: str | None = None
    ) -> list[str]:
        """The run keys pending events wait on, oldest first; keys ending in
        ``excluding_suffix`` are left out."""
        with self._engine.begin() as conn:
            return inbox.scheduled_run_keys(conn, limit, excluding_suffix)

    def reschedule_events(self, run_key: str, new_run_key: str) -> int:
        """Give the pending events of ``run_key`` (a run that failed) to ``new_run_key``."""
        with self._engine.begin() as conn:
            return inbox.reschedule(conn, run_key, new_run_key)

    def run_events(self, run_key: str, status: str | None = "pending") -> list[InboxEvent]:
        """The events scheduled for the run ``run_key`` (by default those it has not taken)."""
        with self._engine.begin() as conn:
            return inbox.for_run(conn, run_key, status)

    def record_rejection(
        self,
        source: str,
        reason_code: str,
        detail: str,
        *,
        remote: str | None = None,
        body_sha256: str | None = None,
        body_bytes: int = 0,
    ) -> Rejection:
        """Record a refused webhook request; ``detail`` must hold no secret and no body."""
        with self._engine.begin() as conn:
            return inbox.record_rejection(
                conn, source, reason_code, detail, remote, body_sha256, body_bytes, self._now()
            )

    def rejections(
        self,
        *,
        source: str | None = None,
        reason_code: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[Rejection]:
        """Recorded rejections, newest first."""
        with self._engine.begin() as conn:
            return inbox.list_rejections(conn, source, reason_code, since, limit)

    def inbox_counts(self) -> dict[str, dict[str, int]]:
        """Events per source and status, e.g. ``{"billing": {"pending": 3, ...}, ...}``."""
        with self._engine.begin() as conn:
            return inbox.counts(conn)

    # -- check breaches (alerting) ------------------------------------------------------

    def record_check_evaluations(self, evaluations: Sequence[CheckEvaluation]) -> BreachCounts:
        """Open a breach on a failed evaluation, recover it on the next passed one; an
        evaluation applied already (or older than one applied) changes nothing."""
        with self._engine.begin() as conn:
            return breaches.apply(conn, evaluations)

    def pending_breach_notices(self, limit: int = 20) -> list[Breach]:
        """Breaches with an alert not yet delivered, oldest first."""
        with self._engine.begin() as conn:
            return breaches.pending_notices(conn, limit)

    def mark_breach_notified(self, breach_id: int, notice: Notice) -> bool:
        """Record that ``notice`` was delivered; False if it had been recorded already."""
        with self._engine.begin() as conn:
            return breaches.mark_notified(conn, breach_id, notice, self._now())

    def record_breach_delivery_failure(self, breach_id: int, error: str) -> None:
        with self._engine.begin() as conn:
            breaches.record_delivery_failure(conn, breach_id, error)

    def breaches(self, status: str | None = None) -> list[Breach]:
        with self._engine.begin() as conn:
            return breaches.list_breaches(conn, status)

    # -- system-API call counters (gateway /metrics) -----------------------------------

    def add_api_stats(self, deltas: Mapping[ApiStatKey, float]) -> None:
        """Add what one process counted since its last flush, in one transaction: all of it
        or, if this raises, none."""
        with self._engine.begin() as conn:
            api_stats.add(conn, deltas)

    def api_stats(self) -> dict[ApiStatKey, float]:
        """Every counter's total over all processes."""
        with self._engine.begin() as conn:
            return api_stats.totals(conn)

    # -- audit trail --------------------------------------------------------------------

    def append_audit(self, *entries: AuditEntry) -> list[AuditRecord]:
        """Append records to the hash chain in one transaction (serialised with every
        other appender)."""
        with self._engine.begin() as conn:
            return audit.append(conn, entries, self._now())

    def audit_records(self, after_id: int = 0, limit: int | None = None) -> list[AuditRecord]:
        """Records with an id above ``after_id``, in chain order."""
        with self._engine.begin() as conn:
            return audit.list_records(conn, after_id, limit)

    def iter_audit_records(self, chunk_size: int = BATCH_SIZE) -> Iterator[AuditRecord]:
        """The whole chain in order, read a chunk per short transaction."""
        after = 0
        while True:
            chunk = self.audit_records(after, chunk_size)
            yield from chunk
            if len(chunk) < chunk_size:
                return
            after = chunk[-1].id

    def audit_guard_states(self) -> dict[str, bool]:
        """The append-only triggers found on the audit table → whether each is enabled."""
        with self._engine.begin() as conn:
            return audit.guard_trigger_states(conn)

    def first_unaudited_posting(self) -> audit.UnauditedPosting | None:
        """The earliest ERP posting that has no ``erp_posted`` audit record."""
        with self._engine.begin() as conn:
            return audit.first_unaudited_posting(conn)

    def record_config_hashes(
        self, hashes: Mapping[str, str], *, actor: str, details: Mapping[str, Any] | None = None
    ) -> list[AuditRecord]:
        """Audit each config file (name → sha256) whose hash differs from the last one
        recorded, and each recorded file that is gone; the comparison and the append are one
        serialised transaction, so two processes starting at once record a change once."""
        noticed = dict(details or {})
        with self._engine.begin() as conn:
            if not audit.config_entries(conn, hashes, actor, noticed):
                return []  # the usual case, seen without waiting for the append lock
        with self._engine.begin() as conn:
            audit.lock_for_append(conn)
            entries = audit.config_entries(conn, hashes, actor, noticed)
            return audit.append(conn, entries, self._now())

    # -- financial transactions ---------------------------------------------------------

    def receive_transactions(self, items: Iterable[TransactionIn]) -> ReceiveCounts:
        """Insert new transactions as received, apply new versions of unposted ones.

        A transaction already posted or reconciled is left as it is and listed in
        ``changed_after_posting`` rather than counted changed or unchanged. The stage and
        the correlation id of an existing transaction never change here. An id given twice
        counts once, with the last item given.
        """
        counts = ReceiveCounts()
        for batch in batched(transactions.last_per_id(items), BATCH_SIZE):
            try:
                with self._engine.begin() as conn:
                    counts += transactions.receive_batch(conn, batch, self._now())
            except IntegrityError:
                # A concurrent run inserted some of these first; now they are compared.
                with self._engine.begin() as conn:
                    counts += transactions.receive_batch(conn, batch, self._now())
        return counts

    def transaction(self, txn_id: str) -> Transaction | None:
        with self._engine.begin() as conn:
            return transactions.get(conn, txn_id)

    def transactions(
        self,
        *,
        kind: str | None = None,
        region: str | None = None,
        business_date: date | None = None,
        stages: Iterable[str] | None = None,
        txn_ids: Iterable[str] | None = None,
        limit: int | None = None,
    ) -> list[Transaction]:
        """Matching transactions ordered by (business_date, txn_id)."""
        where = transactions.conditions(kind, region, business_date, stages)
        if txn_ids is None:
            with self._engine.begin() as conn:
                return transactions.list_transactions(conn, where, limit=limit)
        found = self._by_id_chunks(
            txn_ids, lambda conn, ids: transactions.list_transactions(conn, where, ids)
        )
        return transactions.in_order(found)[:limit]

    def iter_transactions(
        self,
        *,
        kind: str | None = None,
        region: str | None = None,
        business_date: date | None = None,
        stages: Iterable[str] | None = None,
        chunk_size: int = BATCH_SIZE,
    ) -> Iterator[Transaction]:
        """Like ``transactions()``, read a chunk per short transaction, for large sets."""
        where = transactions.conditions(kind, region, business_date, stages)
        after: Transaction | None = None
        while True:
            with self._engine.begin() as conn:
                chunk = transactions.list_transactions(conn, where, after=after, limit=chunk_size)
            yield from chunk
            if len(chunk) < chunk_size:
                return
            after = chunk[-1]

    def record_attempt(
        self,
        txn_id: str,
        to_stage: str,
        outcome: str,
        *,
        reason_code: str | None = None,
        message: str | None = None,
        erp_response: Any = None,
        erp_document_id: str | None = None,
        erp_document_number: str | None = None,
    ) -> Transaction:
        """Move a transaction to ``to_stage`` and log the attempt; raises
        ``InvalidTransition`` when the lifecycle does not allow the move. Posting closes the
        transaction's open exception."""
        now = self._now()
        with self._engine.begin() as conn:
            return self._move(
                conn,
                txn_id,
                to_stage,
                outcome,
                reason_code=reason_code,
                message=message,
                erp_response=erp_response,
                erp_document_id=erp_document_id,
                erp_document_number=erp_document_number,
                now=now,
            )

    def record_posted(
        self,
        txn_id: str,
        ledger_key: str,
        erp_document_id: str,
        erp_document_number: str | None,
        response: Any,
    ) -> Transaction:
        """Complete the ledger write and move the transaction to posted in one database
        transaction, so a crash leaves both done or neither."""
        now = self._now()
        with self._engine.begin() as conn:
            ledger.complete(conn, ledger_key, erp_document_id, response, now)
            return self._move(
                conn,
                txn_id,
                "posted",
                "ok",
                erp_response=response,
                erp_document_id=erp_document_id,
                erp_document_number=erp_document_number,
                now=now,
            )

    def _move(
        self,
        conn: Connection,
        txn_id: str,
        to_stage: str,
        outcome: str,
        *,
        now: datetime,
        **details: Any,
    ) -> Transaction:
        before = transactions.lock(conn, txn_id)
        # Posted from "validated": what decides an exception's resolution is how the
        # transaction got there, i.e. the move before validation (a retry or a replay).
        came_from = before.stage
        if to_stage == "posted" and came_from == "validated":
            came_from = transactions.stage_before_last(conn, txn_id) or came_from
        after = transactions.record_attempt(
            conn,
            before,
            to_stage,
            outcome,
            reason_code=details.get("reason_code"),
            message=details.get("message"),
            erp_response=details.get("erp_response"),
            erp_document_id=details.get("erp_document_id"),
            erp_document_number=details.get("erp_document_number"),
            now=now,
        )
        if to_stage == "posted":
            resolution = txn_exceptions.posted_resolution(came_from)
            txn_exceptions.close(conn, txn_id, resolution, now)
            # In the transaction that records the posting: both are kept, or neither.
            audit.append(conn, [audit.posting_entry(after, came_from, details)], now)
        return after

    def attempts(self, txn_id: str) -> list[Attempt]:
        with self._engine.begin() as conn:
            return transactions.list_attempts(conn, txn_id)

    def attempt_counts(self, to_stages: Sequence[str]) -> dict[tuple[str, str], int]:
        """Attempts that moved a transaction to each of ``to_stages``, by (kind, stage)."""
        with self._engine.begin() as conn:
            return transactions.attempt_counts(conn, to_stages)

    def stage_counts(
        self,
        *,
        kind: str | None = None,
        region: str | None = None,
        business_date: date | None = None,
    ) -> dict[str, int]:
        where = transactions.conditions(kind, region, business_date)
        with self._engine.begin() as conn:
            return transactions.stage_counts(conn, where)

    # -- transaction exceptions ---------------------------------------------------------

    def open_exception(self, txn_id: str, reason_code: str, message: str) -> TransactionException:
        """Open an exception, count another occurrence of the open one if it has the same
        reason, or close it as superseded by ``reason_code`` and open a new one."""
        with self._engine.begin() as conn:
            txn = transactions.lock(conn, txn_id)
            return txn_exceptions.open_exception(conn, txn, reason_code, message, self._now())

    def close_exceptions(self, txn_id: str, resolution: str) -> int:
        """Close the transaction's open exception; returns how many were closed (0 or 1)."""
        with self._engine.begin() as conn:
            transactions.lock(conn, txn_id)
            return txn_exceptions.close(conn, txn_id, resolution, self._now())

    def exceptions(
        self,
        *,
        status: str | None = "open",
        reason_code: str | None = None,
        region: str | None = None,
        kind: str | None = None,
        opened_since: datetime | None = None,
        txn_ids: Iterable[str] | None = None,
    ) -> list[TransactionException]:
        """Matching exceptions (of every status when ``status`` is None), oldest first."""

        def fetch(conn: Connection, ids: Sequence[str] | None) -> list[TransactionException]:
            return txn_exceptions.list_exceptions(
                conn,
                status=status,
                reason_code=reason_code,
                region=region,
                kind=kind,
                opened_since=opened_since,
                txn_ids=ids,
            )

        if txn_ids is None:
            with self._engine.begin() as conn:
                return fetch(conn, None)
        return txn_exceptions.in_order(self._by_id_chunks(txn_ids, fetch))

    def open_exception_counts(self, *, region: str | None = None) -> dict[str, int]:
        """Open exceptions by reason code."""
        with self._engine.begin() as conn:
            return txn_exceptions.open_counts(conn, region)

    def _by_id_chunks(
        self, ids: Iterable[str], fetch: Callable[[Connection, Sequence[str]], list[T]]
    ) -> list[T]:
        """What ``fetch`` finds for ``ids``, asked a chunk at a time in one transaction:
        SQLite caps the parameters of one statement."""
        with self._engine.begin() as conn:
            return [
                found
                for chunk in batched(sorted(set(ids)), BATCH_SIZE)
                for found in fetch(conn, chunk)
            ]
