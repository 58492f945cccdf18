"""The integration store: source snapshots, cross-references, canonical customers, conflicts,
reviews, the write ledger, financial transactions with their attempts and exceptions, the
webhook inbox, the audit trail and the system-API call counters, on SQLite or PostgreSQL
under Alembic migrations."""

from sync_platform.hashing import content_hash
from sync_platform.store.api_stats import ApiStatKey
from sync_platform.store.audit import AuditEntry, AuditRecord
from sync_platform.store.breaches import Breach, BreachCounts, CheckEvaluation
from sync_platform.store.canonical import CanonicalRow, SaveCounts
from sync_platform.store.conflicts import Conflict, ConflictCounts, ConflictIn
from sync_platform.store.errors import (
    DuplicateExternalId,
    InvalidTransition,
    LedgerError,
    NaiveDatetimeError,
    ReviewError,
    ReviewNotFound,
    StoreError,
    TransactionNotFound,
    UnknownCanonicalId,
)
from sync_platform.store.inbox import InboxEvent, InboxEventIn, LandCounts, Rejection
from sync_platform.store.ledger import LedgerEntry
from sync_platform.store.reviews import Review
from sync_platform.store.sources import SourceRecord, SourceRecordIn, UpsertCounts
from sync_platform.store.store import Store
from sync_platform.store.transactions import Attempt, ReceiveCounts, Transaction, TransactionIn
from sync_platform.store.txn_exceptions import TransactionException
from sync_platform.store.upgrade import migrate
from sync_platform.store.xrefs import CustomerXref

__all__ = [
    "ApiStatKey",
    "Attempt",
    "AuditEntry",
    "AuditRecord",
    "Breach",
    "BreachCounts",
    "CanonicalRow",
    "CheckEvaluation",
    "Conflict",
    "ConflictCounts",
    "ConflictIn",
    "CustomerXref",
    "DuplicateExternalId",
    "InboxEvent",
    "InboxEventIn",
    "InvalidTransition",
    "LandCounts",
    "LedgerEntry",
    "LedgerError",
    "NaiveDatetimeError",
    "ReceiveCounts",
    "Rejection",
    "Review",
    "ReviewError",
    "ReviewNotFound",
    "SaveCounts",
    "SourceRecord",
    "SourceRecordIn",
    "Store",
    "StoreError",
    "Transaction",
    "TransactionException",
    "TransactionIn",
    "TransactionNotFound",
    "UnknownCanonicalId",
    "UpsertCounts",
    "content_hash",
    "migrate",
]
