"""Locks that serialize work on one partition across processes, and die with their holder.

Two runs posting the same documents at once (a backfill and a sensor-triggered run, or a
replay) would both search the ERP, both find nothing and both create. A lock per partition
makes the second wait until the first is done, when its search finds what the first posted.
The lock must vanish when its holder dies (a run killed with SIGKILL), so no lease or
clean-up is needed: PostgreSQL session advisory locks and ``flock`` on a file both do.
"""

from __future__ import annotations

import fcntl
import hashlib
import threading
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from sqlalchemy import Engine, make_url, text

# flock excludes processes, not threads of one process; these exclude the threads.
_THREAD_LOCKS: dict[str, threading.Lock] = {}
_GUARD = threading.Lock()


def _key64(name: str) -> int:
    """A signed 64-bit key for ``pg_advisory_lock``."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def partition_locks(engine: Engine, names: Iterable[str]) -> Iterator[None]:
    """Hold the lock of every name (taken in sorted order, so two holders never deadlock)."""
    with ExitStack() as stack:
        for name in sorted(set(names)):
            stack.enter_context(_lock(engine, name))
        yield


@contextmanager
def _lock(engine: Engine, name: str) -> Iterator[None]:
    with _GUARD:
        thread_lock = _THREAD_LOCKS.setdefault(f"{engine.url}|{name}", threading.Lock())
    with thread_lock:
        if engine.dialect.name == "postgresql":
            with _advisory(engine, name):
                yield
        else:
            with _flock(engine, name):
                yield


@contextmanager
def _advisory(engine: Engine, name: str) -> Iterator[None]:
    # Advisory locks are per database: the schema in use (search_path) is part of the key.
    url = engine.url
    key = _key64(f"{url.database}|{url.query.get('options', '')}|{name}")
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
            conn.commit()


@contextmanager
def _flock(engine: Engine, name: str) -> Iterator[None]:
    database = make_url(str(engine.url)).database
    if not database or database == ":memory:" or database.startswith("file:"):
        yield  # one process holds the whole store; the thread lock is enough
        return
    folder = Path(database).with_name(Path(database).name + ".locks")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (hashlib.sha256(name.encode()).hexdigest()[:32] + ".lock")
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
