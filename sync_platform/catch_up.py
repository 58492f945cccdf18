"""Catch-up: land what the webhooks missed, read from the vendors' own change feeds.

Billing: Stripe's ``/v1/events`` from a stored ``(created, id)`` position. Each event lands
under its own id, so an event the webhook already landed is a duplicate, not a second row.
CRM: HubSpot's modified-since search for companies and contacts, each record found landing as
a synthetic ``<object>.propertyChange`` event whose id is the object id plus its last-modified
time, so finding the same version again lands nothing.

Every pass reads a window with an upper bound fixed when the pass starts and a few seconds in
the past (``settle_seconds``), so the second it ends on is closed: no event can still appear
in it. Within a closed window the order by (created, id) is fixed, which is what makes an
``(created, id)`` cursor exact when many events share one second (ARCHITECTURE, "Cursor
ties"). A vendor error ends the pass with the cursor after the last event landed; the caller
keeps that cursor and the next pass resumes there.

Stripe keeps events for 30 days. A cursor older than that cannot be caught up from events:
the pass reads what is still kept and reports the days whose changes may be lost
(``RereadRange``), to be re-read from the objects themselves.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Generic, TypeVar

from resources.billing import BillingResource
from resources.billing_models import StripeEvent
from resources.crm import LAST_MODIFIED, CrmResource, HubSpotObject, ObjectType
from resources.errors import SystemApiError
from sync_platform.gateway.events import hubspot_inbox_event, stripe_inbox_event
from sync_platform.store import InboxEventIn, LandCounts, Store

EVENT_RETENTION = timedelta(days=30)
# Events this close to the retention edge may be deleted while we read them.
RETENTION_MARGIN = timedelta(hours=1)
SETTLE_SECONDS = 5
BILLING_WINDOW = timedelta(hours=1)
# A window with fewer events than this doubles the next one, so an idle month costs a few
# requests, not 720; a busier one starts again from BILLING_WINDOW.
SPARSE_WINDOW_EVENTS = 100
MAX_EVENTS_PER_PASS = 10_000
LAND_BATCH = 100
CRM_OBJECT_TYPES: tuple[ObjectType, ...] = ("companies", "contacts")
CRM_EVENT_TYPES = {"companies": "company.propertyChange", "contacts": "contact.propertyChange"}
CRM_CHANGE_SOURCE = "CATCH_UP"

CursorT = TypeVar("CursorT")


class CursorError(ValueError):
    """A stored cursor that cannot be read; the message quotes it."""


@dataclass(frozen=True, slots=True)
class BillingCursor:
    """Every event before ``created`` (Unix seconds) has landed, and those of that second
    whose id sorts at or before ``event_id`` ("" means none of that second yet)."""

    created: int
    event_id: str = ""

    def passed(self, event: StripeEvent) -> bool:
        return (_unix(event.created), event.id) <= (self.created, self.event_id)

    def to_json(self) -> dict[str, Any]:
        return {"created": self.created, "id": self.event_id}

    @classmethod
    def from_json(cls, doc: Any) -> BillingCursor:
        if not isinstance(doc, dict) or not isinstance(doc.get("created"), int):
            raise CursorError(f"a billing cursor is {{'created': int, 'id': str}}, not {doc!r}")
        return cls(doc["created"], str(doc.get("id") or ""))


@dataclass(frozen=True, slots=True)
class CrmCursor:
    """Per object type, the last-modified time (Unix ms) from which the next search starts.

    A record modified at exactly that time may be found again; it lands as a duplicate,
    because its synthetic event id is made of its id and that time.
    """

    since_ms: dict[str, int]

    def since(self, object_type: ObjectType) -> datetime:
        return datetime.fromtimestamp(self.since_ms[object_type] / 1000, UTC)

    def moved(self, object_type: ObjectType, when: datetime) -> CrmCursor:
        return CrmCursor({**self.since_ms, object_type: _ms(when)})

    def to_json(self) -> dict[str, Any]:
        return dict(self.since_ms)

    @classmethod
    def starting_at(cls, when: datetime) -> CrmCursor:
        return cls(dict.fromkeys(CRM_OBJECT_TYPES, _ms(when)))

    @classmethod
    def from_json(cls, doc: Any) -> CrmCursor:
        if not isinstance(doc, dict) or not all(
            isinstance(doc.get(t), int) for t in CRM_OBJECT_TYPES
        ):
            raise CursorError(f"a CRM cursor is {{'companies': ms, 'contacts': ms}}, not {doc!r}")
        return cls({t: doc[t] for t in CRM_OBJECT_TYPES})


@dataclass(frozen=True, slots=True)
class RereadRange:
    """UTC days (inclusive) whose billing changes the events can no longer tell us: their
    date partitions, and the customers, must be re-read from the objects."""

    first_day: date
    last_day: date
    reason: str

    def to_json(self) -> dict[str, str]:
        return {
            "first_day": self.first_day.isoformat(),
            "last_day": self.last_day.isoformat(),
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, doc: Any) -> RereadRange:
        try:
            first, last = date.fromisoformat(doc["first_day"]), date.fromisoformat(doc["last_day"])
            return cls(first, last, str(doc.get("reason", "")))
        except (KeyError, TypeError, ValueError):
            raise CursorError(
                f"a re-read range is {{'first_day', 'last_day'}}, not {doc!r}"
            ) from None


@dataclass(frozen=True, slots=True)
class CatchUpResult(Generic[CursorT]):
    """Where the next pass starts, what this one landed, and what it could not do.

    ``more`` says the pass stopped at its size limit with events still to read; ``error`` is
    the vendor error that ended it early (the cursor is still good).
    """

    cursor: CursorT
    counts: LandCounts = field(default_factory=LandCounts)
    more: bool = False
    error: str | None = None
    reread: RereadRange | None = None


def catch_up_billing(
    billing: BillingResource,
    store: Store,
    cursor: BillingCursor | None,
    *,
    now: datetime | None = None,
    settle_seconds: int | None = None,
    max_events: int = MAX_EVENTS_PER_PASS,
) -> CatchUpResult[BillingCursor]:
    """Land the billing events created since ``cursor``; without one, start from now."""
    now = now or datetime.now(UTC)
    until = _unix(now) - (SETTLE_SECONDS if settle_seconds is None else settle_seconds)
    if cursor is None:
        return CatchUpResult(BillingCursor(until))
    reread = None
    kept_from = _unix(now - EVENT_RETENTION + RETENTION_MARGIN)
    if cursor.created < kept_from:
        reread = _lost_days(cursor.created, kept_from)
        cursor = BillingCursor(kept_from)
    counts = LandCounts()
    window = BILLING_WINDOW
    try:
        while cursor.created < until:
            upper = min(cursor.created + int(window.total_seconds()), until)
            events = sorted(
                billing.list_events(created_gte=_at(cursor.created), created_lt=_at(upper)),
                key=lambda e: (_unix(e.created), e.id),
            )
            for batch in _batches([e for e in events if not cursor.passed(e)], LAND_BATCH):
                counts = _add(
                    counts, store.land_events("billing", [_billing_row(e) for e in batch])
                )
                cursor = BillingCursor(_unix(batch[-1].created), batch[-1].id)
            cursor = BillingCursor(upper)
            window = window * 2 if len(events) < SPARSE_WINDOW_EVENTS else BILLING_WINDOW
            if counts.new + counts.duplicate >= max_events and cursor.created < until:
                return CatchUpResult(cursor, counts, more=True, reread=reread)
    except SystemApiError as exc:
        return CatchUpResult(cursor, counts, error=str(exc), reread=reread)
    return CatchUpResult(cursor, counts, reread=reread)


def catch_up_crm(
    crm: CrmResource,
    store: Store,
    cursor: CrmCursor | None,
    *,
    now: datetime | None = None,
    settle_seconds: int | None = None,
) -> CatchUpResult[CrmCursor]:
    """Land a synthetic event for each company and contact modified since ``cursor``."""
    now = now or datetime.now(UTC)
    settle = timedelta(seconds=SETTLE_SECONDS if settle_seconds is None else settle_seconds)
    until = datetime.fromtimestamp(_ms(now - settle) / 1000, UTC)
    if cursor is None:
        return CatchUpResult(CrmCursor.starting_at(until))
    counts = LandCounts()
    try:
        for object_type in CRM_OBJECT_TYPES:
            since = cursor.since(object_type)
            if since >= until:
                continue
            found = crm.search_modified(object_type, since, until)
            for batch in _batches(found, LAND_BATCH):
                rows = [crm_inbox_event(object_type, record) for record in batch]
                counts = _add(counts, store.land_events("crm", rows))
                cursor = cursor.moved(object_type, modified_at(object_type, batch[-1]))
            cursor = cursor.moved(object_type, until)
    except SystemApiError as exc:
        return CatchUpResult(cursor, counts, error=str(exc))
    return CatchUpResult(cursor, counts)


def crm_inbox_event(object_type: ObjectType, record: HubSpotObject) -> InboxEventIn:
    """A HubSpot v3 ``propertyChange`` event for the record's last modification."""
    modified = modified_at(object_type, record)
    prop = LAST_MODIFIED[object_type]
    event = {
        "eventId": f"catch-up:{object_type}:{record.id}:{_ms(modified)}",
        "subscriptionType": CRM_EVENT_TYPES[object_type],
        "objectId": int(record.id) if record.id.isdigit() else record.id,
        "occurredAt": _ms(modified),
        "propertyName": prop,
        "propertyValue": record.prop(prop) or modified.isoformat(),
        "changeSource": CRM_CHANGE_SOURCE,
        "attemptNumber": 0,
    }
    return hubspot_inbox_event(event)


