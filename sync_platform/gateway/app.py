"""The webhook gateway: verify, deduplicate, store durably, then answer; never process inline.

``POST /webhooks/billing`` takes one Stripe event signed with ``Stripe-Signature``;
``POST /webhooks/crm`` takes a HubSpot v3 batch (a JSON array of up to 100 events) signed
with ``X-HubSpot-Signature-v3``; ``GET /healthz`` says whether the store can be reached;
``GET /metrics`` serves Prometheus metrics (``sync_platform.gateway.metrics``).

Each request is read up to the size limit, its signature checked on the raw bytes, and only
then parsed. A sender gets 200 once its events are committed to the inbox (a duplicate
delivery too: it is already there), or a 4xx it should not retry blindly, and every refusal
is recorded in the store with a reason code:

| status | reason code         | when                                                       |
| ------ | ------------------- | ---------------------------------------------------------- |
| 401    | `missing_signature` | no signature (or, for HubSpot, no timestamp) header         |
| 401    | `bad_signature`     | unparseable header, or no signature matches any secret     |
| 401    | `stale_timestamp`   | a valid signature, timestamp more than 300 s off our clock |
| 400    | `malformed`         | not JSON, or not the shape of an event / a batch of events |
| 413    | `too_large`         | body over the limit (1 MiB by default)                     |
| 404    | `unknown_source`    | ``POST /webhooks/<anything else>``                         |

503 (not recorded as a rejection) means the store could not commit: the sender retries.
Logs carry reason codes, remote addresses and body hashes, never bodies or secrets.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from sync_platform.gateway.events import MalformedEvent, hubspot_inbox_event, stripe_inbox_event
from sync_platform.gateway.metrics import CONTENT_TYPE, metrics_registry, render
from sync_platform.gateway.settings import GatewaySettings
from sync_platform.gateway.signatures import (
    SignatureError,
    verify_hubspot_v3,
    verify_stripe_signature,
)
from sync_platform.store import InboxEventIn, Store

log = logging.getLogger("sync_platform.gateway")

MAX_HUBSPOT_EVENTS = 100
STATUS_BY_REASON = {
    "missing_signature": 401,
    "bad_signature": 401,
    "stale_timestamp": 401,
    "malformed": 400,
    "too_large": 413,
    "unknown_source": 404,
}

Clock = Callable[[], float]


class Rejected(Exception):
    """``body_bytes`` is set when the body was not read in full: how much there was."""

    def __init__(self, reason: str, detail: str, body_bytes: int | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.body_bytes = body_bytes


@dataclass(frozen=True)
class Body:
    raw: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()


def create_gateway(
    store: Store,
    settings: GatewaySettings,
    clock: Clock = time.time,
    console: ASGIApp | None = None,
) -> Starlette:
    """The gateway app over an open store; ``clock`` (Unix seconds) judges timestamps;
    ``console`` (``sync_platform.console.create_console``) is served under ``/console``."""

    async def billing(request: Request) -> Response:
        def verify(body: bytes) -> None:
            verify_stripe_signature(
                body,
                request.headers.get("stripe-signature"),
                settings.billing_webhook_secrets,
                clock(),
                settings.tolerance_seconds,
            )

        return await receive(request, "billing", verify, parse_stripe_event)

    async def crm(request: Request) -> Response:
        uri = signed_uri(request, settings.public_url)

        def verify(body: bytes) -> None:
            verify_hubspot_v3(
                request.method,
                uri,
                body,
                request.headers.get("x-hubspot-request-timestamp"),
                request.headers.get("x-hubspot-signature-v3"),
                settings.crm_app_secret,
                clock(),
                settings.tolerance_seconds,
            )

        return await receive(request, "crm", verify, parse_hubspot_batch)

    async def receive(
        request: Request,
        source: str,
        verify: Callable[[bytes], None],
        parse: Callable[[bytes], list[InboxEventIn]],
    ) -> Response:
        body = Body(b"")
        try:
            body = Body(await read_body(request, settings.max_body_bytes))
            try:
                verify(body.raw)
            except SignatureError as exc:
                raise Rejected(exc.reason, str(exc)) from None
            events = parse(body.raw)
        except Rejected as rejected:
            return await reject(request, source, rejected, body)
        try:
            counts = await run_in_threadpool(store.land_events, source, events)
        except Exception as exc:
            # The error's text may quote the statement's parameters, i.e. the payload.
            log.error("could not land %s events: %s", source, type(exc).__name__)
            return JSONResponse({"error": {"message": "store unavailable; retry"}}, 503)
        log.info(
            "landed %s webhook: %d new, %d duplicate (%s)",
            source,
            counts.new,
            counts.duplicate,
            body.sha256[:12],
        )
        return JSONResponse(
            {"received": len(events), "new": counts.new, "duplicate": counts.duplicate}
        )

    async def reject(request: Request, source: str, rejected: Rejected, body: Body) -> Response:
        remote = request.client.host if request.client else None
        if rejected.body_bytes is not None:
            sha256, size = None, rejected.body_bytes
        else:
            sha256, size = body.sha256, len(body.raw)
        log.warning(
            "rejected %s webhook from %s: %s: %s (body sha256 %s, %d bytes)",
            source,
            remote,
            rejected.reason,
            rejected.detail,
            sha256,
            size,
        )
        try:
            await run_in_threadpool(
                lambda: store.record_rejection(
                    source,
                    rejected.reason,
                    rejected.detail,
                    remote=remote,
                    body_sha256=sha256,
                    body_bytes=size,
                )
            )
        except Exception as exc:
            log.error("could not record the rejection: %s", type(exc).__name__)
        return JSONResponse(
            {"error": {"reason": rejected.reason, "message": rejected.detail}},
            STATUS_BY_REASON[rejected.reason],
        )

    async def unknown_source(request: Request) -> Response:
        source = str(request.path_params["source"])
        detail = "no such webhook source; the sources are billing and crm"
        rejected = Rejected("unknown_source", detail, body_bytes=_declared_length(request) or 0)
        return await reject(request, source, rejected, Body(b""))

    registry = metrics_registry(store)

    async def metrics(request: Request) -> Response:
        if settings.metrics_token is not None and not hmac.compare_digest(
            request.headers.get("authorization", "").encode(),
            f"Bearer {settings.metrics_token}".encode(),
        ):
            return JSONResponse(
                {"error": "GET /metrics needs Authorization: Bearer <SYNC_METRICS_TOKEN>"},
                401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        body = await run_in_threadpool(render, registry)
        return Response(body, media_type=CONTENT_TYPE)

    async def healthz(request: Request) -> Response:
        try:
            await run_in_threadpool(store.ping)
        except Exception as exc:
            log.error("health check: store unreachable: %s", type(exc).__name__)
            return JSONResponse({"status": "store unavailable"}, 503)
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/webhooks/billing", billing, methods=["POST"]),
            Route("/webhooks/crm", crm, methods=["POST"]),
            Route("/webhooks/{source}", unknown_source, methods=["POST"]),
            *([Mount("/console", app=console)] if console is not None else []),
        ]
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The body, read a chunk at a time so an oversized one is refused without holding it."""
    declared = _declared_length(request)
    if declared is not None and declared > limit:
        detail = f"body of {declared} bytes exceeds the {limit}-byte limit"
        raise Rejected("too_large", detail, body_bytes=declared)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            detail = f"body exceeds the {limit}-byte limit (stopped reading at {size} bytes)"
            raise Rejected("too_large", detail, body_bytes=size)
        chunks.append(chunk)
    return b"".join(chunks)


