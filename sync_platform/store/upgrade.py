"""Alembic upgrades run from code, so an installed package needs no alembic.ini."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, text

from sync_platform.store.dialect import create_store_engine

MIGRATIONS = Path(__file__).with_name("migrations")

# Any constant works; it only has to be the same in every process that migrates.
_PG_MIGRATION_LOCK = 7_412_003_551


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def migrate(url: str) -> None:
    """Upgrade the database at ``url`` to the newest schema."""
    engine = create_store_engine(url)
    try:
        migrate_engine(engine)
    finally:
        engine.dispose()


def migrate_engine(engine: Engine) -> None:
    # One transaction, serialised between processes, so two Dagster runs opening a fresh
    # store at once do not both create the tables.
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        command.upgrade(alembic_config(conn), "head")
