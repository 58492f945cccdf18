"""A vendor's event object as an inbox row, whoever fetched it: the gateway or the catch-up.

Both paths must make the same row from the same event, so that an event landed by its webhook
and read again from ``/v1/events`` (or a CRM change found by both) is one row in the inbox.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sync_platform.store import InboxEventIn

MAX_EVENT_ID_LENGTH = 255


class MalformedEvent(ValueError):
    """The object is not the shape of a vendor event; the message says what is missing."""


def stripe_inbox_event(doc: Any) -> InboxEventIn:
    """One Stripe event object: ``id`` and ``type`` required, the object it is about if any."""
    if not isinstance(doc, dict):
        raise MalformedEvent("a Stripe webhook body must be one event object")
    event_id, event_type = doc.get("id"), doc.get("type")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= MAX_EVENT_ID_LENGTH:
        raise MalformedEvent("the event has no string id of 1-255 characters")
    if not isinstance(event_type, str) or not event_type:
        raise MalformedEvent(f"event {event_id} has no string type")
    data = doc.get("data")
    subject = data.get("object") if isinstance(data, dict) else None
    subject = subject if isinstance(subject, dict) else {}
    created = doc.get("created")
    return InboxEventIn(
        event_id=event_id,
        event_type=event_type,
        payload=doc,
        object_id=_text(subject.get("id")),
        object_type=_text(subject.get("object")),
        occurred_at=_from_unix(created) if isinstance(created, int) else None,
    )


def hubspot_inbox_event(item: Any, index: int = 0) -> InboxEventIn:
    """One HubSpot v3 event (``index`` is its place in the batch, for the error message)."""
    if not isinstance(item, dict):
        raise MalformedEvent(f"item {index} of the batch is not an event object")
    event_id = _text(item.get("eventId"))
    if event_id is None or len(event_id) > MAX_EVENT_ID_LENGTH:
        raise MalformedEvent(f"event {index} of the batch has no eventId")
    event_type = item.get("subscriptionType")
    if not isinstance(event_type, str) or not event_type:
        raise MalformedEvent(f"event {event_id} has no string subscriptionType")
    occurred = item.get("occurredAt")
    return InboxEventIn(
        event_id=event_id,
        event_type=event_type,
        payload=item,
        object_id=_text(item.get("objectId")),
        object_type=event_type.partition(".")[0],
        occurred_at=_from_unix(occurred / 1000) if isinstance(occurred, int) else None,
    )


def _text(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int):
        return str(value)
    return None


def _from_unix(seconds: float) -> datetime | None:
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None
