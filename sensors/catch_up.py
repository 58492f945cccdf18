"""Catch-up sensor: every minute (``SYNC_CATCH_UP_INTERVAL_SECONDS``), land in the inbox
what the billing and CRM webhooks missed.

It starts no runs itself: the inbox sensor turns landed events into runs, whether a webhook
or this sensor landed them. The cursor is JSON with both systems' positions (see
``sync_platform.catch_up.CatchUpCursor``); it moves only past what was committed to the
inbox, so a vendor error costs a minute's delay, never an event.
"""

from __future__ import annotations

import os
from typing import Any

from dagster import DefaultSensorStatus, SensorEvaluationContext, SkipReason, sensor

from resources.billing import BillingResource
from resources.crm import CrmResource
from resources.store import StoreResource
from sync_platform.catch_up import CatchUpCursor, CatchUpResult, catch_up_billing, catch_up_crm

# Read once, when the code location loads; tests and demos set it lower to see a dropped
# webhook recovered sooner.
CATCH_UP_INTERVAL_SECONDS = int(os.environ.get("SYNC_CATCH_UP_INTERVAL_SECONDS") or 60)


@sensor(
    minimum_interval_seconds=CATCH_UP_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Reads billing /v1/events and the CRM's modified-since search from a stored cursor and "
        "lands what the webhooks missed in the inbox; the inbox sensor starts the runs."
    ),
)
def catch_up_sensor(
    context: SensorEvaluationContext,
    billing: BillingResource,
    crm: CrmResource,
    store: StoreResource,
) -> SkipReason:
    state = CatchUpCursor.from_text(context.cursor)
    billed = catch_up_billing(billing, store.store, state.billing)
    crm_found = catch_up_crm(crm, store.store, state.crm)
    reread = state.reread + ((billed.reread,) if billed.reread else ())
    context.update_cursor(CatchUpCursor(billed.cursor, crm_found.cursor, reread).to_text())
    for lost in reread:
        context.log.error(f"billing re-read needed: {lost.reason}")
    for system, result in (("billing", billed), ("crm", crm_found)):
        if result.error:
            context.log.warning(
                f"{system} catch-up stopped early; resumes next tick: {result.error}"
            )
    return SkipReason(
        f"billing: {_summary(billed)}; crm: {_summary(crm_found)}"
        + "".join(f"; re-read needed {r.first_day}..{r.last_day}" for r in reread)
    )


def _summary(result: CatchUpResult[Any]) -> str:
    text = f"{result.counts.new} new, {result.counts.duplicate} already landed"
    if result.more:
        text += ", more to read"
    if result.error:
        text += f", stopped early: {result.error}"
    return text
