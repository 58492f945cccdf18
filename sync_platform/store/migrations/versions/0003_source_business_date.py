"""Source records of financial documents carry the day they belong to.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_source_records_system_object_type_region_business_date"


def upgrade() -> None:
    with op.batch_alter_table("source_records") as batch:
        batch.add_column(sa.Column("business_date", sa.Date(), nullable=True))
    op.create_index(INDEX, "source_records", ["system", "object_type", "region", "business_date"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="source_records")
    with op.batch_alter_table("source_records") as batch:
        batch.drop_column("business_date")
