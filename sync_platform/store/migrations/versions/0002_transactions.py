"""Financial transactions: their lifecycle stage, attempt history and exceptions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 10:28:26.116624
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# Frozen here on purpose: a migration must not change when schema.py does.
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "transactions",
        sa.Column("txn_id", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("source_system", sa.String(length=32), nullable=False),
        sa.Column("source_id", sa.String(length=255), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("source_version", sa.String(length=64), nullable=False),
        sa.Column("correlation_id", sa.String(length=64), nullable=False),
        sa.Column("payload", JSON_DOCUMENT, nullable=False),
        sa.Column("erp_document_id", sa.String(length=255), nullable=True),
        sa.Column("erp_document_number", sa.String(length=255), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('invoice', 'payment', 'credit_note')", name=op.f("ck_transactions_kind")
        ),
        sa.CheckConstraint(
            "stage IN ('received', 'validated', 'posted', 'reconciled', 'failed', 'retried', "
            "'dead_lettered', 'replayed', 'skipped')",
            name=op.f("ck_transactions_stage"),
        ),
        sa.PrimaryKeyConstraint("txn_id", name=op.f("pk_transactions")),
        sa.UniqueConstraint(
            "kind",
            "source_system",
            "source_id",
            name=op.f("uq_transactions_kind_source_system_source_id"),
        ),
    )
    op.create_index(
        op.f("ix_transactions_region_business_date_kind"),
        "transactions",
        ["region", "business_date", "kind"],
    )
    op.create_index(op.f("ix_transactions_stage"), "transactions", ["stage"])

    op.create_table(
        "transaction_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("txn_id", sa.String(length=255), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("from_stage", sa.String(length=16), nullable=True),
        sa.Column("to_stage", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason_code", sa.String(length=64), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("erp_response", JSON_DOCUMENT, nullable=True),
        sa.CheckConstraint(
            "outcome IN ('ok', 'error', 'waiting')",
            name=op.f("ck_transaction_attempts_outcome"),
        ),
        sa.ForeignKeyConstraint(
            ["txn_id"],
            ["transactions.txn_id"],
            name=op.f("fk_transaction_attempts_txn_id_transactions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transaction_attempts")),
        sa.UniqueConstraint("txn_id", "seq", name=op.f("uq_transaction_attempts_txn_id_seq")),
    )

    op.create_table(
        "transaction_exceptions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("txn_id", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("source_system", sa.String(length=32), nullable=False),
        sa.Column("reason_code", sa.String(length=64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("open_txn_id", sa.String(length=255), nullable=True),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("correlation_id", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "status IN ('open', 'closed')", name=op.f("ck_transaction_exceptions_status")
        ),
        sa.CheckConstraint(
            "(status = 'open' AND open_txn_id IS NOT NULL AND open_txn_id = txn_id)"
            " OR (status = 'closed' AND open_txn_id IS NULL)",
            name=op.f("ck_transaction_exceptions_open_txn_id"),
        ),
        sa.ForeignKeyConstraint(
            ["txn_id"],
            ["transactions.txn_id"],
            name=op.f("fk_transaction_exceptions_txn_id_transactions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transaction_exceptions")),
        sa.UniqueConstraint("open_txn_id", name=op.f("uq_transaction_exceptions_open_txn_id")),
    )
    op.create_index(
        op.f("ix_transaction_exceptions_status_reason_code_region"),
        "transaction_exceptions",
        ["status", "reason_code", "region"],
    )
    op.create_index(op.f("ix_transaction_exceptions_txn_id"), "transaction_exceptions", ["txn_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_transaction_exceptions_txn_id"), table_name="transaction_exceptions")
    op.drop_index(
        op.f("ix_transaction_exceptions_status_reason_code_region"),
        table_name="transaction_exceptions",
    )
    op.drop_table("transaction_exceptions")
    op.drop_table("transaction_attempts")
    op.drop_index(op.f("ix_transactions_stage"), table_name="transactions")
    op.drop_index(op.f("ix_transactions_region_business_date_kind"), table_name="transactions")
    op.drop_table("transactions")
