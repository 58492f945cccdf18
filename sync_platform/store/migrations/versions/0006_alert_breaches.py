"""Breaches of asset checks the alert sensor has seen, and whether each was announced.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# Frozen here on purpose: a migration must not change when schema.py does.
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_breaches",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("check_name", sa.String(length=255), nullable=False),
        sa.Column("asset_key", sa.String(length=512), nullable=False),
        sa.Column("partition", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("open_identity", sa.String(length=1024), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_event_id", sa.BigInteger(), nullable=False),
        sa.Column("last_event_id", sa.BigInteger(), nullable=False),
        sa.Column("recovered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("details", JSON_DOCUMENT, nullable=False),
        sa.Column("opened_notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recovered_notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivery_attempts", sa.Integer(), nullable=False),
        sa.Column("last_delivery_error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'recovered')", name=op.f("ck_alert_breaches_status")
        ),
        sa.CheckConstraint(
            "(status = 'open' AND open_identity IS NOT NULL)"
            " OR (status = 'recovered' AND open_identity IS NULL)",
            name=op.f("ck_alert_breaches_open_identity"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_breaches")),
        sa.UniqueConstraint("open_identity", name=op.f("uq_alert_breaches_open_identity")),
    )
    op.create_index(
        op.f("ix_alert_breaches_check_name_asset_key_partition_id"),
        "alert_breaches",
        ["check_name", "asset_key", "partition", "id"],
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_alert_breaches_check_name_asset_key_partition_id"), table_name="alert_breaches"
    )
    op.drop_table("alert_breaches")
