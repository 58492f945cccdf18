"""The integration store: our own state, on SQLite by default or PostgreSQL in production."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from sync_platform.store import canonical, conflicts, ledger, reviews, sources, xrefs
from sync_platform.store.canonical import CanonicalRow, SaveCounts
from sync_platform.store.columns import require_aware, utc_now
from sync_platform.store.conflicts import Conflict, ConflictCounts, ConflictIn
from sync_platform.store.dialect import create_store_engine
from sync_platform.store.errors import UnknownCanonicalId
from sync_platform.store.ledger import LedgerEntry, WriteIntent
from sync_platform.store.reviews import Review
from sync_platform.store.sources import SourceRecord, SourceRecordIn, UpsertCounts
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

    def _now(self) -> datetime:
        return require_aware(self._clock())

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
        self, system: str, object_type: str, region: str | None = None
    ) -> list[SourceRecord]:
        with self._engine.begin() as conn:
            return sources.list_records(conn, system, object_type, region)

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
            return reviews.transition(conn, review_id, ("pending",), action, values)

    def mark_applied(self, review_id: int) -> Review:
        values = {"status": "applied", "applied_at": self._now()}
        with self._engine.begin() as conn:
            return reviews.transition(conn, review_id, ("approved",), "apply", values)

    def supersede(self, review_id: int) -> Review:
        """Retire a review that a newer proposal replaces, before it was applied."""
        with self._engine.begin() as conn:
            return reviews.transition(
                conn, review_id, ("pending", "approved"), "supersede", {"status": "superseded"}
            )

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
