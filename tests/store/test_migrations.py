"""Migrations: the migrated database is exactly schema.metadata, on both databases."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from sync_platform.store import Store, StoreError, migrate
from sync_platform.store.dialect import create_store_engine
from sync_platform.store.schema import metadata
from sync_platform.store.upgrade import alembic_config


def test_migrating_to_head_gives_exactly_the_declared_schema(database_url: str) -> None:
    migrate(database_url)
    migrate(database_url)  # a second run finds nothing to do

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
            assert context.get_current_revision() is not None
    finally:
        engine.dispose()


def test_every_migration_downgrades_and_upgrades_again(database_url: str) -> None:
    migrate(database_url)
    engine = create_store_engine(database_url)
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "base")
        assert inspect(engine).get_table_names() == ["alembic_version"]
        if engine.dialect.name == "postgresql":  # functions outlive the tables they served
            with engine.connect() as conn:
                left = conn.execute(
                    text(
                        "SELECT proname FROM pg_proc WHERE proname LIKE 'audit_records%' "
                        "AND pronamespace = to_regnamespace(current_schema())"
                    )
                )
                assert left.scalars().all() == []
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "head")
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


def test_open_migrates_a_new_database(database_url: str) -> None:
    store = Store.open(database_url)
    try:
        tables = set(inspect(store.engine).get_table_names())
    finally:
        store.close()

    assert set(metadata.tables) <= tables


def test_from_env_opens_the_url_in_sync_store_url(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNC_STORE_URL", database_url)

    store = Store.from_env()
    try:
        assert store.xrefs() == []
        assert store.engine.url.render_as_string(False) == database_url
    finally:
        store.close()


def test_from_env_defaults_to_an_sqlite_file_in_a_new_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SYNC_STORE_URL", raising=False)
    monkeypatch.chdir(tmp_path)

    Store.from_env().close()

    assert (tmp_path / ".sync-platform" / "store.sqlite3").is_file()


def test_an_unsupported_url_is_refused_with_the_supported_forms() -> None:
    with pytest.raises(
        StoreError, match=re.escape("sqlite:///path/to/store.sqlite3 or postgresql")
    ):
        Store.open("mysql://root@localhost/db")


def test_sqlite_files_use_wal_and_enforce_foreign_keys(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        store.close()