def _declared_length(request: Request) -> int | None:
    text = request.headers.get("content-length", "")
    return int(text) if text.isdigit() else None


def signed_uri(request: Request, public_url: str | None) -> str:
    """The URL HubSpot signed: the one it posted to, as we are known from outside."""
    if public_url is None:
        return str(request.url)
    query = request.url.query
    return public_url.rstrip("/") + request.url.path + (f"?{query}" if query else "")


# -- parsing, after verification -----------------------------------------------------------------
def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise Rejected("malformed", "body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise Rejected("malformed", f"body is not JSON ({exc.msg} at char {exc.pos})") from None


def parse_stripe_event(raw: bytes) -> list[InboxEventIn]:
    """One Stripe event object: ``id`` and ``type`` required, the object it is about if any."""
    try:
        return [stripe_inbox_event(_json(raw))]
    except MalformedEvent as exc:
        raise Rejected("malformed", str(exc)) from None


def parse_hubspot_batch(raw: bytes) -> list[InboxEventIn]:
    """A JSON array of 1-100 HubSpot events, each with ``eventId`` and ``subscriptionType``."""
    doc = _json(raw)
    if not isinstance(doc, list) or not 0 < len(doc) <= MAX_HUBSPOT_EVENTS:
        raise Rejected(
            "malformed",
            f"a HubSpot webhook body must be a JSON array of 1-{MAX_HUBSPOT_EVENTS} events",
        )
    return [_hubspot_event(i, item) for i, item in enumerate(doc)]


def _hubspot_event(index: int, item: Any) -> InboxEventIn:
    try:
        return hubspot_inbox_event(item, index)
    except MalformedEvent as exc:
        raise Rejected("malformed", str(exc)) from None
