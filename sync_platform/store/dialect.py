"""What differs between SQLite and PostgreSQL, kept in one place."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, event, make_url
from sqlalchemy.dialects import postgresql, sqlite

from sync_platform.store.errors import StoreError

# Long enough for a Dagster run to wait out another run's short write transaction.
SQLITE_BUSY_TIMEOUT_SECONDS = 30.0

UpsertInsert = sqlite.Insert | postgresql.Insert


def insert_for(conn: Connection, table: Table) -> UpsertInsert:
    """An INSERT that supports ``ON CONFLICT`` on the connection's database."""
    name = conn.dialect.name
    if name == "sqlite":
        return sqlite.insert(table)
    if name == "postgresql":
        return postgresql.insert(table)
    raise StoreError(f"the store supports SQLite and PostgreSQL, not {name!r}")


def create_store_engine(url: str) -> Engine:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url)
    if backend == "postgresql":
        return create_engine(url, pool_pre_ping=True)
    raise StoreError(
        f"unsupported store URL {parsed.render_as_string(hide_password=True)!r}: "
        "use sqlite:///path/to/store.sqlite3 or postgresql+psycopg2://user@host/db"
    )


def _sqlite_engine(url: str) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, issue BEGIN (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        _use_wal(cursor)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A deferred transaction that reads and then writes fails at once with "database is
        # locked" when another writer got there first; IMMEDIATE waits for the busy timeout.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _use_wal(cursor: sqlite3.Cursor) -> None:
    """Switch the file to WAL (readers never wait for the writer); the mode is stored in the
    file, so this is a read on every later connection."""
    if cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
        return
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError as error:
        # Switching needs the file to itself and SQLite reports a busy file at once, without
        # waiting. Only first connections to a brand-new file can race here: a connection
        # that is in the way made the switch itself, or the next connection will.
        if "locked" not in str(error):
            raise
