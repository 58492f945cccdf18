"""The webhook inbox (verified, deduplicated events) and the record of refused webhooks.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# Frozen here on purpose: a migration must not change when schema.py does.
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbox_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("event_type", sa.String(length=128), nullable=False),
        sa.Column("object_id", sa.String(length=255), nullable=True),
        sa.Column("object_type", sa.String(length=64), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", JSON_DOCUMENT, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("run_key", sa.String(length=255), nullable=True),
        sa.CheckConstraint("source IN ('billing', 'crm')", name=op.f("ck_inbox_events_source")),
        sa.CheckConstraint(
            "status IN ('pending', 'processed', 'ignored')", name=op.f("ck_inbox_events_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_events")),
        sa.UniqueConstraint("source", "event_id", name=op.f("uq_inbox_events_source_event_id")),
    )
    op.create_index(
        op.f("ix_inbox_events_status_source_id"), "inbox_events", ["status", "source", "id"]
    )

    op.create_table(
        "webhook_rejections",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason_code", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("remote", sa.String(length=255), nullable=True),
        sa.Column("body_sha256", sa.String(length=64), nullable=True),
        sa.Column("body_bytes", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "reason_code IN ('bad_signature', 'stale_timestamp', 'malformed', 'too_large', "
            "'unknown_source', 'missing_signature')",
            name=op.f("ck_webhook_rejections_reason_code"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_rejections")),
    )
    op.create_index(
        op.f("ix_webhook_rejections_source_received_at"),
        "webhook_rejections",
        ["source", "received_at"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_webhook_rejections_source_received_at"), table_name="webhook_rejections")
    op.drop_table("webhook_rejections")
    op.drop_index(op.f("ix_inbox_events_status_source_id"), table_name="inbox_events")
    op.drop_table("inbox_events")
