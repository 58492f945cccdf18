"""The alert sensor: one message per breach of an asset check, and one when it recovers.

Every ``SYNC_ALERT_INTERVAL_SECONDS`` (default 30) it reads the asset check evaluations the
Dagster instance recorded after its cursor, of every check (the SLA checks
``no_invoice_unposted_after_sla`` and ``no_payment_unapplied_after_sla`` are checks like any
other). A failed evaluation opens a breach of its (check, asset, partition) unless one is
open; the next passed evaluation recovers it. Breaches live in the store (``alert_breaches``),
so a restart, a reset cursor or a tick evaluated twice neither forgets nor repeats one.

Then it POSTs the notices not yet delivered, oldest first, as Slack-compatible JSON to
``SYNC_ALERT_WEBHOOK_URL`` (optional link to ``SYNC_DAGSTER_UI_URL``). A notice counts as
delivered only after a 2xx; on an error or a timeout it stays pending and the tick stops
posting, so the next tick retries it. Without a URL alerts are off: breaches are still kept.

The evaluations are read with ``event_log_storage.get_logs_for_all_runs_by_log_id``: on every
storage it queries the cross-run index (SQLite mirrors check evaluations into its index
shard; PostgreSQL has one table), ordered by the global storage id, which is also what
Dagster's own auto re-execution daemon pages with. ``DagsterInstance.get_event_records`` is
deprecated and refuses a plain id cursor on the run-sharded SQLite storage.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
from dagster import (
    AssetCheckEvaluation,
    DagsterEventType,
    DefaultSensorStatus,
    EventLogEntry,
    MetadataValue,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from resources.store import StoreResource
from sync_platform.alerts import SKIPPED, breach_message, offending
from sync_platform.store import CheckEvaluation, Store

ALERT_INTERVAL_SECONDS = int(os.environ.get("SYNC_ALERT_INTERVAL_SECONDS") or 30)
WEBHOOK_URL_ENV = "SYNC_ALERT_WEBHOOK_URL"
UI_URL_ENV = "SYNC_DAGSTER_UI_URL"
BATCH_SIZE = 1000
# Storage ids below the cursor read again: on PostgreSQL an id can be taken before a smaller
# one commits. Re-reading is harmless (the store applies an evaluation once).
LATE_COMMIT_WINDOW = 200
NOTICES_PER_TICK = 20
DELIVERY_TIMEOUT_SECONDS = 10.0
# A tick stops starting POSTs before Dagster's 60 s sensor timeout could cut it off: a tick
# cut off mid-delivery would leave notices it sent unmarked, and the next would send them
# again. What is left goes out on the next tick.
DELIVERY_BUDGET_SECONDS = 45.0
RECORDS_KEPT = 20


def check_evaluation(storage_id: int, entry: EventLogEntry) -> CheckEvaluation | None:
    data = entry.dagster_event.event_specific_data if entry.dagster_event else None
    if not isinstance(data, AssetCheckEvaluation):
        return None
    metadata = _plain(data.metadata)
    found = offending(metadata)
    return CheckEvaluation(
        event_id=storage_id,
        check_name=data.check_name,
        asset_key=data.asset_key.to_user_string(),
        partition=data.partition or "",
        passed=data.passed,
        evaluated_at=datetime.fromtimestamp(entry.timestamp, UTC),
        details={
            "severity": data.severity.value,
            "count": found.count,
            "records": found.records[:RECORDS_KEPT],
            "run_id": entry.run_id,
        },
        skipped=SKIPPED in metadata,
    )


def _plain(metadata: Mapping[str, MetadataValue]) -> dict[str, Any]:
    return {key: value.value for key, value in metadata.items()}


def deliver_notices(store: Store, url: str, ui_url: str | None) -> tuple[int, str | None]:
    """POST pending notices until one fails; returns (delivered, the failure if any)."""
    delivered = 0
    started = time.monotonic()
    for breach in store.pending_breach_notices(NOTICES_PER_TICK):
        notice = breach.pending_notice
        if notice is None:
            continue
        elapsed = time.monotonic() - started
        if delivered and elapsed + DELIVERY_TIMEOUT_SECONDS > DELIVERY_BUDGET_SECONDS:
            break
        body = breach_message(
            notice=notice,
            check_name=breach.check_name,
            asset_key=breach.asset_key,
            partition=breach.partition,
            details=breach.details,
            ui_url=ui_url,
        )
        try:
            response = httpx.post(url, json=body, timeout=DELIVERY_TIMEOUT_SECONDS)
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        else:
            if response.is_success:
                store.mark_breach_notified(breach.id, notice)
                delivered += 1
                continue
            error = f"HTTP {response.status_code}: {response.text[:200]}"
        store.record_breach_delivery_failure(breach.id, error)
        # The webhook URL is a secret: the error names the breach, never the URL.
        return delivered, f"breach {breach.id} ({breach.check_name}): {error}"
    return delivered, None


@sensor(
    name="alert_sensor",
    minimum_interval_seconds=ALERT_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description="Alerts once per asset check breach (and once on recovery) by posting "
    "Slack-compatible JSON to SYNC_ALERT_WEBHOOK_URL; breaches are kept in the store.",
)
def alert_sensor(context: SensorEvaluationContext, store: StoreResource) -> SkipReason:
    cursor = int(context.cursor) if context.cursor else -1
    entries = context.instance.event_log_storage.get_logs_for_all_runs_by_log_id(
        after_cursor=max(-1, cursor - LATE_COMMIT_WINDOW),
        dagster_event_type=DagsterEventType.ASSET_CHECK_EVALUATION,
        limit=BATCH_SIZE,
    )
    evaluations = [
        found
        for storage_id, entry in entries.items()
        if (found := check_evaluation(storage_id, entry)) is not None
    ]
    counts = store.store.record_check_evaluations(evaluations)
    if entries:
        context.update_cursor(str(max(cursor, *entries)))
    summary = f"{counts.opened} breach(es) opened, {counts.recovered} recovered"

    url = os.environ.get(WEBHOOK_URL_ENV)
    if not url:
        pending = len(store.store.pending_breach_notices(NOTICES_PER_TICK))
        if pending:
            context.log.info(f"alerts are off ({WEBHOOK_URL_ENV} is not set); breaches are kept")
        return SkipReason(f"{summary}; alerts off, {pending} notice(s) undelivered")
    delivered, failure = deliver_notices(store.store, url, os.environ.get(UI_URL_ENV))
    if failure:
        context.log.warning(f"alert delivery failed, retried next tick: {failure}")
        return SkipReason(f"{summary}; {delivered} alert(s) sent; delivery failed: {failure}")
    return SkipReason(f"{summary}; {delivered} alert(s) sent")
