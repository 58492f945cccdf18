"""Schedules: nightly reconciliation of yesterday, a weekly re-verification backfill, and the
asset backfill the CLI submits.

- ``nightly_reconciliation`` (02:00 UTC) asks, for the previous day, one run per region
  (a run key per day and region, so a tick evaluated twice launches each run once): the
  billing extract assets re-read the day, ``reconciliation/daily`` compares it with the ERP,
  and the checks of the ERP assets (completeness, duplicates, AR, SLAs) evaluate against both
  systems as they are now. It posts nothing, so drift is found and alerted, not papered over.
- ``sla_watch`` (every 5 minutes) evaluates the two SLA checks of today, and of yesterday too
  until 00:30 UTC so documents of late evening are judged, for every region: without it they
  ran only nightly, long after a breach. Dagster cannot run partitioned checks without an
  asset of the same partitions, so each run takes the billing invoice and payment extracts
  along (they only read billing).
- ``weekly_reverification`` (Sundays 03:00 UTC) submits one Dagster asset backfill per region
  over the last ``SYNC_REVERIFY_DAYS`` days (default 7, ending yesterday): the billing,
  canonical and ERP transaction assets and ``reconciliation/daily`` of every day, so the UI
  shows one backfill per region. Postings are idempotent, so re-running history is safe.
  The window never starts before ``HISTORY_START``.

Dagster 1.13 lets a *sensor* request a backfill (``RunRequest.for_asset_graph_subset``, which
its docstring calls private, over the non-public ``AssetGraphSubset``) but a schedule only
runs: the schedule daemon never submits backfills. So the weekly schedule submits the
backfills itself, as the webserver's ``launchPartitionBackfill`` mutation does
(``PartitionBackfill.from_asset_partitions`` then ``instance.add_backfill``), under a backfill
id made of the window and the region: evaluating a tick again finds the backfill and submits
nothing twice. ``sync-platform backfill`` uses the same function.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from dagster import (
    AssetKey,
    AssetSelection,
    DagsterInstance,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)
from dagster._core.definitions.assets.graph.base_asset_graph import BaseAssetGraph
from dagster._core.execution.backfill import PartitionBackfill

from assets.checks.transactions import (
    no_invoice_unposted_after_sla,
    no_payment_unapplied_after_sla,
    transaction_checks,
)
from assets.partitions import HISTORY_START, date_region_key
from assets.reconciliation import reconciliation_daily
from assets.transactions import FLOWS, transaction_assets
from sync_platform.settings import REGIONS

RECONCILIATION_DAILY = AssetKey(["reconciliation", "daily"])
TRANSACTION_ASSET_KEYS = [key for a in transaction_assets for key in a.keys]
ERP_ASSET_KEYS = {flow.erp for flow in FLOWS}
# The nightly run: billing re-read, reconciliation, and the checks on the ERP assets (the
# blocking ones guard postings, which this run does not make).
NIGHTLY_ASSETS = [*(flow.billing for flow in FLOWS), RECONCILIATION_DAILY]
NIGHTLY_CHECKS = [
    *(
        key
        for check in transaction_checks
        for key in check.check_keys
        if key.asset_key in ERP_ASSET_KEYS
    ),
    *reconciliation_daily.check_keys,
]
FIRST_DAY = date.fromisoformat(HISTORY_START)
# The SLA watch: the SLA checks, with the billing extracts of their documents (a partitioned
# check needs an asset of its partitions in the run).
SLA_ASSETS = [flow.billing for flow in FLOWS if flow.kind in ("invoice", "payment")]
SLA_CHECKS = [
    *no_invoice_unposted_after_sla.check_keys,
    *no_payment_unapplied_after_sla.check_keys,
]
# Until this time of day the previous day is watched too: its late-evening documents come due.
SLA_YESTERDAY_UNTIL = time(0, 30)
# Read once, when the code location loads.
REVERIFY_DAYS = int(os.environ.get("SYNC_REVERIFY_DAYS") or 7)
SCHEDULE_TAG = "sync/schedule"


def previous_day(scheduled_at: datetime) -> date:
    return scheduled_at.astimezone(UTC).date() - timedelta(days=1)


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def partition_keys(region: str, first: date, last: date) -> list[str]:
    return [str(date_region_key(day.isoformat(), region)) for day in days(first, last)]


@dataclass(frozen=True, slots=True)
class BackfillRequest:
    """An asset backfill over the date x region partitions of one region."""

    region: str
    first: date
    last: date
    asset_keys: Sequence[AssetKey]
    backfill_id: str
    title: str
    description: str
    tags: dict[str, str]

    @property
    def partition_keys(self) -> list[str]:
        return partition_keys(self.region, self.first, self.last)


def submit_backfill(
    instance: DagsterInstance, asset_graph: BaseAssetGraph, request: BackfillRequest
) -> bool:
    """Submit ``request`` for the backfill daemon; False if a backfill with its id exists."""
    if instance.get_backfill(request.backfill_id) is not None:
        return False
    instance.add_backfill(
        PartitionBackfill.from_asset_partitions(
            backfill_id=request.backfill_id,
            asset_graph=asset_graph,
            partition_names=request.partition_keys,
            asset_selection=list(request.asset_keys),
            backfill_timestamp=datetime.now(UTC).timestamp(),
            tags=request.tags,
            dynamic_partitions_store=instance,
            all_partitions=False,
            title=request.title,
            description=request.description,
            run_config=None,
        )
    )
    return True


@schedule(
    name="nightly_reconciliation",
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    target=AssetSelection.assets(*NIGHTLY_ASSETS) | AssetSelection.checks(*NIGHTLY_CHECKS),
    default_status=DefaultScheduleStatus.RUNNING,
    description="Reconciles the previous day for every region, one run per date x region "
    "partition: re-reads the day from billing (so documents whose webhooks were lost are "
    "seen), materializes reconciliation/daily and evaluates the completeness, duplicate and "
    "SLA checks of the ERP assets against billing and the ERP as they are now. It posts "
    "nothing: what it finds is reported (and alerted), not silently repaired.",
)
def nightly_reconciliation(context: ScheduleEvaluationContext) -> list[RunRequest]:
    return nightly_requests(context.scheduled_execution_time)


def nightly_requests(scheduled_at: datetime) -> list[RunRequest]:
    day = previous_day(scheduled_at).isoformat()
    return [
        RunRequest(
            run_key=f"nightly:{day}|{region}",
            partition_key=date_region_key(day, region),
            asset_selection=NIGHTLY_ASSETS,
            asset_check_keys=NIGHTLY_CHECKS,
            tags={SCHEDULE_TAG: "nightly_reconciliation"},
        )
        for region in REGIONS
    ]


@schedule(
    name="sla_watch",
    cron_schedule="*/5 * * * *",
    execution_timezone="UTC",
    target=AssetSelection.assets(*SLA_ASSETS) | AssetSelection.checks(*SLA_CHECKS),
    default_status=DefaultScheduleStatus.RUNNING,
    description="Every 5 minutes: evaluates no_invoice_unposted_after_sla and "
    "no_payment_unapplied_after_sla for today (and yesterday until 00:30 UTC) in every "
    "region, with the billing invoice and payment extracts they need to run.",
)
def sla_watch(context: ScheduleEvaluationContext) -> list[RunRequest]:
    return sla_requests(context.scheduled_execution_time)


def sla_requests(scheduled_at: datetime) -> list[RunRequest]:
    at = scheduled_at.astimezone(UTC)
    watched = [at.date()]
    if at.time() < SLA_YESTERDAY_UNTIL:
        watched.insert(0, at.date() - timedelta(days=1))
    minute = at.strftime("%Y-%m-%dT%H:%M")
    return [
        RunRequest(
            run_key=f"sla:{minute}|{day}|{region}",
            partition_key=date_region_key(day.isoformat(), region),
            asset_selection=SLA_ASSETS,
            asset_check_keys=SLA_CHECKS,
            tags={SCHEDULE_TAG: "sla_watch"},
        )
        for day in watched
        if day >= FIRST_DAY
        for region in REGIONS
    ]


def weekly_requests(scheduled_at: datetime, window_days: int) -> list[BackfillRequest]:
    last = previous_day(scheduled_at)
    first = max(last - timedelta(days=window_days - 1), FIRST_DAY)
    if first > last:
        return []  # the whole window is before the history starts
    return [
        BackfillRequest(
            region=region,
            first=first,
            last=last,
            asset_keys=[*TRANSACTION_ASSET_KEYS, RECONCILIATION_DAILY],
            backfill_id=f"reverify-{first:%Y%m%d}-{last:%Y%m%d}-{region}",
            title=f"Weekly re-verification {region} {first}..{last}",
            description="Re-extracts and re-posts (idempotently) the billing, canonical and ERP "
            "transaction assets and reconciles every day of the window.",
            tags={SCHEDULE_TAG: "weekly_reverification", "sync/region": region},
        )
        for region in REGIONS
    ]


@schedule(
    name="weekly_reverification",
    cron_schedule="0 3 * * 0",
    execution_timezone="UTC",
    target=AssetSelection.assets(*TRANSACTION_ASSET_KEYS, RECONCILIATION_DAILY),
    default_status=DefaultScheduleStatus.RUNNING,
    description=f"Sundays: one backfill per region re-extracting and re-verifying the last "
    f"{REVERIFY_DAYS} days (SYNC_REVERIFY_DAYS): transaction assets and reconciliation/daily.",
)
def weekly_reverification(context: ScheduleEvaluationContext) -> SkipReason:
    asset_graph = context.repository_def.asset_graph
    submitted = [
        request.backfill_id
        for request in weekly_requests(context.scheduled_execution_time, REVERIFY_DAYS)
        if submit_backfill(context.instance, asset_graph, request)
    ]
    # A schedule tick that only submits backfills has no runs to show; say what it did.
    return SkipReason(
        f"submitted backfills {', '.join(submitted)}" if submitted else "backfills exist already"
    )


reconciliation_schedules = [nightly_reconciliation, weekly_reverification, sla_watch]