def modified_at(object_type: ObjectType, record: HubSpotObject) -> datetime:
    value = record.prop(LAST_MODIFIED[object_type])
    if value is None:
        return record.updatedAt
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True, slots=True)
class CatchUpCursor:
    """The sensor's cursor: both systems' positions, and the re-reads not yet started."""

    billing: BillingCursor | None = None
    crm: CrmCursor | None = None
    reread: tuple[RereadRange, ...] = ()

    def to_text(self) -> str:
        return json.dumps(
            {
                "billing": self.billing.to_json() if self.billing else None,
                "crm": self.crm.to_json() if self.crm else None,
                "reread": [r.to_json() for r in self.reread],
            },
            sort_keys=True,
        )

    @classmethod
    def from_text(cls, text: str | None) -> CatchUpCursor:
        if not text:
            return cls()
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CursorError(f"the catch-up cursor is not JSON ({exc.msg}): {text!r}") from None
        if not isinstance(doc, dict):
            raise CursorError(f"the catch-up cursor is {{'billing', 'crm'}}, not {text!r}")
        billing, crm = doc.get("billing"), doc.get("crm")
        return cls(
            None if billing is None else BillingCursor.from_json(billing),
            None if crm is None else CrmCursor.from_json(crm),
            tuple(RereadRange.from_json(r) for r in doc.get("reread") or ()),
        )


def _billing_row(event: StripeEvent) -> InboxEventIn:
    """The row the webhook would have landed: the event as Stripe sends it."""
    doc = event.model_dump(mode="json")
    doc["created"] = _unix(event.created)
    return stripe_inbox_event(doc)


def _lost_days(cursor_created: int, kept_from: int) -> RereadRange:
    first, last = _at(cursor_created).date(), _at(kept_from).date()
    return RereadRange(
        first,
        last,
        f"the catch-up cursor ({_at(cursor_created).isoformat()}) is older than the "
        f"{EVENT_RETENTION.days} days of events billing keeps; changes from {first} to {last} "
        "must be re-read from the objects",
    )


T = TypeVar("T")


def _batches(items: Iterable[T], size: int) -> Iterable[Sequence[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _add(total: LandCounts, more: LandCounts) -> LandCounts:
    return replace(total, new=total.new + more.new, duplicate=total.duplicate + more.duplicate)


def _unix(when: datetime) -> int:
    return int(when.timestamp())


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)
