"""System-API call counters summed over every process, for the gateway's /metrics.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_call_stats",
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("label", sa.String(length=32), nullable=False),
        sa.Column("le", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.CheckConstraint(
            "metric IN ('request_bucket', 'request_seconds', 'error', 'rate_limited')",
            name=op.f("ck_api_call_stats_metric"),
        ),
        sa.PrimaryKeyConstraint("metric", "system", "label", "le", name=op.f("pk_api_call_stats")),
    )


def downgrade() -> None:
    op.drop_table("api_call_stats")
