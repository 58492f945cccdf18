"""Breaches of asset checks, for alerting once per breach rather than once per evaluation.

A breach belongs to one identity, (check name, asset key, partition). It opens on a failed
evaluation when none is open, and recovers on the next passed one. Evaluations are applied
at most once and never out of order: each carries the Dagster event-log storage id, and one
at or below the identity's newest applied id changes nothing, so reading the same events
again (a tick evaluated twice, a look-back window) is harmless. A skipped evaluation (the
check had nothing to judge, e.g. its region is not live) changes nothing either: it neither
opens a breach nor recovers one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, Row, insert, or_, select, update

from sync_platform.store.schema import alert_breaches as b

Notice = Literal["opened", "recovered", "opened_and_recovered"]


@dataclass(frozen=True, slots=True)
class CheckEvaluation:
    """One asset check evaluation as the event log holds it."""

    event_id: int  # the Dagster event-log storage id
    check_name: str
    asset_key: str  # "reconciliation/daily"
    partition: str  # "" when the check is not partitioned
    passed: bool
    evaluated_at: datetime
    details: dict[str, Any]  # what the alert shows: severity, count, records, run id
    skipped: bool = False  # the check judged nothing (its metadata says ``skipped``)


@dataclass(frozen=True, slots=True)
class Breach:
    id: int
    check_name: str
    asset_key: str
    partition: str
    status: str  # open | recovered
    opened_at: datetime
    opened_event_id: int
    last_event_id: int
    recovered_at: datetime | None
    details: dict[str, Any]
    opened_notified_at: datetime | None
    recovered_notified_at: datetime | None
    delivery_attempts: int
    last_delivery_error: str | None

    @property
    def pending_notice(self) -> Notice | None:
        """What has not been announced yet; a breach that recovered before its first alert
        got through is announced once, as opened and recovered."""
        if self.opened_notified_at is None:
            return "opened" if self.status == "open" else "opened_and_recovered"
        if self.status == "recovered" and self.recovered_notified_at is None:
            return "recovered"
        return None


@dataclass(frozen=True, slots=True)
class BreachCounts:
    opened: int = 0
    recovered: int = 0
    unchanged: int = 0


def _identity(check_name: str, asset_key: str, partition: str) -> str:
    return f"{check_name}|{asset_key}|{partition}"


def _breach(row: Row[Any]) -> Breach:
    m = row._mapping
    return Breach(**{name: m[name] for name in Breach.__dataclass_fields__})


def _latest(conn: Connection, e: CheckEvaluation) -> Breach | None:
    row = conn.execute(
        select(b)
        .where(
            b.c.check_name == e.check_name,
            b.c.asset_key == e.asset_key,
            b.c.partition == e.partition,
        )
        .order_by(b.c.id.desc())
        .limit(1)
    ).first()
    return _breach(row) if row is not None else None


def apply(conn: Connection, evaluations: Sequence[CheckEvaluation]) -> BreachCounts:
    opened = recovered = unchanged = 0
    for e in sorted(evaluations, key=lambda e: e.event_id):
        latest = _latest(conn, e)
        if latest is not None and e.event_id <= latest.last_event_id:
            unchanged += 1  # applied already, or older than what was
        elif e.skipped:
            unchanged += 1  # judged nothing: not a recovery, not a breach
        elif latest is not None and latest.status == "open":
            values: dict[str, Any] = {"last_event_id": e.event_id}
            if e.passed:
                values |= {"status": "recovered", "open_identity": None}
                values["recovered_at"] = e.evaluated_at
                recovered += 1
            else:
                unchanged += 1  # still failing: the same breach
            conn.execute(update(b).where(b.c.id == latest.id).values(**values))
        elif not e.passed:
            conn.execute(
                insert(b).values(
                    check_name=e.check_name,
                    asset_key=e.asset_key,
                    partition=e.partition,
                    status="open",
                    open_identity=_identity(e.check_name, e.asset_key, e.partition),
                    opened_at=e.evaluated_at,
                    opened_event_id=e.event_id,
                    last_event_id=e.event_id,
                    details=e.details,
                    delivery_attempts=0,
                )
            )
            opened += 1
        else:
            unchanged += 1  # passed with nothing open
    return BreachCounts(opened, recovered, unchanged)


def pending_notices(conn: Connection, limit: int) -> list[Breach]:
    rows = conn.execute(
        select(b)
        .where(
            or_(
                b.c.opened_notified_at.is_(None),
                (b.c.status == "recovered") & b.c.recovered_notified_at.is_(None),
            )
        )
        .order_by(b.c.id)
        .limit(limit)
    )
    return [_breach(r) for r in rows]


def mark_notified(conn: Connection, breach_id: int, notice: Notice, now: datetime) -> bool:
    """Record a delivered notice; False if it was recorded already."""
    query = update(b).where(b.c.id == breach_id)
    if notice == "recovered":
        query = query.where(
            b.c.status == "recovered",
            b.c.opened_notified_at.is_not(None),
            b.c.recovered_notified_at.is_(None),
        ).values(recovered_notified_at=now)
    elif notice == "opened":
        query = query.where(b.c.opened_notified_at.is_(None)).values(opened_notified_at=now)
    else:
        query = query.where(b.c.status == "recovered", b.c.opened_notified_at.is_(None)).values(
            opened_notified_at=now, recovered_notified_at=now
        )
    return conn.execute(query.values(last_delivery_error=None)).rowcount == 1


def record_delivery_failure(conn: Connection, breach_id: int, error: str) -> None:
    conn.execute(
        update(b)
        .where(b.c.id == breach_id)
        .values(delivery_attempts=b.c.delivery_attempts + 1, last_delivery_error=error[:2000])
    )


def list_breaches(conn: Connection, status: str | None) -> list[Breach]:
    query = select(b).order_by(b.c.id)
    if status is not None:
        query = query.where(b.c.status == status)
    return [_breach(r) for r in conn.execute(query)]
