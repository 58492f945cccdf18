"""The replay job: re-drive the transactions of open exceptions once their cause is fixed.

Launch it from the Dagster UI (Launchpad) with the same filters as ``sync-platform replay``.
"""

from datetime import UTC, datetime

from dagster import Config, OpExecutionContext, job, op
from pydantic import Field, field_validator

from resources.erp import ErpResource
from resources.store import StoreResource
from sync_platform.settings import REGIONS
from sync_platform.transactions.erp_gateway import replay_exceptions
from sync_platform.transactions.flow import ReplaySelection


class ReplayConfig(Config):
    reason: str | None = Field(default=None, description="only exceptions with this reason code")
    region: str | None = Field(default=None, description="only this region")
    since: str | None = Field(
        default=None, description="only exceptions opened on or after this date (YYYY-MM-DD)"
    )
    requested_by: str = Field(description="who asks for the replay (recorded on each attempt)")
    note: str = Field(description="why: what was fixed (recorded on each attempt)")

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str | None) -> str | None:
        if value is not None and value not in REGIONS:
            raise ValueError(f"unknown region {value!r}; the regions are {', '.join(REGIONS)}")
        return value

    @field_validator("since")
    @classmethod
    def _a_date(cls, value: str | None) -> str | None:
        if value is not None:
            datetime.strptime(value, "%Y-%m-%d")
        return value

    def selection(self) -> ReplaySelection:
        since = (
            datetime.strptime(self.since, "%Y-%m-%d").replace(tzinfo=UTC) if self.since else None
        )
        return ReplaySelection(reason=self.reason, region=self.region, since=since)


@op(pool="erp", description="Re-drive the transactions of the matching open exceptions.")
def replay_open_exceptions(
    context: OpExecutionContext, config: ReplayConfig, erp: ErpResource, store: StoreResource
) -> None:
    summary = replay_exceptions(
        erp,
        store.store,
        config.selection(),
        note=config.note,
        log=context.log.info,
        by=config.requested_by,
    )
    context.log.info(
        f"replayed {summary['selected']} transactions; open exceptions now "
        f"{summary['still_open'] or 'none'}"
    )


@job(description="Replay exceptions after their cause is fixed (idempotent).")
def replay_exceptions_job() -> None:
    replay_open_exceptions()
