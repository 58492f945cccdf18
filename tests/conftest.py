"""Fixtures every test folder shares: a real PostgreSQL server for the session.

``SYNC_TEST_POSTGRES_URL`` names a database on an existing server (its user must be allowed
to create schemas there); otherwise a throwaway server is initialised and started from the
local PostgreSQL binaries and removed at the end of the session. Each test that asks for
``postgres_url`` gets an empty schema of its own.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl) were not found via `pg_config --bindir`, "
    "/usr/lib/postgresql/*/bin or PATH. Install them (Debian/Ubuntu: "
    "`apt-get install postgresql`; macOS: `brew install postgresql`) or set "
    "SYNC_TEST_POSTGRES_URL=postgresql+psycopg2://user@host:port/postgres."
)


def postgres_bindir() -> Path | None:
    """The folder holding initdb and pg_ctl; .ci/run looks in the same places."""
    candidates: list[Path] = []
    if pg_config := shutil.which("pg_config"):
        result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        if result.returncode == 0:
            candidates.append(Path(result.stdout.strip()))
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted((Path(p) for p in versions), key=_major_version, reverse=True)
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).resolve().parent)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


def _major_version(bindir: Path) -> int:
    name = bindir.parent.name
    return int(name) if name.isdigit() else 0


class PostgresServer:
    """A PostgreSQL database in which each test gets a schema of its own.

    A fresh schema (named in the URL's ``search_path``) costs milliseconds where a fresh
    database costs a third of a second, and is just as empty and independent.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._admin = create_engine(url, isolation_level="AUTOCOMMIT")

    def create_schema(self) -> str:
        """Create an empty schema and return a URL whose connections work inside it."""
        name = f"test_{uuid.uuid4().hex[:16]}"
        with self._admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
        url = make_url(self.url).update_query_dict({"options": f"-csearch_path={name}"})
        return url.render_as_string(hide_password=False)

    def drop_schema(self, url: str) -> None:
        name = make_url(url).query["options"].removeprefix("-csearch_path=")
        with self._admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))

    def dispose(self) -> None:
        self._admin.dispose()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    url = os.environ.get("SYNC_TEST_POSTGRES_URL")
    if url:
        server = PostgresServer(url)
        yield server
        server.dispose()
        return
    bindir = postgres_bindir()
    if bindir is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    with _throwaway_cluster(bindir) as url:
        server = PostgresServer(url)
        yield server
        server.dispose()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A URL to an empty PostgreSQL schema for one test, dropped afterwards."""
    url = postgres_server.create_schema()
    yield url
    postgres_server.drop_schema(url)


@contextmanager
def _throwaway_cluster(bindir: Path) -> Iterator[str]:
    root = Path(tempfile.mkdtemp(prefix="sync-platform-pg-"))
    data = root / "data"
    # PostgreSQL refuses to run as root, so root runs it as the postgres user.
    as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_owner:
        shutil.chown(root, "postgres", "postgres")

    def run(program: str, *args: str) -> None:
        command = [*as_owner, str(bindir / program), *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            log = root / "server.log"
            pytest.fail(
                f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}"
                f"{result.stderr}{log.read_text() if log.exists() else ''}",
                pytrace=False,
            )

    try:
        run(
            "initdb",
            "-D",
            str(data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-locale",
            "-E",
            "UTF8",
            "--no-sync",
        )
        port = _free_port()
        # Durability is pointless for a throwaway server; these make it start and write fast.
        options = (
            f"-p {port} -c listen_addresses=127.0.0.1 -k {root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        run("pg_ctl", "-D", str(data), "-o", options, "-l", str(root / "server.log"), "-w", "start")
        run("createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "sync_platform_tests")
        try:
            yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/sync_platform_tests"
        finally:
            run("pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
