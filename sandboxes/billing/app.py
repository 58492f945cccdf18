"""The billing sandbox: a local server speaking Stripe's API v1 closely enough for the SDK.

State lives in SQLite (``SandboxStore``), seeded once from the shared world (see ``seed``).
Routes are in ``routes_*``; every call goes through ``endpoint.api`` (auth, nested form
parameters, idempotency, one transaction, ``expand``). Every change appends an ``event`` and
is posted, signed, to the registered webhook endpoints by the kit's ``WebhookDispatcher``.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandboxes.billing import routes_catalog, routes_invoicing, routes_money
from sandboxes.billing.endpoint import presented_key
from sandboxes.billing.errors import StripeError, rate_limited, request_id_of, server_error
from sandboxes.billing.objects import now, webhook_endpoint
from sandboxes.billing.seed import seed
from sandboxes.billing.service import Billing
from sandboxes.kit.faults import ErrorResponder, FaultInjector, FaultMiddleware, admin_routes
from sandboxes.kit.server import SandboxConfig
from sandboxes.kit.store import SandboxStore
from sandboxes.kit.webhooks import WebhookDispatcher

log = logging.getLogger("sandbox.billing")

# Expression indexes for the filters lists use most; the queries spell the same expressions.
INDEXES = {
    "billing_by_customer": "json_extract(data, '$.customer')",
    "billing_by_invoice": "json_extract(data, '$.invoice')",
    "billing_by_email": "json_extract(data, '$.email')",
    "billing_by_subscription": "json_extract(data, '$.parent.subscription_details.subscription')",
    "billing_by_payout": "json_extract(data, '$._payout')",
}


class RequestIdMiddleware:
    """Give every request a ``req_...`` id and every response a ``Request-Id`` header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = "req_" + secrets.token_hex(7)
        scope["stripe_request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"request-id"]
                headers.append((b"request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_id)


def prepare_store(store: SandboxStore, config: SandboxConfig) -> None:
    """Seed on the first start only; remember the anchor so a restart keeps the same world."""
    if store.get_meta("seeded") is None:
        anchor = config.anchor or datetime.now(UTC).date()
        started = time.perf_counter()
        counts = seed(store, config.seed, config.customers, anchor)
        store.set_meta("anchor", anchor.isoformat())
        store.set_meta("seeded", datetime.now(UTC).isoformat())
        log.info("billing sandbox seeded in %.1fs: %s", time.perf_counter() - started, counts)
    with store.lock:
        for name, expression in INDEXES.items():
            store.connection.execute(
                f"CREATE INDEX IF NOT EXISTS {name} ON objects (kind, {expression})"
            )
    if config.webhook_url and store.get_meta("webhook_registered") is None:
        endpoint = webhook_endpoint(
            "we_" + secrets.token_hex(12),
            now(),
            config.webhook_url,
            ["*"],
            config.webhook_secret,
            description="registered at sandbox start",
        )
        store.insert("webhook_endpoint", endpoint["id"], endpoint)
        store.set_meta("webhook_registered", endpoint["id"])


async def unknown_route(request: Request) -> Response:
    error = StripeError(
        404,
        f"Unrecognized request URL ({request.method}: {request.url.path}). Please see "
        "https://stripe.com/docs or we can help at https://support.stripe.com/.",
    )
    return error.response(request_id_of(request))


def create_app(config: SandboxConfig) -> Starlette:
    store = SandboxStore(config.state_file)
    injector = FaultInjector(config.faults, seed=config.seed)
    dispatcher = WebhookDispatcher(injector)
    billing = Billing(store, dispatcher)

    def authorized(request: Request) -> bool:
        return presented_key(request) == config.api_key

    async def health_extra() -> dict[str, object]:
        kinds = ("customer", "invoice", "charge", "refund", "credit_note", "payout", "event")
        return {
            "objects": {kind: store.count(kind) for kind in kinds},
            "webhooks": dispatcher.stats.as_dict(),
            "anchor": store.get_meta("anchor"),
        }

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        prepare_store(store, config)
        await dispatcher.start()
        try:
            yield
        finally:
            await dispatcher.stop()
            store.close()

    def fault_response(error: StripeError) -> ErrorResponder:
        return lambda request: error.response(request_id_of(request))

    routes = [
        *admin_routes(injector, authorized, health_extra),
        *routes_catalog.ROUTES,
        *routes_invoicing.ROUTES,
        *routes_money.ROUTES,
        Route("/{path:path}", unknown_route, methods=["GET", "POST", "DELETE", "PUT", "PATCH"]),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(
                FaultMiddleware,
                injector=injector,
                rate_limited=fault_response(rate_limited()),
                server_error=fault_response(server_error()),
            ),
        ],
    )
    app.state.billing = billing
    app.state.api_key = config.api_key
    app.state.injector = injector
    return app
