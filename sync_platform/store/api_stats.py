"""What the system-API client saw, added up over every process that made calls.

Each process counts its calls in memory (``resources.api_metrics``) and now and then adds
what it counted since its last flush here; the gateway's ``/metrics`` reads the totals. One
row per counter: a request-duration bucket of (system, method) counts the requests whose
duration fell in that bucket alone (not cumulated, so a bucket added later cannot make the
histogram decrease), ``request_seconds`` their summed duration, ``error`` the non-2xx answers
per status (``transport``: no answer) and ``rate_limited`` the 429s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from sqlalchemy import Connection, select

from sync_platform.store.dialect import insert_for
from sync_platform.store.schema import api_call_stats as t


class ApiStatKey(NamedTuple):
    """One counter of ``api_call_stats``."""

    metric: str  # one of schema.API_STAT_METRICS
    system: str
    label: str = ""  # the method (request_*), the status (error), "" (rate_limited)
    le: str = ""  # a request_bucket's upper bound in seconds ("+Inf" for the last), else ""


def add(conn: Connection, deltas: Mapping[ApiStatKey, float]) -> None:
    """Add ``deltas`` to the counters (creating those not there yet)."""
    # In key order, so two processes adding at once lock rows in the same order.
    rows = [{**key._asdict(), "value": value} for key, value in sorted(deltas.items()) if value]
    if not rows:
        return
    stmt = insert_for(conn, t)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[t.c.metric, t.c.system, t.c.label, t.c.le],
            set_={"value": t.c.value + stmt.excluded.value},
        ),
        rows,
    )


def totals(conn: Connection) -> dict[ApiStatKey, float]:
    rows = conn.execute(select(t.c.metric, t.c.system, t.c.label, t.c.le, t.c.value))
    return {ApiStatKey(r.metric, r.system, r.label, r.le): r.value for r in rows}
