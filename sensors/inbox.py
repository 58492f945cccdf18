"""The landing sensor: turns new inbox events into runs of the partitions they affect.

Inbox status protocol:

- ``pending``, no run key: landed by the gateway, not yet seen by this sensor;
- ``pending`` with a run key: scheduled; the sensor requested the run that will take it;
- ``processed``: the run's extract asset landed what the event names (as the source holds
  it now);
- ``ignored`` with a reason: it affects nothing we sync, or its region or day is unknown.

The cursor is the highest inbox id seen. A tick evaluated again (the daemon died before it
committed) reads the same events; those it scheduled keep their run key, so the same run
requests come out and Dagster launches each run key once.

Events are marked processed by the last asset of their run (the ERP step), so a run that
fails leaves them pending under its key. Each tick looks for such runs: after a delay the
events move to a new key (``…~retry1``, ``~retry2``, ``~retry3``) and a new run is requested;
after the last retry they stay pending, and the partition's next backfill takes them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from dagster import (
    AssetCheckKey,
    AssetKey,
    DagsterRunStatus,
    DefaultSensorStatus,
    MultiPartitionKey,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from assets.checks.customers import customer_checks
from assets.checks.transactions import transaction_checks
from assets.customers import customer_assets
from assets.inbox_lookups import inbox_lookups
from assets.partitions import HISTORY_START
from assets.transactions import FLOWS, transaction_assets
from resources.billing import BillingResource
from resources.crm import CrmResource
from resources.store import StoreResource
from sync_platform.inbox_routing import (
    CORRELATION_TAG,
    INBOX_RUN_TAG,
    InboxPlan,
    Lookups,
    PlannedEvent,
    PlannedRun,
    Route,
    TransactionTarget,
    Unroutable,
    exhausted_suffix,
    plan_runs,
    retries_of,
    retry_delays,
    retry_run_key,
    route,
)
from sync_platform.store import Store

BATCH_SIZE = 500
# Ids below the cursor re-checked for events not yet scheduled: on PostgreSQL an id can be
# taken before a smaller one commits, so an event may appear behind the cursor.
LATE_COMMIT_WINDOW = 200
CUSTOMER_ASSET_KEYS = [key for a in customer_assets for key in a.keys]
ASSETS_OF_KIND = {f.kind: (f.billing, f.canonical, f.erp) for f in FLOWS}
# Run keys with pending events looked at per tick for a failed run.
RETRY_SCAN = 500
FAILED = (DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)


def blocking_checks(selection: Sequence[AssetKey]) -> list[AssetCheckKey]:
    """The blocking checks of ``selection``: they guard postings, so a near-real-time run
    evaluates them; the completeness and SLA checks run in the nightly reconciliation."""
    wanted = set(selection)
    return [
        spec.key
        for check in [*customer_checks, *transaction_checks]
        for spec in check.check_specs
        if spec.blocking and spec.asset_key in wanted
    ]


def run_request(run: PlannedRun) -> RunRequest:
    tags = {INBOX_RUN_TAG: run.run_key, CORRELATION_TAG: run.first_event_id}
    if run.day is None:
        return RunRequest(
            run_key=run.run_key,
            asset_selection=CUSTOMER_ASSET_KEYS,
            asset_check_keys=blocking_checks(CUSTOMER_ASSET_KEYS),
            partition_key=run.region,
            tags=tags,
        )
    selection: list[AssetKey] = [key for kind in run.kinds for key in ASSETS_OF_KIND[kind]]
    return RunRequest(
        run_key=run.run_key,
        asset_selection=selection,
        asset_check_keys=blocking_checks(selection),
        partition_key=MultiPartitionKey({"date": run.day.isoformat(), "region": run.region}),
        tags=tags,
    )


def _in_history(routed: Route) -> Route:
    if isinstance(routed, TransactionTarget) and routed.day < date.fromisoformat(HISTORY_START):
        return Unroutable(
            f"{routed.kind.replace('_', ' ')} {routed.object_id} is dated {routed.day}, before "
            f"the history the platform posts (SYNC_HISTORY_START {HISTORY_START})"
        )
    return routed


@sensor(
    name="inbox_sensor",
    minimum_interval_seconds=5,
    default_status=DefaultSensorStatus.RUNNING,
    asset_selection=[*CUSTOMER_ASSET_KEYS, *(a.key for a in transaction_assets)],
    description="Reads new webhook events from the inbox and requests one run per affected "
    "partition (date and region for documents, region for customers).",
)
def inbox_sensor(
    context: SensorEvaluationContext,
    store: StoreResource,
    billing: BillingResource,
    crm: CrmResource,
) -> SensorResult | SkipReason:
    found: list[Lookups] = []

    def lookups() -> Lookups:
        if not found:
            found.append(inbox_lookups(store.store, billing, crm))
        return found[0]

    delays = retry_delays(os.environ.get("SYNC_INBOX_RETRY_DELAYS_SECONDS"))
    retried = _retry_failed_runs(context, store.store, lookups, delays)
    cursor = int(context.cursor or 0)
    events = [
        e
        for e in store.store.pending_events(
            after_id=max(0, cursor - LATE_COMMIT_WINDOW), limit=BATCH_SIZE
        )
        if e.id > cursor or e.run_key is None
    ]
    if not events and not retried:
        return SkipReason(f"no new inbox events after id {cursor}")
    new_runs = _schedule(store.store, events, lookups) if events else []
    if events:
        context.log.info(
            f"inbox ids {events[0].id}-{events[-1].id}: {len(new_runs)} run(s) requested"
        )
    # An event behind the cursor can be both retried and re-read: one request per key.
    requests = {r.run_key: r for r in [*retried, *new_runs]}
    return SensorResult(
        run_requests=list(requests.values()),
        cursor=str(max([cursor, *(e.id for e in events)])),
    )


def _schedule(
    store: Store, events: Sequence[PlannedEvent], lookups: Callable[[], Lookups]
) -> list[RunRequest]:
    """Route ``events``, name the run of each, mark the unroutable ignored with the reason."""
    found = lookups()
    plan: InboxPlan = plan_runs(events, [_in_history(route(e, found)) for e in events])
    for run in plan.runs:
        store.schedule_events(run.event_ids, run.run_key)
    for event_id, reason in plan.ignored:
        store.mark_events([event_id], "ignored", reason=reason)
    return [run_request(run) for run in plan.runs]


def _retry_failed_runs(
    context: SensorEvaluationContext,
    store: Store,
    lookups: Callable[[], Lookups],
    delays: Sequence[timedelta],
) -> list[RunRequest]:
    """Requests for the pending events of runs that failed, under a new key once their delay
    has passed. A retry key with no run yet (its tick never committed) is requested again."""
    last = exhausted_suffix(delays)
    keys = store.scheduled_run_keys(limit=RETRY_SCAN, excluding_suffix=last)
    if not keys:
        return []
    records = context.instance.get_run_records(RunsFilter(tags={INBOX_RUN_TAG: keys}))
    runs_of: dict[str, list[Any]] = {}
    for record in records:
        runs_of.setdefault(record.dagster_run.tags[INBOX_RUN_TAG], []).append(record)
    now = datetime.now(UTC)
    requests: list[RunRequest] = []
    for key in keys:
        runs = runs_of.get(key, [])
        if not runs:
            if retries_of(key):
                requests.extend(_schedule(store, store.run_events(key), lookups))
            continue
        if any(r.dagster_run.status not in FAILED for r in runs):
            continue
        ended = max(r.end_time or r.update_timestamp.timestamp() for r in runs)
        new_key = retry_run_key(key, datetime.fromtimestamp(ended, UTC), now, delays)
        if new_key is None:
            continue
        store.reschedule_events(key, new_key)
        context.log.warning(
            f"run {runs[-1].dagster_run.run_id} of {key} failed; its pending events go to "
            f"{new_key}" + (" (the last retry)" if new_key.endswith(last) else "")
        )
        requests.extend(_schedule(store, store.run_events(new_key), lookups))
    return requests
