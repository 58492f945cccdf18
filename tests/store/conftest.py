"""Every store test runs twice: on an SQLite file and on a fresh PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from store_testing import ManualClock

from sync_platform.store import Store


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite3'}"
    # Only the PostgreSQL half asks for the server, so `-k sqlite` runs need none.
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store(database_url: str, clock: ManualClock) -> Iterator[Store]:
    opened = Store.open(database_url, clock=clock)
    yield opened
    opened.close()
