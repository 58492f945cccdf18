"""``sync-platform backfill``: one region over a date range, as a Dagster asset backfill.

The backfill is written to the instance in ``DAGSTER_HOME``, where the daemon that
``sync-platform up`` (``dagster dev``) runs picks it up, launches one run per date x region
partition and the UI lists it under Runs > Backfills. Dagster 1.13 has no CLI for asset
backfills (``dagster job backfill`` takes a job, ``dagster asset`` has none), so this builds
the backfill as the webserver's ``launchPartitionBackfill`` mutation does.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime

from sync_platform.settings import REGIONS

UI_URL_ENV = "SYNC_DAGSTER_UI_URL"
DEFAULT_UI_URL = "http://127.0.0.1:3000"


class BackfillError(Exception):
    """Arguments or surroundings that make the backfill impossible; says what to change."""


def run_backfill(region: str, start: date, end: date, assets: str, dry_run: bool) -> int:
    # Dagster and the code location load only once the arguments are known to be good.
    from assets.partitions import HISTORY_START

    if region not in REGIONS:
        raise BackfillError(f"unknown region {region!r}; the regions are {', '.join(REGIONS)}")
    if end < start:
        raise BackfillError(f"--to {end} is before --from {start}")
    history_start = date.fromisoformat(HISTORY_START)
    if start < history_start:
        raise BackfillError(
            f"--from {start} is before the history the platform posts, which starts on "
            f"{history_start} (SYNC_HISTORY_START)"
        )
    today = datetime.now(UTC).date()
    if end > today:
        raise BackfillError(
            f"--to {end} is in the future; the last day with a partition is {today}"
        )

    from dagster import DagsterInstance
    from dagster._core.utils import make_new_backfill_id

    from sensors.schedules import (
        RECONCILIATION_DAILY,
        TRANSACTION_ASSET_KEYS,
        BackfillRequest,
        submit_backfill,
    )
    from sync_platform.definitions import defs

    asset_keys = {
        "transactions": TRANSACTION_ASSET_KEYS,
        "reconciliation": [RECONCILIATION_DAILY],
        "all": [*TRANSACTION_ASSET_KEYS, RECONCILIATION_DAILY],
    }[assets]
    asset_graph = defs.get_repository_def().asset_graph
    missing = [k.to_user_string() for k in asset_keys if not asset_graph.has(k)]
    if missing:
        raise BackfillError(f"the code location has no asset {', '.join(missing)}")
    request = BackfillRequest(
        region=region,
        first=start,
        last=end,
        asset_keys=asset_keys,
        backfill_id=make_new_backfill_id(),
        title=f"Backfill {region} {start}..{end} ({assets})",
        description=f"sync-platform backfill --region {region} --from {start} --to {end} "
        f"--assets {assets}",
        tags={"sync/region": region, "sync/backfill_by": "cli"},
    )
    names = ", ".join(k.to_user_string() for k in asset_keys)
    count = len(request.partition_keys)
    print(f"{count} partition(s) {request.partition_keys[0]} .. {request.partition_keys[-1]}")
    print(f"assets: {names}")
    if dry_run:
        print("dry run: nothing submitted")
        return 0
    if not os.environ.get("DAGSTER_HOME"):
        raise BackfillError(
            "DAGSTER_HOME is not set; point it at the instance the Dagster daemon runs "
            "(sync-platform up uses .sync-platform/dagster_home)"
        )
    with DagsterInstance.get() as instance:
        submit_backfill(instance, asset_graph, request)
    ui = (os.environ.get(UI_URL_ENV) or DEFAULT_UI_URL).rstrip("/")
    print(f"backfill {request.backfill_id} submitted: {ui}/runs/b/{request.backfill_id}")
    return 0
