"""The integration store: source snapshots, cross-references, canonical customers, conflicts,
reviews and the write ledger, on SQLite or PostgreSQL under Alembic migrations."""

from sync_platform.hashing import content_hash
from sync_platform.store.canonical import CanonicalRow, SaveCounts
from sync_platform.store.conflicts import Conflict, ConflictCounts, ConflictIn
from sync_platform.store.errors import (
    DuplicateExternalId,
    LedgerError,
    NaiveDatetimeError,
    ReviewError,
    ReviewNotFound,
    StoreError,
    UnknownCanonicalId,
)
from sync_platform.store.ledger import LedgerEntry
from sync_platform.store.reviews import Review
from sync_platform.store.sources import SourceRecord, SourceRecordIn, UpsertCounts
from sync_platform.store.store import Store
from sync_platform.store.upgrade import migrate
from sync_platform.store.xrefs import CustomerXref

__all__ = [
    "CanonicalRow",
    "Conflict",
    "ConflictCounts",
    "ConflictIn",
    "CustomerXref",
    "DuplicateExternalId",
    "LedgerEntry",
    "LedgerError",
    "NaiveDatetimeError",
    "Review",
    "ReviewError",
    "ReviewNotFound",
    "SaveCounts",
    "SourceRecord",
    "SourceRecordIn",
    "Store",
    "StoreError",
    "UnknownCanonicalId",
    "UpsertCounts",
    "content_hash",
    "migrate",
]
