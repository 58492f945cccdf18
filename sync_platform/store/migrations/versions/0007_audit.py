"""The audit trail: hash-chained records the database refuses to change or delete.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# Frozen here on purpose: a migration must not change when schema.py does.
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REFUSAL = "audit_records is append-only"
GENESIS_HASH = "0" * 64
# An insert must extend the chain: INSERT OR REPLACE (SQLite) deletes the row it conflicts
# with without firing DELETE triggers, so a rewrite of record N is refused here instead.
OUT_OF_ORDER = (
    f"{REFUSAL}: INSERT refused (a new record must extend the chain: "
    "id = head id + 1, prev_hash = head hash)"
)

SQLITE_TRIGGERS = [
    f"""
    CREATE TRIGGER audit_records_no_{verb.lower()} BEFORE {verb} ON audit_records
    BEGIN
        SELECT RAISE(ABORT, '{REFUSAL}: {verb} refused');
    END
    """
    for verb in ("UPDATE", "DELETE")
] + [
    f"""
    CREATE TRIGGER audit_records_append_only BEFORE INSERT ON audit_records
    WHEN NEW.id IS NOT (SELECT coalesce(max(id), 0) + 1 FROM audit_records)
        OR NEW.prev_hash IS NOT coalesce(
            (SELECT hash FROM audit_records ORDER BY id DESC LIMIT 1), '{GENESIS_HASH}'
        )
    BEGIN
        SELECT RAISE(ABORT, '{OUT_OF_ORDER}');
    END
    """
]

POSTGRESQL_TRIGGERS = [
    f"""
    CREATE FUNCTION audit_records_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{REFUSAL}: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END
    $$
    """,
    """
    CREATE TRIGGER audit_records_no_change BEFORE UPDATE OR DELETE ON audit_records
    FOR EACH ROW EXECUTE FUNCTION audit_records_refuse_change()
    """,
    """
    CREATE TRIGGER audit_records_no_truncate BEFORE TRUNCATE ON audit_records
    FOR EACH STATEMENT EXECUTE FUNCTION audit_records_refuse_change()
    """,
    # Appenders hold LOCK TABLE ... EXCLUSIVE, so the head read here is the head.
    f"""
    CREATE FUNCTION audit_records_refuse_out_of_order() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        head_id integer;
        head_hash varchar;
    BEGIN
        SELECT id, hash INTO head_id, head_hash FROM audit_records ORDER BY id DESC LIMIT 1;
        IF NEW.id IS DISTINCT FROM coalesce(head_id, 0) + 1
            OR NEW.prev_hash IS DISTINCT FROM coalesce(head_hash, '{GENESIS_HASH}') THEN
            RAISE EXCEPTION '{OUT_OF_ORDER}' USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
    END
    $$
    """,
    """
    CREATE TRIGGER audit_records_append_only BEFORE INSERT ON audit_records
    FOR EACH ROW EXECUTE FUNCTION audit_records_refuse_out_of_order()
    """,
]


def upgrade() -> None:
    op.create_table(
        "audit_records",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=512), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("details", JSON_DOCUMENT, nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_records")),
        sa.UniqueConstraint("prev_hash", name=op.f("uq_audit_records_prev_hash")),
    )
    op.create_index(op.f("ix_audit_records_action_subject"), "audit_records", ["action", "subject"])
    dialect = op.get_bind().dialect.name
    for statement in POSTGRESQL_TRIGGERS if dialect == "postgresql" else SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    # Dropping the table drops its triggers; the PostgreSQL functions go separately.
    op.drop_index(op.f("ix_audit_records_action_subject"), table_name="audit_records")
    op.drop_table("audit_records")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION audit_records_refuse_change()")
        op.execute("DROP FUNCTION audit_records_refuse_out_of_order()")
