"""The ERP sandbox: Dynamics 365 Business Central API v2.0 (OData v4) on SQLite.

Served under ``/api/v2.0/``: the service document, ``$metadata``, ``companies`` (one per world
region, named ``CRONUS NA`` / ``CRONUS EMEA`` / ``CRONUS APAC``) and, inside each company, the
entity sets of ``sandboxes.erp.entities``. Admin endpoints (faults, health) live under
``/_sandbox``, and so do the sandbox-only out-of-band edits (``sandboxes.erp.out_of_band``).

Served under ``/api/syncPlatform/integration/v1.0/`` as well: the custom API that the
platform's companion AL extension publishes (API pages with APIPublisher ``syncPlatform``,
APIGroup ``integration``, APIVersion ``v1.0``), with its own ``$metadata``. It exposes what
no standard v2.0 page does, today table 222 "Ship-to Address" as ``shipToAddresses``. The
sandbox emulates that extension; a real Business Central needs it installed, or those routes
answer 404. Both routes share the same companies, store and OData machinery.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandboxes.erp import service
from sandboxes.erp.context import INDEXES, Ctx
from sandboxes.erp.entities import APIS, STANDARD_API, api_sets
from sandboxes.erp.errors import JSON_TYPE, ODataError, bad_request, error_response, not_found
from sandboxes.erp.metadata import metadata_document, service_document
from sandboxes.erp.odata import Options, fetch_page, next_link, page_size, parse_expand
from sandboxes.erp.odata import parse_options as parse_query
from sandboxes.erp.out_of_band import out_of_band_routes
from sandboxes.erp.posting import post_credit_memo, post_invoice, post_journal
from sandboxes.erp.routing import Target, resolve, split_segment
from sandboxes.erp.seed import seed_store
from sandboxes.erp.wire import Clock, etag, render
from sandboxes.kit.faults import FaultInjector, FaultMiddleware, admin_routes
from sandboxes.kit.server import SandboxConfig
from sandboxes.kit.store import SandboxStore

API_PREFIXES = {api: f"/api/{api}" for api in APIS}
_log = logging.getLogger("sandboxes.erp")
_POSTERS = {
    "salesInvoice": post_invoice,
    "salesCreditMemo": post_credit_memo,
    "customerPaymentJournal": post_journal,
}


class ErpSandbox:
    """The state and request handling of one running sandbox."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.store = SandboxStore(config.state_file)
        self.clock = Clock()
        with self.store.lock:
            for statement in INDEXES:
                self.store.connection.execute(statement)
        if self.store.get_meta("seeded") is None:
            anchor = config.anchor or datetime.now(UTC).date()
            seed_store(self.store, config.seed, config.customers, anchor)

    def authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        expected = f"Bearer {self.config.api_key}"
        return hmac.compare_digest(header.encode(), expected.encode())

    async def api(self, request: Request) -> Response:
        if not self.authorized(request):
            return error_response(
                401,
                "Authentication_InvalidCredentials",
                "The server has rejected the client credentials.",
                {"WWW-Authenticate": "Bearer"},
            )
        body = await request.body()
        try:
            return await run_in_threadpool(self.handle, request, body)
        except ODataError as exc:
            return error_response(exc.status, exc.code, exc.message)
        except Exception:  # a sandbox bug still answers in the vendor's error shape
            _log.exception("unhandled error on %s %s", request.method, request.url.path)
            return error_response(500, "Internal_ServerError", "An unexpected error occurred.")

    # -- dispatch ---------------------------------------------------------------------------
    def handle(self, request: Request, body: bytes) -> Response:
        api = _api_of(request)
        path = request.url.path.removeprefix(API_PREFIXES[api]).strip("/")
        segments = [s for s in path.split("/") if s]
        if not segments:
            return self._document(request, service_document(self._base(request), api))
        if segments[-1] == "$metadata" and len(segments) <= 2:
            # Also under companies({id})/: python-odata reads $metadata next to its entity sets.
            if len(segments) == 2 and split_segment(segments[0])[0] != "companies":
                raise not_found(f"The resource '{segments[0]}' was not found.")
            return Response(
                metadata_document(api),
                media_type="application/xml",
                headers={"OData-Version": "4.0"},
            )
        ctx_factory = partial(Ctx, self.store, self.clock)
        target = resolve(self.store, ctx_factory, segments, api_sets(api))
        if target.action is not None:
            segments = segments[:-1]
        method = request.method
        if method == "GET":
            return self._get(request, target, segments)
        with self.store.transaction():
            if method == "POST" and target.action == "post":
                return self._post_action(request, target)
            if method == "POST" and target.doc is None:
                return self._create(request, target, segments, _json(body))
            if method == "PATCH" and target.doc is not None:
                return self._update(request, target, _json(body))
            if method == "DELETE" and target.doc is not None:
                return self._delete(request, target)
        raise ODataError(
            405,
            "BadRequest_MethodNotAllowed",
            f"The HTTP method '{method}' is not allowed on this resource.",
        )

    def _get(self, request: Request, target: Target, segments: list[str]) -> Response:
        entity = target.entity
        if target.doc is not None:
            opts = parse_query(entity, request.query_params)
            value = self._render(target, target.doc, opts)
            context = self._context(request, segments, single=True)
            return self._document(
                request,
                {"@odata.context": context, **value},
                headers={"ETag": value["@odata.etag"]},
            )
        opts = parse_query(entity, request.query_params)
        if target.action == "$count":
            opts.count, opts.top = True, 0
            page = fetch_page(self.store, target.scope, opts, 1)
            return Response(str(page.count), media_type="text/plain")
        size, applied = page_size(request.headers.get("prefer"))
        page = fetch_page(self.store, target.scope, opts, size)
        out: dict[str, Any] = {"@odata.context": self._context(request, segments, single=False)}
        if page.count is not None:
            out["@odata.count"] = page.count
        out["value"] = [self._render(target, doc, opts) for _, doc in page.rows]
        link = next_link(request.url, page)
        if link is not None:
            out["@odata.nextLink"] = link
        headers = {"Preference-Applied": f"odata.maxpagesize={size}"} if applied else {}
        return self._document(request, out, headers=headers)

    def _render(self, target: Target, doc: dict[str, Any], opts: Options) -> dict[str, Any]:
        entity = target.entity
        value = render(entity, doc, opts.select)
        for name in opts.expand:
            nav = entity.nav(name)
            assert nav is not None and target.ctx is not None
            child = service.ENTITIES[nav.entity]
            kids = target.ctx.find_all(nav.entity, nav.parent_field, doc["id"])
            value[name] = [render(child, kid, None) for kid in kids]
        return value

    def _create(self, request: Request, target: Target, segments: list[str], body: Any) -> Response:
        assert target.ctx is not None
        doc = service.create(target.ctx, target.entity, body, target.parent, target.nav)
        value = self._render(target, doc, _expand_only(target, request))
        location = f"{self._base(request)}{'/'.join(segments)}({doc['id']})"
        context = self._context(request, segments, single=True, keyed=False)
        return self._document(
            request,
            {"@odata.context": context, **value},
            status=201,
            headers={"Location": location, "ETag": value["@odata.etag"]},
        )

    def _update(self, request: Request, target: Target, body: Any) -> Response:
        assert target.ctx is not None and target.doc is not None
        _check_if_match(request, target.doc, required=True)
        doc = service.update(target.ctx, target.entity, target.doc, body, target.parent)
        value = self._render(target, doc, _expand_only(target, request))
        return self._document(request, value, headers={"ETag": value["@odata.etag"]})

    def _delete(self, request: Request, target: Target) -> Response:
        assert target.ctx is not None and target.doc is not None
        _check_if_match(request, target.doc, required=True)
        service.delete(target.ctx, target.entity, target.doc, target.parent)
        return Response(status_code=204, headers={"OData-Version": "4.0"})

    def _post_action(self, request: Request, target: Target) -> Response:
        assert target.ctx is not None and target.doc is not None
        _check_if_match(request, target.doc, required=False)
        _POSTERS[target.entity.type_name](target.ctx, target.doc)
        return Response(status_code=204, headers={"OData-Version": "4.0"})

    # -- helpers ----------------------------------------------------------------------------
    def _base(self, request: Request) -> str:
        return f"{str(request.base_url).rstrip('/')}{API_PREFIXES[_api_of(request)]}/"

    def _context(
        self, request: Request, segments: list[str], *, single: bool, keyed: bool = True
    ) -> str:
        parts = list(segments)
        if single and keyed:
            parts[-1] = split_segment(parts[-1])[0]
        suffix = "/$entity" if single else ""
        return f"{self._base(request)}$metadata#{'/'.join(parts)}{suffix}"

    def _document(
        self,
        request: Request,
        body: dict[str, Any],
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> Response:
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        return Response(
            text,
            status_code=status,
            media_type=JSON_TYPE,
            headers={"OData-Version": "4.0", **(headers or {})},
        )

    async def health(self) -> dict[str, object]:
        companies = {doc["name"]: doc["id"] for doc in self.store.iter_all("company")}
        return {"kind": "erp", "companies": companies, "anchor": self.store.get_meta("anchor")}


def _api_of(request: Request) -> str:
    """The API route a request addresses: standard v2.0 or the companion extension's."""
    path = request.url.path
    for api, prefix in API_PREFIXES.items():
        if path == prefix or path.startswith(prefix + "/"):
            return api
    return STANDARD_API


def _json(body: bytes) -> Any:
    try:
        return json.loads(body or b"{}", parse_float=Decimal)
    except ValueError as exc:
        raise bad_request(f"The request body is not valid JSON: {exc}.") from None


def _expand_only(target: Target, request: Request) -> Options:
    """Writes answer with the entity, honouring ``$expand`` (e.g. lines after a deep insert)."""
    expand = parse_expand(target.entity, request.query_params.get("$expand"))
    return Options("", (), [], None, 0, None, None, expand, False)


def _check_if_match(request: Request, doc: dict[str, Any], *, required: bool) -> None:
    header = request.headers.get("if-match")
    if header is None:
        if required:
            raise ODataError(
                428,
                "Request_PreconditionRequired",
                "Could not validate the client concurrency token required by the service. "
                "Please provide a valid token in the client request (If-Match).",
            )
        return
    # Weak comparison (RFC 9110): a client that dropped the W/ prefix still matches.
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    if "*" not in tags and etag(doc).removeprefix("W/") not in tags:
        raise ODataError(
            412,
            "Request_EntityChanged",
            "Another user has already changed the "
            "record. Read it again and retry with its current ETag.",
        )


def _rate_limited(request: Request) -> Response:
    return error_response(
        429,
        "Application_TooManyRequests",
        "Too many requests reached. The limit is 6000 requests per 5 minutes per user.",
        {"Retry-After": "1"},
    )


def _server_error(request: Request) -> Response:
    return error_response(
        503,
        "ServiceUnavailable",
        "The service is temporarily unavailable. Please retry the request.",
        {"Retry-After": "1"},
    )


def create_app(config: SandboxConfig) -> Starlette:
    sandbox = ErpSandbox(config)
    injector = FaultInjector(config.faults, seed=config.seed)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        sandbox.store.close()

    methods = ["GET", "POST", "PATCH", "DELETE", "PUT"]
    routes = [
        *admin_routes(injector, sandbox.authorized, extra=sandbox.health),
        *out_of_band_routes(sandbox.store, sandbox.clock, sandbox.authorized),
        *(
            route
            for prefix in API_PREFIXES.values()
            for route in (
                Route(prefix, sandbox.api, methods=methods),
                Route(prefix + "/{path:path}", sandbox.api, methods=methods),
            )
        ),
    ]
    middleware = [
        Middleware(
            FaultMiddleware,
            injector=injector,
            rate_limited=_rate_limited,
            server_error=_server_error,
        )
    ]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.sandbox = sandbox
    return app
