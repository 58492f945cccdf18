"""Fault injection shared by the sandboxes: rate limits, 5xx, latency, webhook misbehaviour.

Faults are set at start (``--faults rate_limit=0.2,server_error=0.2``) and changed at run time
through ``GET``/``PUT /_sandbox/faults`` (JSON, same bearer key as the vendor API).
Injected API faults happen *before* the request is processed, so a retried request is safe.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

ADMIN_PREFIX = "/_sandbox"


class Faults(BaseModel):
    """How badly a sandbox behaves. Shares are probabilities in [0, 1]."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    rate_limit: float = Field(0.0, ge=0, le=1, description="share of API calls answered 429")
    server_error: float = Field(0.0, ge=0, le=1, description="share of API calls answered 5xx")
    latency_ms: int = Field(0, ge=0, le=60_000, description="added to every API call")
    webhook_drop: float = Field(0.0, ge=0, le=1, description="share of webhooks never sent")
    webhook_duplicate: float = Field(0.0, ge=0, le=1, description="share of webhooks sent twice")
    webhook_reorder: float = Field(0.0, ge=0, le=1, description="share of webhooks held back")

    @classmethod
    def parse(cls, text: str | None) -> Faults:
        """Parse ``name=value,name=value``; ``5xx`` is accepted for ``server_error``."""
        if not text:
            return cls()
        values: dict[str, str] = {}
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            name, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"fault {part!r} must look like name=value")
            name = {"5xx": "server_error"}.get(name.strip(), name.strip())
            if name not in cls.model_fields:
                known = ", ".join(cls.model_fields)
                raise ValueError(f"unknown fault {name!r}; known faults: {known}")
            values[name] = value.strip()
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise ValueError(f"bad --faults {text!r}: {exc}") from exc


ErrorResponder = Callable[[Request], Response]


class FaultInjector:
    """Holds the live fault settings and the random source that draws them."""

    def __init__(self, faults: Faults, seed: int = 0) -> None:
        self.faults = faults
        self.rng = random.Random(seed)

    def draw(self, share: float) -> bool:
        return share > 0 and self.rng.random() < share


class FaultMiddleware:
    """ASGI middleware applying latency, 429 and 5xx to vendor API calls (not admin calls)."""

    def __init__(
        self,
        app: ASGIApp,
        injector: FaultInjector,
        rate_limited: ErrorResponder,
        server_error: ErrorResponder,
    ) -> None:
        self.app = app
        self.injector = injector
        self.rate_limited = rate_limited
        self.server_error = server_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        faults = self.injector.faults
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        request = Request(scope, receive)
        if self.injector.draw(faults.rate_limit):
            await self.rate_limited(request)(scope, receive, send)
            return
        if self.injector.draw(faults.server_error):
            await self.server_error(request)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def admin_routes(
    injector: FaultInjector,
    authorized: Callable[[Request], bool],
    extra: Callable[[], Awaitable[dict[str, object]]] | None = None,
) -> list[Route]:
    """``/_sandbox/faults`` (GET, PUT) and ``/_sandbox/health`` for one sandbox."""

    async def faults_endpoint(request: Request) -> Response:
        if not authorized(request):
            return JSONResponse({"error": "missing or wrong bearer key"}, status_code=401)
        if request.method == "PUT":
            try:
                update = json.loads(await request.body() or b"{}")
                if not isinstance(update, dict):
                    raise ValueError("body must be a JSON object")
                injector.faults = Faults.model_validate({**injector.faults.model_dump(), **update})
            except (ValueError, ValidationError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(injector.faults.model_dump())

    async def health(request: Request) -> Response:
        body: dict[str, object] = {"status": "ok"}
        if extra is not None:
            body.update(await extra())
        return JSONResponse(body)

    return [
        Route(f"{ADMIN_PREFIX}/faults", faults_endpoint, methods=["GET", "PUT"]),
        Route(f"{ADMIN_PREFIX}/health", health, methods=["GET"]),
    ]
