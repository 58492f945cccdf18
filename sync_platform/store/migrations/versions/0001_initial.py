"""Initial schema: every store table.

Revision ID: 0001
Revises: -
Create Date: 2026-11-24 09:32:40.720886
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# Frozen here on purpose: a migration must not change when schema.py does.
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "conflicts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("canonical_id", sa.String(length=64), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("attribute", sa.String(length=128), nullable=False),
        sa.Column("owner_system", sa.String(length=32), nullable=False),
        sa.Column("owner_value", JSON_DOCUMENT, nullable=True),
        sa.Column("other_system", sa.String(length=32), nullable=False),
        sa.Column("other_record_id", sa.String(length=255), nullable=False),
        sa.Column("other_value", JSON_DOCUMENT, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('open', 'resolved')", name=op.f("ck_conflicts_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conflicts")),
        sa.UniqueConstraint(
            "canonical_id",
            "attribute",
            "other_system",
            name=op.f("uq_conflicts_canonical_id_attribute_other_system"),
        ),
    )
    op.create_index(op.f("ix_conflicts_region_status"), "conflicts", ["region", "status"])

    op.create_table(
        "customer_xref",
        sa.Column("canonical_id", sa.String(length=64), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("crm_company_id", sa.String(length=255), nullable=True),
        sa.Column("billing_customer_id", sa.String(length=255), nullable=True),
        sa.Column("erp_customer_number", sa.String(length=255), nullable=True),
        sa.Column("erp_customer_id", sa.String(length=255), nullable=True),
        sa.Column("match_rule", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("canonical_id", name=op.f("pk_customer_xref")),
        sa.UniqueConstraint(
            "billing_customer_id", name=op.f("uq_customer_xref_billing_customer_id")
        ),
        sa.UniqueConstraint("crm_company_id", name=op.f("uq_customer_xref_crm_company_id")),
        sa.UniqueConstraint(
            "erp_customer_number", name=op.f("uq_customer_xref_erp_customer_number")
        ),
    )
    op.create_index(op.f("ix_customer_xref_region"), "customer_xref", ["region"])

    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("payload", JSON_DOCUMENT, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("dedupe_key", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=255), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('identity', 'change_policy')", name=op.f("ck_reviews_kind")),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'rejected', 'applied', 'superseded')",
            name=op.f("ck_reviews_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_reviews_dedupe_key")),
    )
    op.create_index(op.f("ix_reviews_status_region"), "reviews", ["status", "region"])

    op.create_table(
        "source_records",
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("object_type", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.String(length=255), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=True),
        sa.Column("version", sa.String(length=255), nullable=True),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", JSON_DOCUMENT, nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "system", "object_type", "record_id", name=op.f("pk_source_records")
        ),
    )
    op.create_index(
        op.f("ix_source_records_system_object_type_region"),
        "source_records",
        ["system", "object_type", "region"],
    )

    op.create_table(
        "write_ledger",
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("object_type", sa.String(length=64), nullable=False),
        sa.Column("object_id", sa.String(length=255), nullable=True),
        sa.Column("operation", sa.String(length=64), nullable=False),
        sa.Column("source_version", sa.String(length=255), nullable=False),
        sa.Column("correlation_id", sa.String(length=64), nullable=False),
        sa.Column("payload_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("response", JSON_DOCUMENT, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'succeeded', 'failed')", name=op.f("ck_write_ledger_status")
        ),
        sa.PrimaryKeyConstraint("idempotency_key", name=op.f("pk_write_ledger")),
    )
    op.create_index(
        op.f("ix_write_ledger_system_object_type_object_id"),
        "write_ledger",
        ["system", "object_type", "object_id"],
    )

    op.create_table(
        "canonical_customers",
        sa.Column("canonical_id", sa.String(length=64), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("record", JSON_DOCUMENT, nullable=False),
        sa.Column("record_hash", sa.String(length=64), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["canonical_id"],
            ["customer_xref.canonical_id"],
            name=op.f("fk_canonical_customers_canonical_id_customer_xref"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("canonical_id", name=op.f("pk_canonical_customers")),
    )
    op.create_index(op.f("ix_canonical_customers_region"), "canonical_customers", ["region"])


def downgrade() -> None:
    op.drop_index(op.f("ix_canonical_customers_region"), table_name="canonical_customers")
    op.drop_table("canonical_customers")
    op.drop_index(op.f("ix_write_ledger_system_object_type_object_id"), table_name="write_ledger")
    op.drop_table("write_ledger")
    op.drop_index(op.f("ix_source_records_system_object_type_region"), table_name="source_records")
    op.drop_table("source_records")
    op.drop_index(op.f("ix_reviews_status_region"), table_name="reviews")
    op.drop_table("reviews")
    op.drop_index(op.f("ix_customer_xref_region"), table_name="customer_xref")
    op.drop_table("customer_xref")
    op.drop_index(op.f("ix_conflicts_region_status"), table_name="conflicts")
    op.drop_table("conflicts")
