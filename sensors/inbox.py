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
"""

from __future__ import annotations

from datetime import date

from dagster import (
    AssetKey,
    DefaultSensorStatus,
    MultiPartitionKey,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

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
    PlannedRun,
    Route,
    TransactionTarget,
    Unroutable,
    plan_runs,
    route,
)

BATCH_SIZE = 500
# Ids below the cursor re-checked for events not yet scheduled: on PostgreSQL an id can be
# taken before a smaller one commits, so an event may appear behind the cursor.
LATE_COMMIT_WINDOW = 200
CUSTOMER_ASSET_KEYS = [key for a in customer_assets for key in a.keys]
ASSETS_OF_KIND = {f.kind: (f.billing, f.canonical, f.erp) for f in FLOWS}


def run_request(run: PlannedRun) -> RunRequest:
    tags = {INBOX_RUN_TAG: run.run_key, CORRELATION_TAG: run.first_event_id}
    if run.day is None:
        return RunRequest(
            run_key=run.run_key,
            asset_selection=CUSTOMER_ASSET_KEYS,
            partition_key=run.region,
            tags=tags,
        )
    selection: list[AssetKey] = [key for kind in run.kinds for key in ASSETS_OF_KIND[kind]]
    return RunRequest(
        run_key=run.run_key,
        asset_selection=selection,
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
    cursor = int(context.cursor or 0)
    events = [
        e
        for e in store.store.pending_events(
            after_id=max(0, cursor - LATE_COMMIT_WINDOW), limit=BATCH_SIZE
        )
        if e.id > cursor or e.run_key is None
    ]
    if not events:
        return SkipReason(f"no new inbox events after id {cursor}")
    lookups = inbox_lookups(store.store, billing, crm)
    plan: InboxPlan = plan_runs(events, [_in_history(route(e, lookups)) for e in events])
    for run in plan.runs:
        store.store.schedule_events(run.event_ids, run.run_key)
    for event_id, reason in plan.ignored:
        store.store.mark_events([event_id], "ignored", reason=reason)
    context.log.info(
        f"inbox ids {events[0].id}-{events[-1].id}: {len(plan.runs)} run(s), "
        f"{len(plan.ignored)} event(s) ignored"
    )
    return SensorResult(
        run_requests=[run_request(run) for run in plan.runs],
        cursor=str(max(cursor, max(e.id for e in events))),
    )
