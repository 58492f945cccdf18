"""A sandbox's state: JSON documents in one SQLite file.

Every object a sandbox serves is one row of ``objects``: its kind (``customer``, ``invoice``,
``company`` ...), its vendor id, a monotonically increasing ``seq`` that fixes list order, and
the vendor-shaped JSON document. Vendor specifics (ordering, filters, id formats) live in each
sandbox; this module only keeps documents durable and ordered.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    data TEXT NOT NULL,
    UNIQUE (kind, id)
);
CREATE INDEX IF NOT EXISTS objects_kind_seq ON objects (kind, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    created REAL NOT NULL
);
"""


class SandboxStore:
    """Thread-safe access to one sandbox's SQLite file."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- meta -------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def next_counter(self, name: str) -> int:
        """Return 1, 2, 3 ... for ``name``, durable across restarts (document numbers, ids)."""
        with self._lock, self.transaction():
            current = int(self.get_meta(f"counter:{name}") or 0) + 1
            self.set_meta(f"counter:{name}", str(current))
            return current

    # -- documents --------------------------------------------------------------------------
    def insert(self, kind: str, obj_id: str, data: dict[str, Any]) -> int:
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO objects (kind, id, data) VALUES (?, ?, ?)",
                (kind, obj_id, json.dumps(data, separators=(",", ":"))),
            )
            return int(cur.lastrowid or 0)

    def insert_many(self, kind: str, rows: Iterable[tuple[str, dict[str, Any]]]) -> None:
        with self._lock, self.transaction():
            self._db.executemany(
                "INSERT INTO objects (kind, id, data) VALUES (?, ?, ?)",
                ((kind, i, json.dumps(d, separators=(",", ":"))) for i, d in rows),
            )

    def put(self, kind: str, obj_id: str, data: dict[str, Any]) -> None:
        """Replace an existing document, keeping its list position."""
        with self._lock:
            cur = self._db.execute(
                "UPDATE objects SET data = ? WHERE kind = ? AND id = ?",
                (json.dumps(data, separators=(",", ":")), kind, obj_id),
            )
            if cur.rowcount == 0:
                raise KeyError(f"{kind} {obj_id} does not exist")

    def delete(self, kind: str, obj_id: str) -> bool:
        with self._lock:
            cur = self._db.execute("DELETE FROM objects WHERE kind = ? AND id = ?", (kind, obj_id))
            return cur.rowcount > 0

    def get(self, kind: str, obj_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT data FROM objects WHERE kind = ? AND id = ?", (kind, obj_id)
            ).fetchone()
        return None if row is None else json.loads(row[0])

    def seq_of(self, kind: str, obj_id: str) -> int | None:
        with self._lock:
            row = self._db.execute(
                "SELECT seq FROM objects WHERE kind = ? AND id = ?", (kind, obj_id)
            ).fetchone()
        return None if row is None else int(row[0])

    def count(self, kind: str) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*) FROM objects WHERE kind = ?", (kind,)
            ).fetchone()
        return int(row[0])

    def scan(
        self,
        kind: str,
        *,
        where: str = "",
        params: tuple[Any, ...] = (),
        descending: bool = False,
        after_seq: int | None = None,
        before_seq: int | None = None,
        limit: int | None = None,
    ) -> list[tuple[int, dict[str, Any]]]:
        """Documents of ``kind`` in ``seq`` order, as ``(seq, document)`` pairs.

        ``where`` is an extra SQL condition over ``data`` (use ``json_extract(data, '$.x')``);
        ``after_seq`` / ``before_seq`` bound the sequence exclusively, whatever the direction.
        """
        sql = "SELECT seq, data FROM objects WHERE kind = ?"
        args: list[Any] = [kind]
        if where:
            sql += f" AND ({where})"
            args.extend(params)
        if after_seq is not None:
            sql += " AND seq > ?"
            args.append(after_seq)
        if before_seq is not None:
            sql += " AND seq < ?"
            args.append(before_seq)
        sql += " ORDER BY seq " + ("DESC" if descending else "ASC")
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [(int(seq), json.loads(data)) for seq, data in rows]

    def iter_all(self, kind: str) -> Iterator[dict[str, Any]]:
        for _, doc in self.scan(kind):
            yield doc

    # -- idempotency ------------------------------------------------------------------------
    def idempotency_get(self, key: str) -> tuple[str, int, str] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT fingerprint, status, body FROM idempotency WHERE key = ?", (key,)
            ).fetchone()
        return None if row is None else (str(row[0]), int(row[1]), str(row[2]))

    def idempotency_put(
        self, key: str, fingerprint: str, status: int, body: str, created: float
    ) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO idempotency (key, fingerprint, status, body, created) "
                "VALUES (?, ?, ?, ?, ?)",
                (key, fingerprint, status, body, created),
            )

    # -- transactions -----------------------------------------------------------------------
    def transaction(self) -> _Transaction:
        return _Transaction(self)

    @property
    def connection(self) -> sqlite3.Connection:
        """The raw connection, for vendor-specific queries; hold ``lock`` while using it."""
        return self._db

    @property
    def lock(self) -> threading.RLock:
        return self._lock


class _Transaction:
    """Re-entrant BEGIN/COMMIT around a group of writes (nested uses join the outer one)."""

    def __init__(self, store: SandboxStore) -> None:
        self._store = store
        self._outer = False

    def __enter__(self) -> SandboxStore:
        self._store.lock.acquire()
        if not self._store.connection.in_transaction:
            self._store.connection.execute("BEGIN")
            self._outer = True
        return self._store

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if self._outer:
                self._store.connection.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self._store.lock.release()
