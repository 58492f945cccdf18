"""The CRM sandbox: HubSpot CRM v3 (companies, contacts), associations v4 and webhooks v3.

State lives in SQLite through the kit's SandboxStore; the portal is seeded once from the shared
world and survives restarts. HubSpot's official Python client works against it with
``HubSpot(access_token=config.api_key, host=config.base_url)``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from sandboxes.crm.api_associations import AssociationApi
from sandboxes.crm.api_objects import ObjectApi
from sandboxes.crm.api_webhooks import WebhookApi
from sandboxes.crm.errors import CrmError, error_response, make_server_error, rate_limited
from sandboxes.crm.middleware import BearerAuth, RateLimitHeaders, RollingCounter, is_authorized
from sandboxes.crm.model import APP_ID, COMPANIES, CONTACTS, PORTAL_ID, now_ms
from sandboxes.crm.repo import CrmRepository
from sandboxes.crm.seed import seed_world
from sandboxes.crm.webhooks import WebhookHub
from sandboxes.kit.faults import FaultInjector, FaultMiddleware, admin_routes
from sandboxes.kit.server import SandboxConfig
from sandboxes.kit.store import SandboxStore
from sandboxes.kit.webhooks import WebhookDispatcher
from sandboxes.kit.world import build_world

log = logging.getLogger("sandbox.crm")


def ensure_seeded(store: SandboxStore, hub: WebhookHub, config: SandboxConfig) -> None:
    """Seed on the first start only; the anchor is kept so later starts rebuild nothing."""
    if store.get_meta("seeded"):
        return
    anchor = config.anchor or datetime.now(UTC).date()
    world = build_world(config.seed, config.customers, anchor)
    counts = seed_world(store, world)
    hub.subscribe_defaults(now_ms())
    store.set_meta("anchor", anchor.isoformat())
    store.set_meta("seed", str(config.seed))
    store.set_meta("seeded", datetime.now(UTC).isoformat())
    log.info("seeded CRM sandbox: %s", counts)


def create_app(config: SandboxConfig) -> Starlette:
    store = SandboxStore(config.state_file)
    repo = CrmRepository(store)
    injector = FaultInjector(config.faults, seed=config.seed)
    dispatcher = WebhookDispatcher(injector)
    hub = WebhookHub(store, dispatcher, config.webhook_secret)
    ensure_seeded(store, hub, config)
    if config.webhook_url:
        hub.put_settings(config.webhook_url, {}, now_ms())

    async def health() -> dict[str, object]:
        return {
            "kind": "crm",
            "portalId": PORTAL_ID,
            "appId": APP_ID,
            "anchor": store.get_meta("anchor"),
            "companies": store.count(COMPANIES.kind),
            "contacts": store.count(CONTACTS.kind),
            "webhooks": dispatcher.stats.as_dict(),
        }

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await dispatcher.start()
        try:
            yield
        finally:
            await dispatcher.stop()
            store.close()

    routes = [
        *admin_routes(injector, lambda r: is_authorized(r, config.api_key), health),
        *ObjectApi(repo, hub).routes(),
        *AssociationApi(repo).routes(),
        *WebhookApi(hub).routes(),
    ]
    server_error = make_server_error(injector.rng.choice)
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={CrmError: _crm_error, HTTPException: _http_error},
        middleware=[
            Middleware(RateLimitHeaders, counter=RollingCounter()),
            Middleware(BearerAuth, api_key=config.api_key),
            Middleware(
                FaultMiddleware,
                injector=injector,
                rate_limited=rate_limited,
                server_error=server_error,
            ),
        ],
    )


async def _crm_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CrmError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    category = "OBJECT_NOT_FOUND" if exc.status_code == 404 else "VALIDATION_ERROR"
    return error_response(CrmError(exc.status_code, category, str(exc.detail)))
