"""Bearer-token auth and HubSpot's rate-limit headers, as pure ASGI middleware."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandboxes.crm.errors import unauthorized
from sandboxes.kit.faults import ADMIN_PREFIX

TEN_SECONDLY_MAX = 190  # a Professional portal's private app
INTERVAL_MS = 10_000
DAILY_MAX = 625_000


class RollingCounter:
    """Calls in the last ten seconds and today (UTC): what HubSpot's headers report."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._calls: deque[float] = deque()
        self._day = -1
        self._daily = 0
        self._lock = threading.Lock()

    def hit(self) -> tuple[int, int]:
        now = self._clock()
        with self._lock:
            while self._calls and self._calls[0] <= now - INTERVAL_MS / 1000:
                self._calls.popleft()
            self._calls.append(now)
            day = int(now // 86_400)
            if day != self._day:
                self._day, self._daily = day, 0
            self._daily += 1
            return len(self._calls), self._daily


class RateLimitHeaders:
    """Counts every API call and stamps the ``X-HubSpot-RateLimit-*`` headers on its answer.

    Reporting only: nothing is refused here. A 429 (an injected fault) reports 0 remaining,
    because that is what a real 429 means.
    """

    def __init__(self, app: ASGIApp, counter: RollingCounter) -> None:
        self.app = app
        self.counter = counter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        recent, daily = self.counter.hit()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                limited = message["status"] == 429
                headers = MutableHeaders(scope=message)
                remaining = 0 if limited else max(TEN_SECONDLY_MAX - recent, 0)
                headers["X-HubSpot-RateLimit-Max"] = str(TEN_SECONDLY_MAX)
                headers["X-HubSpot-RateLimit-Remaining"] = str(remaining)
                headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = str(INTERVAL_MS)
                headers["X-HubSpot-RateLimit-Daily"] = str(DAILY_MAX)
                headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(max(DAILY_MAX - daily, 0))
            await send(message)

        await self.app(scope, receive, send_with_headers)


def is_authorized(request: Request, api_key: str) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip() == api_key:
        return True
    return (
        request.url.path.startswith("/webhooks/") and request.query_params.get("hapikey") == api_key
    )


class BearerAuth:
    """``Authorization: Bearer <private app token>``; the webhooks API also takes ``hapikey``."""

    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self.app = app
        self.api_key = api_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        if not is_authorized(Request(scope), self.api_key):
            await unauthorized()(scope, receive, send)
            return
        await self.app(scope, receive, send)
