"""The billing state behind the routes: documents, events, webhook fan-out, rendering.

Handlers change documents through ``Billing`` inside one store transaction; every change
appends an ``event`` row in that transaction and queues its webhook deliveries, which are
handed to the dispatcher only after the transaction commits (no webhook for a rolled-back
change).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

from sandboxes.billing.errors import StripeError
from sandboxes.billing.objects import Doc, Ids, event, now
from sandboxes.kit.store import SandboxStore
from sandboxes.kit.webhooks import WebhookDispatcher

# Event type prefix per object kind, where Stripe's differs from the object name.
EVENT_PREFIX = {"subscription": "customer.subscription", "tax_id": "customer.tax_id"}
# Id prefix -> object kind, for ``expand`` and for naming what an unknown id was meant to be.
KIND_BY_PREFIX = {
    "cus": "customer",
    "prod": "product",
    "price": "price",
    "txr": "tax_rate",
    "sub": "subscription",
    "ii": "invoiceitem",
    "in": "invoice",
    "inpay": "invoice_payment",
    "pi": "payment_intent",
    "ch": "charge",
    "txn": "balance_transaction",
    "re": "refund",
    "cn": "credit_note",
    "po": "payout",
    "evt": "event",
    "we": "webhook_endpoint",
}


def kind_of(obj_id: str) -> str | None:
    return KIND_BY_PREFIX.get(obj_id.partition("_")[0])


@dataclass
class Call:
    """One API request as the handlers see it."""

    request_id: str
    idempotency_key: str | None
    params: dict[str, Any]
    path: dict[str, str]
    outbox: list[tuple[str, bytes, str]] = field(default_factory=list)


class Billing:
    def __init__(self, store: SandboxStore, dispatcher: WebhookDispatcher) -> None:
        self.store = store
        self.dispatcher = dispatcher
        self.ids = Ids()

    # -- reading ----------------------------------------------------------------------------
    def find(self, kind: str, obj_id: str) -> Doc | None:
        doc = self.store.get(kind, obj_id)
        if doc is None or doc.get("deleted"):
            return None
        return doc

    def get(self, kind: str, obj_id: str, param: str = "id", status: int = 404) -> Doc:
        doc = self.find(kind, obj_id) if obj_id else None
        if doc is None:
            raise StripeError.no_such(kind, obj_id, param=param, status=status)
        return doc

    def get_param(self, kind: str, obj_id: str, param: str) -> Doc:
        """An object named by a request parameter: Stripe answers 400, not 404, if missing."""
        return self.get(kind, obj_id, param=param, status=400)

    # -- writing ----------------------------------------------------------------------------
    def create(self, call: Call, kind: str, doc: Doc, *, emit: bool = True) -> Doc:
        self.store.insert(kind, doc["id"], doc)
        if emit:
            self.emit(call, f"{EVENT_PREFIX.get(kind, kind)}.created", doc)
        return doc

    def save(
        self,
        call: Call,
        kind: str,
        doc: Doc,
        before: Doc | None,
        event_type: str | None = None,
    ) -> Doc:
        """Store a changed document; emit ``<kind>.updated`` (or ``event_type``) if it changed."""
        self.store.put(kind, doc["id"], doc)
        previous = None if before is None else changed_attributes(present(before), present(doc))
        if event_type or previous:
            name = event_type or f"{EVENT_PREFIX.get(kind, kind)}.updated"
            self.emit(call, name, doc, previous if name.endswith(".updated") else None)
        return doc

    def emit(self, call: Call, type_: str, doc: Doc, previous: Doc | None = None) -> Doc:
        endpoints = [e for e in self.store.iter_all("webhook_endpoint") if subscribed(e, type_)]
        evt = event(
            self.ids.new("evt"),
            now(),
            type_,
            present(doc),
            previous_attributes=previous,
            request_id=call.request_id,
            idempotency_key=call.idempotency_key,
            pending_webhooks=len(endpoints),
        )
        self.store.insert("event", evt["id"], evt)
        body = json.dumps(evt, indent=2).encode()
        call.outbox.extend((e["url"], body, e["_secret"]) for e in endpoints)
        return evt

    def flush(self, call: Call) -> None:
        """Hand queued webhooks to the dispatcher (after the transaction committed)."""
        for url, body, secret in call.outbox:
            self.dispatcher.enqueue(url, body, signer(secret))
        call.outbox.clear()


def subscribed(endpoint: Doc, type_: str) -> bool:
    if endpoint.get("status") != "enabled":
        return False
    return any(e == "*" or e == type_ for e in endpoint["enabled_events"])


def signer(secret: str) -> Any:
    """Stripe-Signature over ``f"{t}.{body}"``, computed when the delivery is sent."""

    def sign(url: str, body: bytes) -> dict[str, str]:
        timestamp = int(time.time())
        payload = f"{timestamp}.".encode() + body
        digest = hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()
        return {
            "Stripe-Signature": f"t={timestamp},v1={digest}",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }

    return sign


def changed_attributes(before: Doc, after: Doc) -> Doc:
    """Stripe's ``previous_attributes``: old values of what changed (nested dicts by key)."""
    previous: Doc = {}
    for key in before.keys() | after.keys():
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict) and key != "lines":
            previous[key] = changed_attributes(old, new)
        else:
            previous[key] = old
    return previous


# -- rendering ---------------------------------------------------------------------------------
INVOICE_LINES_PAGE = 10


def present(value: Any, at: int | None = None) -> Any:
    """The public form: private ``_`` keys dropped, time-dependent fields brought up to date."""
    if isinstance(value, list):
        return [present(v, at) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: present(v, at) for k, v in value.items() if not k.startswith("_")}
    kind = out.get("object")
    if kind == "balance_transaction":
        out["status"] = "available" if out["available_on"] <= (at or now()) else "pending"
    elif kind == "payout" and out["status"] == "in_transit":
        out["status"] = "paid" if out["arrival_date"] <= (at or now()) else "in_transit"
    elif kind == "invoice" and isinstance(out.get("lines"), dict):
        lines = out["lines"]
        if len(lines["data"]) > INVOICE_LINES_PAGE:
            out["lines"] = {**lines, "data": lines["data"][:INVOICE_LINES_PAGE], "has_more": True}
    return out
