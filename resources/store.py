"""The integration store as a Dagster resource (SQLite by default, PostgreSQL in production)."""

from __future__ import annotations

from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field, PrivateAttr

from sync_platform.audit import record_config_changes
from sync_platform.store import Store
from sync_platform.store.audit import PLATFORM_ACTOR


class StoreResource(ConfigurableResource):
    """Opens the store once per run; migrations run on open, and config files that changed
    since they were last recorded are audited."""

    url: str = Field(
        default="sqlite:///.sync-platform/store.sqlite3",
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg2://user@host/db",
    )

    _store: Store | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._store = Store.open(self.url)
        # Before a run (or sensor tick) reads config/: a changed file is audited first.
        run = context.run
        noticed_by = f"dagster run {run.run_id} ({run.job_name})" if run else "dagster sensor"
        record_config_changes(self._store, actor=PLATFORM_ACTOR, details={"noticed_by": noticed_by})

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store.open(self.url)
        return self._store
