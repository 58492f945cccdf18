"""HubSpot webhooks v3: the app's settings and subscriptions, and the events a write sends.

Events go out through the kit's ``WebhookDispatcher`` as JSON arrays of at most 100 events,
signed at send time with HubSpot's v3 scheme (and the legacy v1 header HubSpot also sends).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from sandboxes.crm.model import APP_ID, OBJECT_TYPES, PORTAL_ID, iso_ms
from sandboxes.crm.repo import Change
from sandboxes.kit.store import SandboxStore
from sandboxes.kit.webhooks import WebhookDispatcher

MAX_EVENTS_PER_REQUEST = 100
_SETTINGS_KEY = "webhook:settings"
_DEFAULT_EVENTS = ("creation", "deletion")
# Properties whose changes a fresh app subscribes to; system timestamps change on every write
# and HubSpot apps rarely subscribe to them.
_SKIP_PROPERTY_EVENTS = frozenset(
    {"hs_object_id", "createdate", "hs_lastmodifieddate", "lastmodifieddate"}
)


def v3_signature(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """base64(HMAC-SHA256(secret, method + uri + body + timestamp))."""
    message = method.encode() + uri.encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


class WebhookHub:
    def __init__(self, store: SandboxStore, dispatcher: WebhookDispatcher, secret: str) -> None:
        self.store = store
        self.dispatcher = dispatcher
        self.secret = secret

    # -- settings ---------------------------------------------------------------------------
    def settings(self) -> dict[str, Any] | None:
        raw = self.store.get_meta(_SETTINGS_KEY)
        return None if raw is None else json.loads(raw)

    def put_settings(self, target_url: str, throttling: dict[str, Any], ms: int) -> dict[str, Any]:
        current = self.settings() or {"createdAt": iso_ms(ms)}
        current.update(
            {
                "targetUrl": target_url,
                "throttling": {"maxConcurrentRequests": 10, **throttling},
                "updatedAt": iso_ms(ms),
            }
        )
        self.store.set_meta(_SETTINGS_KEY, json.dumps(current))
        return current

    def delete_settings(self) -> None:
        with self.store.lock:
            self.store.connection.execute("DELETE FROM meta WHERE key = ?", (_SETTINGS_KEY,))

    # -- subscriptions ----------------------------------------------------------------------
    def subscriptions(self) -> list[dict[str, Any]]:
        return list(self.store.iter_all("subscription"))

    def subscribe(
        self, event_type: str, property_name: str | None, active: bool, ms: int
    ) -> dict[str, Any]:
        sub_id = str(self.store.next_counter("subscription"))
        sub: dict[str, Any] = {
            "id": sub_id,
            "eventType": event_type,
            "active": active,
            "createdAt": iso_ms(ms),
            "updatedAt": iso_ms(ms),
        }
        if property_name:
            sub["propertyName"] = property_name
        self.store.insert("subscription", sub_id, sub)
        return sub

    def subscribe_defaults(self, ms: int) -> None:
        """A fresh portal's app listens to creation, deletion and each business property."""
        for otype in OBJECT_TYPES.values():
            for event in _DEFAULT_EVENTS:
                self.subscribe(f"{otype.singular}.{event}", None, True, ms)
            for prop in otype.properties:
                if prop not in _SKIP_PROPERTY_EVENTS:
                    self.subscribe(f"{otype.singular}.propertyChange", prop, True, ms)

    # -- events -----------------------------------------------------------------------------
    def publish(self, changes: list[Change]) -> None:
        """Turn one request's changes into signed deliveries (HubSpot groups them likewise)."""
        settings = self.settings()
        if not changes or not settings or not settings.get("targetUrl"):
            return
        routes = self._routes()
        matched = [(c, routes[_route(c)]) for c in changes if _route(c) in routes]
        if not matched:
            return
        first_id = self._reserve_event_ids(len(matched))
        events = [_event(c, sub_id, first_id + i) for i, (c, sub_id) in enumerate(matched)]
        url = str(settings["targetUrl"])
        for start in range(0, len(events), MAX_EVENTS_PER_REQUEST):
            chunk = events[start : start + MAX_EVENTS_PER_REQUEST]
            body = json.dumps(chunk, separators=(",", ":")).encode()
            self.dispatcher.enqueue(url, body, self._sign)

    def _routes(self) -> dict[tuple[str, str | None], int]:
        return {
            (s["eventType"], s.get("propertyName")): int(s["id"])
            for s in self.subscriptions()
            if s["active"]
        }

    def _reserve_event_ids(self, count: int) -> int:
        with self.store.transaction():
            current = int(self.store.get_meta("counter:webhook_event") or 0)
            self.store.set_meta("counter:webhook_event", str(current + count))
        return current + 1

    def _sign(self, url: str, body: bytes) -> dict[str, str]:
        """The dispatcher's Signer: called at send time, so the timestamp is fresh."""
        timestamp = str(time.time_ns() // 1_000_000)
        legacy = hashlib.sha256(self.secret.encode() + body).hexdigest()
        return {
            "X-HubSpot-Signature-v3": v3_signature(self.secret, "POST", url, body, timestamp),
            "X-HubSpot-Request-Timestamp": timestamp,
            "X-HubSpot-Signature": legacy,
            "X-HubSpot-Signature-Version": "v1",
        }


def _route(change: Change) -> tuple[str, str | None]:
    event_type = f"{change.otype.singular}.{change.event}"
    return event_type, change.property_name if change.event == "propertyChange" else None


def _event(change: Change, subscription_id: int, event_id: int) -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventId": event_id,
        "subscriptionId": subscription_id,
        "portalId": PORTAL_ID,
        "appId": APP_ID,
        "occurredAt": change.occurred_ms,
        "subscriptionType": f"{change.otype.singular}.{change.event}",
        "attemptNumber": 0,
        "objectId": int(change.object_id),
        "changeSource": "INTEGRATION",
    }
    if change.event == "propertyChange":
        event["propertyName"] = change.property_name
        event["propertyValue"] = change.property_value or ""
    else:
        event["changeFlag"] = "CREATED" if change.event == "creation" else "DELETED"
    return event
