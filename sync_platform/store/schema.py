"""The integration store's tables (SQLAlchemy Core); migrations/ must produce exactly these."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from sync_platform.store.columns import JsonDocument, UtcDateTime
from sync_platform.transactions.lifecycle import STAGES
from sync_platform.transactions.model import TRANSACTION_KINDS

# Deterministic constraint names, so later migrations can alter them on both databases.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

REVIEW_KINDS = ("identity", "change_policy")
REVIEW_STATUSES = ("pending", "approved", "rejected", "applied", "superseded")
CONFLICT_STATUSES = ("open", "resolved")
WRITE_STATUSES = ("pending", "succeeded", "failed")
ATTEMPT_OUTCOMES = ("ok", "error", "waiting")
EXCEPTION_STATUSES = ("open", "closed")
INBOX_SOURCES = ("billing", "crm")
INBOX_STATUSES = ("pending", "processed", "ignored")
REJECTION_REASONS = (
    "bad_signature",
    "stale_timestamp",
    "malformed",
    "too_large",
    "unknown_source",
    "missing_signature",
)
BREACH_STATUSES = ("open", "recovered")
API_STAT_METRICS = ("request_bucket", "request_seconds", "error", "rate_limited")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


source_records = Table(
    "source_records",
    metadata,
    Column("system", String(32), primary_key=True),
    Column("object_type", String(64), primary_key=True),
    Column("record_id", String(255), primary_key=True),
    Column("region", String(32)),
    Column("version", String(255)),
    Column("modified_at", UtcDateTime, nullable=False),
    Column("payload", JsonDocument, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("first_seen_at", UtcDateTime, nullable=False),
    Column("last_seen_at", UtcDateTime, nullable=False),
    Column("business_date", Date),
    Index(None, "system", "object_type", "region"),
    Index(None, "system", "object_type", "region", "business_date"),
)

customer_xref = Table(
    "customer_xref",
    metadata,
    Column("canonical_id", String(64), primary_key=True),
    Column("region", String(32), nullable=False),
    Column("crm_company_id", String(255), unique=True),
    Column("billing_customer_id", String(255), unique=True),
    Column("erp_customer_number", String(255), unique=True),
    Column("erp_customer_id", String(255)),
    Column("match_rule", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index(None, "region"),
)

canonical_customers = Table(
    "canonical_customers",
    metadata,
    Column(
        "canonical_id",
        String(64),
        ForeignKey(customer_xref.c.canonical_id, ondelete="RESTRICT"),
        primary_key=True,
    ),
    Column("region", String(32), nullable=False),
    Column("record", JsonDocument, nullable=False),
    Column("record_hash", String(64), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index(None, "region"),
)

conflicts = Table(
    "conflicts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("canonical_id", String(64), nullable=False),
    Column("region", String(32), nullable=False),
    Column("attribute", String(128), nullable=False),
    Column("owner_system", String(32), nullable=False),
    Column("owner_value", JsonDocument),
    Column("other_system", String(32), nullable=False),
    Column("other_record_id", String(255), nullable=False),
    Column("other_value", JsonDocument),
    Column("status", String(16), nullable=False),
    Column("first_seen_at", UtcDateTime, nullable=False),
    Column("last_seen_at", UtcDateTime, nullable=False),
    Column("resolved_at", UtcDateTime),
    UniqueConstraint("canonical_id", "attribute", "other_system"),
    CheckConstraint(_one_of("status", CONFLICT_STATUSES), name="status"),
    Index(None, "region", "status"),
)

reviews = Table(
    "reviews",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("region", String(32), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("summary", Text, nullable=False),
    Column("payload", JsonDocument, nullable=False),
    Column("status", String(16), nullable=False),
    Column("dedupe_key", String(255), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("decided_by", String(255)),
    Column("decided_at", UtcDateTime),
    Column("reason", Text),
    Column("applied_at", UtcDateTime),
    CheckConstraint(_one_of("kind", REVIEW_KINDS), name="kind"),
    CheckConstraint(_one_of("status", REVIEW_STATUSES), name="status"),
    Index(None, "status", "region"),
)

write_ledger = Table(
    "write_ledger",
    metadata,
    Column("idempotency_key", String(255), primary_key=True),
    Column("system", String(32), nullable=False),
    Column("object_type", String(64), nullable=False),
    Column("object_id", String(255)),
    Column("operation", String(64), nullable=False),
    Column("source_version", String(255), nullable=False),
    Column("correlation_id", String(64), nullable=False),
    Column("payload_hash", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("response", JsonDocument),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint(_one_of("status", WRITE_STATUSES), name="status"),
    Index(None, "system", "object_type", "object_id"),
)

transactions = Table(
    "transactions",
    metadata,
    Column("txn_id", String(255), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("source_system", String(32), nullable=False),
    Column("source_id", String(255), nullable=False),
    Column("region", String(32), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("stage", String(16), nullable=False),
    Column("source_version", String(64), nullable=False),
    Column("correlation_id", String(64), nullable=False),
    Column("payload", JsonDocument, nullable=False),
    Column("erp_document_id", String(255)),
    Column("erp_document_number", String(255)),
    Column("attempts", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("kind", "source_system", "source_id"),
    CheckConstraint(_one_of("kind", TRANSACTION_KINDS), name="kind"),
    CheckConstraint(_one_of("stage", STAGES), name="stage"),
    Index(None, "region", "business_date", "kind"),
    Index(None, "stage"),
)

# The unique (txn_id, seq) index also serves lookups by txn_id.
transaction_attempts = Table(
    "transaction_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "txn_id",
        String(255),
        ForeignKey(transactions.c.txn_id, ondelete="RESTRICT"),
        nullable=False,
    ),
    Column("seq", Integer, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("from_stage", String(16)),
    Column("to_stage", String(16), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("reason_code", String(64)),
    Column("message", Text),
    Column("erp_response", JsonDocument),
    UniqueConstraint("txn_id", "seq"),
    CheckConstraint(_one_of("outcome", ATTEMPT_OUTCOMES), name="outcome"),
)

# open_txn_id is txn_id while the exception is open and NULL once closed; being unique, it
# lets the database itself keep at most one open exception per transaction.
transaction_exceptions = Table(
    "transaction_exceptions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "txn_id",
        String(255),
        ForeignKey(transactions.c.txn_id, ondelete="RESTRICT"),
        nullable=False,
    ),
    Column("kind", String(32), nullable=False),
    Column("region", String(32), nullable=False),
    Column("source_system", String(32), nullable=False),
    Column("reason_code", String(64), nullable=False),
    Column("message", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("open_txn_id", String(255), unique=True),
    Column("occurrences", Integer, nullable=False),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("last_seen_at", UtcDateTime, nullable=False),
    Column("closed_at", UtcDateTime),
    Column("resolution", Text),
    Column("correlation_id", String(64), nullable=False),
    CheckConstraint(_one_of("status", EXCEPTION_STATUSES), name="status"),
    CheckConstraint(
        "(status = 'open' AND open_txn_id IS NOT NULL AND open_txn_id = txn_id)"
        " OR (status = 'closed' AND open_txn_id IS NULL)",
        name="open_txn_id",
    ),
    Index(None, "status", "reason_code", "region"),
    Index(None, "txn_id"),
)

# Webhook events as received, verified and deduplicated by (source, event_id); sensors read
# the pending ones in id order and mark them once a run has taken them.
inbox_events = Table(
    "inbox_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(16), nullable=False),
    Column("event_id", String(255), nullable=False),
    Column("event_type", String(128), nullable=False),
    Column("object_id", String(255)),
    Column("object_type", String(64)),
    Column("occurred_at", UtcDateTime),
    Column("received_at", UtcDateTime, nullable=False),
    Column("payload", JsonDocument, nullable=False),
    Column("status", String(16), nullable=False, default="pending"),
    Column("processed_at", UtcDateTime),
    # The run that takes the event (set while it is still pending, by the landing sensor).
    Column("run_key", String(255), index=True),
    Column("reason", Text),  # why an ignored event affects nothing
    UniqueConstraint("source", "event_id"),
    CheckConstraint(_one_of("source", INBOX_SOURCES), name="source"),
    CheckConstraint(_one_of("status", INBOX_STATUSES), name="status"),
    Index(None, "status", "source", "id"),
)

# Requests the gateway refused: why, from where, and a hash of the body, never the body or
# anything secret. body_sha256 is NULL when the body was too large to read in full.
webhook_rejections = Table(
    "webhook_rejections",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(16), nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("reason_code", String(32), nullable=False),
    Column("detail", Text, nullable=False),
    Column("remote", String(255)),
    Column("body_sha256", String(64)),
    Column("body_bytes", Integer, nullable=False),
    CheckConstraint(_one_of("reason_code", REJECTION_REASONS), name="reason_code"),
    Index(None, "source", "received_at"),
)

# Failed asset checks (and SLA breaches) the alert sensor has seen: one row per breach of one
# (check, asset, partition), opened by a failed evaluation, recovered by the next passed one.
# The *_notified_at columns are set only after the webhook answered 2xx.
alert_breaches = Table(
    "alert_breaches",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("check_name", String(255), nullable=False),
    Column("asset_key", String(512), nullable=False),
    Column("partition", String(255), nullable=False),  # "" for an unpartitioned check
    Column("status", String(16), nullable=False),
    # "check|asset|partition" while open, so one identity has at most one open breach.
    Column("open_identity", String(1024), unique=True),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("opened_event_id", BigInteger, nullable=False),  # Dagster event-log storage ids
    Column("last_event_id", BigInteger, nullable=False),
    Column("recovered_at", UtcDateTime),
    Column("details", JsonDocument, nullable=False),  # severity, count, records, run id
    Column("opened_notified_at", UtcDateTime),
    Column("recovered_notified_at", UtcDateTime),
    Column("delivery_attempts", Integer, nullable=False, default=0),
    Column("last_delivery_error", Text),
    CheckConstraint(_one_of("status", BREACH_STATUSES), name="status"),
    CheckConstraint(
        "(status = 'open' AND open_identity IS NOT NULL)"
        " OR (status = 'recovered' AND open_identity IS NULL)",
        name="open_identity",
    ),
    Index(None, "check_name", "asset_key", "partition", "id"),
)

# The audit trail: append-only (triggers from migration 0007 refuse UPDATE, DELETE and any
# INSERT that does not extend the head), each record holding the hash of the one before it.
# Ids are given by the appender (the head's id plus one, under a lock), never by a sequence,
# so they have no gaps unless a row is deleted; prev_hash being unique, no two records can
# claim the same predecessor (no fork).
audit_records = Table(
    "audit_records",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("action", String(64), nullable=False),
    Column("subject", String(512), nullable=False),
    Column("reason", Text),
    Column("details", JsonDocument, nullable=False),
    Column("prev_hash", String(64), nullable=False, unique=True),
    Column("hash", String(64), nullable=False),
    Index(None, "action", "subject"),
)

# System-API call counters summed over every process that made calls (store/api_stats.py):
# each process adds what it counted since its last flush, so values only grow.
api_call_stats = Table(
    "api_call_stats",
    metadata,
    Column("metric", String(16), primary_key=True),
    Column("system", String(32), primary_key=True),
    Column("label", String(32), primary_key=True),  # method, status or ""
    Column("le", String(16), primary_key=True),  # a request_bucket's upper bound, else ""
    Column("value", Double, nullable=False),
    CheckConstraint(_one_of("metric", API_STAT_METRICS), name="metric"),
)
