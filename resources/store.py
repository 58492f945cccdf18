"""The integration store as a Dagster resource (SQLite by default, PostgreSQL in production)."""

from __future__ import annotations

import time

from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field, PrivateAttr

from resources import api_metrics
from sync_platform.audit import record_config_changes
from sync_platform.store import Store
from sync_platform.store.audit import PLATFORM_ACTOR


class StoreResource(ConfigurableResource):
    """Opens the store once per run; migrations run on open, and config files that changed
    since they were last recorded are audited.

    While the run (or sensor tick) lasts, the store is where the process's system-API call
    figures go (``resources.api_metrics``): every ~30 s while calls are made, and at teardown.
    """

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
        api_metrics.TALLY.use_sink(self._store.add_api_stats)

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._store is not None:
            api_metrics.TALLY.drop_sink(self._store.add_api_stats)
            api_metrics.TALLY.wait_for_flush(timeout=60)
            # A failed flush only warns; a run worker has no later one, so try again briefly.
            for pause in (0.5, 2.0, None):
                if api_metrics.TALLY.flush(self._store.add_api_stats, context.log):
                    break
                if pause is not None:
                    time.sleep(pause)
            self._store.close()
            self._store = None

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store.open(self.url)
        return self._store
