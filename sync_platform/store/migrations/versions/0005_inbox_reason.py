"""Inbox events say why they were ignored.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inbox_events") as batch:
        batch.add_column(sa.Column("reason", sa.Text(), nullable=True))
    op.create_index(op.f("ix_inbox_events_run_key"), "inbox_events", ["run_key"])


def downgrade() -> None:
    op.drop_index(op.f("ix_inbox_events_run_key"), table_name="inbox_events")
    with op.batch_alter_table("inbox_events") as batch:
        batch.drop_column("reason")
