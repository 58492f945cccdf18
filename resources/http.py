"""The one HTTP client wrapper every system API uses.

It owns what all three vendors share: retries of transient failures with exponential backoff,
full jitter and a bounded budget; waiting as long as ``Retry-After`` or the vendor's rate-limit
headers ask; never repeating a write that may already have been applied; and turning failures
into the typed errors of ``resources.errors``. What differs per vendor (how errors read, which
headers announce limits) is a ``VendorDialect``.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
from pydantic import BaseModel, ConfigDict, Field

from resources import api_metrics
from resources.errors import (
    AuthenticationFailed,
    IdempotencyConflict,
    InvalidResponse,
    NotFound,
    PermanentError,
    PreconditionFailed,
    RateLimited,
    SystemApiError,
    TransientError,
    UnsafeToRetry,
)
from resources.paginators import PageRequest, Paginator

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class RetryPolicy(BaseModel):
    """How hard to try. Every wait is bounded by the remaining budget."""

    model_config = ConfigDict(frozen=True)

    max_attempts: int = Field(default=10, ge=1, le=50)
    base_delay_seconds: float = Field(default=0.1, ge=0)
    max_delay_seconds: float = Field(default=20.0, ge=0)
    budget_seconds: float = Field(
        default=300.0, gt=0, description="give up once this much has passed"
    )

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full-jitter exponential backoff for the attempt that just failed (1-based)."""
        ceiling = min(self.max_delay_seconds, self.base_delay_seconds * 2 ** (attempt - 1))
        return rng.uniform(0, ceiling)


@dataclass(frozen=True)
class VendorError:
    code: str | None
    message: str


class VendorDialect(Protocol):
    """What one vendor's wire format says about errors and limits."""

    system: str

    def parse_error(self, response: httpx.Response) -> VendorError: ...

    def retry_decision(self, response: httpx.Response) -> bool | None:
        """True/False when the vendor says whether to retry (Stripe-Should-Retry); else None."""
        ...

    def throttle_seconds(self, response: httpx.Response) -> float:
        """Seconds to hold off before the next call, from rate-limit headers (0: none)."""
        ...

    def is_precondition_failure(self, response: httpx.Response, error: VendorError) -> bool: ...

    def is_idempotency_conflict(self, response: httpx.Response, error: VendorError) -> bool: ...


def parse_error_envelope(response: httpx.Response) -> VendorError:
    """``{"error": {"code", "message", ...}}``: the error body of Stripe and of OData."""
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    if not isinstance(error, dict):
        error = {}
    message = error.get("message") or f"HTTP {response.status_code} without an error body"
    return VendorError(code=error.get("code") or error.get("type"), message=str(message))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass
class CallStats:
    """What a client has done, for metrics and benchmarks."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    transient_failures: int = 0
    waited_seconds: float = 0.0


class ApiClient:
    """httpx with retries, throttling and typed errors, for one vendor API."""

    def __init__(
        self,
        base_url: str,
        dialect: VendorDialect,
        *,
        headers: dict[str, str] | None = None,
        policy: RetryPolicy | None = None,
        timeout_seconds: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.dialect = dialect
        self.policy = policy or RetryPolicy()
        self.stats = CallStats()
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._not_before = 0.0
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers=headers or {},
            timeout=timeout_seconds,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- calls ------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        data: Any = None,
        json: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        retry_unsafe: bool | None = None,
    ) -> httpx.Response:
        """Send a request, retrying what is safe to retry, and return a 2xx response.

        ``retry_unsafe`` says whether repeating the call after an ambiguous failure (5xx,
        timeout after sending) is harmless. By default that holds for GET/PUT/DELETE, for a
        request with an ``Idempotency-Key`` and for one guarded by ``If-Match``; a read that
        uses POST (searches, batch reads) passes True.
        """
        method = method.upper()
        headers = headers or {}
        repeatable = retry_unsafe if retry_unsafe is not None else _repeatable(method, headers)
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            self._wait_for_throttle(started)
            try:
                response = self._send(method, path, params, data, json, content, headers)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # The request never reached the server: always safe to try again.
                api_metrics.count_failure(self.dialect.system, None)
                error: SystemApiError = TransientError(
                    self.dialect.system, f"could not connect: {exc}", method=method, url=path
                )
            except httpx.TransportError as exc:
                api_metrics.count_failure(self.dialect.system, None)
                error = self._ambiguous(method, path, f"{type(exc).__name__}: {exc}", repeatable)
            else:
                self._note_throttle(response)
                if response.is_success:
                    return response
                api_metrics.count_failure(self.dialect.system, response.status_code)
                error = self._error_for(response, method, path, repeatable)
            error.attempts = attempt
            delay = self._retry_delay(error, attempt, started)
            if delay is None:
                raise error
            self.stats.retries += 1
            self.stats.waited_seconds += delay
            self._sleep(delay)

    def get_json(self, path: str, **kwargs: Any) -> Any:
        return self.decode(self.request("GET", path, **kwargs))

    def decode(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise InvalidResponse(
                self.dialect.system,
                f"expected JSON, got {response.headers.get('content-type', 'no content type')}",
                status=response.status_code,
                method=response.request.method,
                url=str(response.request.url),
            ) from exc

    def paginate(self, first: PageRequest, paginator: Paginator) -> Iterator[dict[str, Any]]:
        """Every record of a list, page after page, following the vendor's convention."""
        request: PageRequest | None = first
        while request is not None:
            response = self.request(
                request.method,
                request.path,
                params=request.params or None,
                json=request.json,
                retry_unsafe=True,
            )
            body = self.decode(response)
            try:
                items = paginator.items(body)
                following = paginator.next_request(request, body)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise InvalidResponse(
                    self.dialect.system, f"not a list page: {exc}", url=request.path
                ) from exc
            yield from items
            request = following

    # -- internals --------------------------------------------------------------------------
    def _send(
        self,
        method: str,
        path: str,
        params: Any,
        data: Any,
        json: Any,
        content: bytes | None,
        headers: dict[str, str],
    ) -> httpx.Response:
        self.stats.requests += 1
        started = time.perf_counter()  # real time, whatever clock paces the retries
        try:
            return self._http.request(
                method, path, params=params, data=data, json=json, content=content, headers=headers
            )
        finally:
            api_metrics.observe_request(self.dialect.system, method, time.perf_counter() - started)

    def _ambiguous(self, method: str, path: str, reason: str, repeatable: bool) -> SystemApiError:
        cls = TransientError if repeatable else UnsafeToRetry
        return cls(self.dialect.system, reason, method=method, url=path)

    def _error_for(
        self, response: httpx.Response, method: str, path: str, repeatable: bool
    ) -> SystemApiError:
        status = response.status_code
        vendor = self.dialect.parse_error(response)
        common: dict[str, Any] = {
            "status": status,
            "code": vendor.code,
            "request_id": _request_id(response),
            "method": method,
            "url": path,
        }
        system = self.dialect.system
        if status == 429:
            self.stats.rate_limited += 1
            # Only an explicit Retry-After sets the wait; otherwise the growing backoff does.
            # (A rolling-window header on a 429 says the window is full, not for how long.)
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            return RateLimited(system, vendor.message, retry_after=retry_after, **common)
        if status >= 500 or status == 408:
            self.stats.transient_failures += 1
            if repeatable or self.dialect.retry_decision(response) is True:
                return TransientError(system, vendor.message, **common)
            return UnsafeToRetry(system, vendor.message, **common)
        if self.dialect.is_precondition_failure(response, vendor):
            return PreconditionFailed(system, vendor.message, **common)
        if self.dialect.is_idempotency_conflict(response, vendor):
            return IdempotencyConflict(system, vendor.message, **common)
        if status == 409 and self.dialect.retry_decision(response) is True:
            # Stripe: a concurrent request with the same idempotency key is still running.
            return TransientError(system, vendor.message, **common)
        if status in (401, 403):
            return AuthenticationFailed(system, vendor.message, **common)
        if status == 404:
            return NotFound(system, vendor.message, **common)
        return PermanentError(system, vendor.message, **common)

    def _retry_delay(self, error: SystemApiError, attempt: int, started: float) -> float | None:
        if not isinstance(error, TransientError) or isinstance(error, UnsafeToRetry):
            return None
        if attempt >= self.policy.max_attempts:
            return None
        delay = self.policy.backoff(attempt, self._rng)
        if isinstance(error, RateLimited) and error.retry_after is not None:
            delay = max(delay, error.retry_after)
        remaining = self.policy.budget_seconds - (self._clock() - started)
        if delay >= remaining:
            return None
        return delay

    def _note_throttle(self, response: httpx.Response) -> None:
        if response.status_code == 429:
            return  # handled as an error with its own wait
        hold = self.dialect.throttle_seconds(response)
        if hold > 0:
            self._not_before = max(self._not_before, self._clock() + hold)

    def _wait_for_throttle(self, started: float) -> None:
        wait = self._not_before - self._clock()
        if wait > 0:
            wait = min(wait, max(0.0, self.policy.budget_seconds - (self._clock() - started)))
            self.stats.waited_seconds += wait
            self._sleep(wait)


def _repeatable(method: str, headers: dict[str, str]) -> bool:
    lowered = {k.lower() for k in headers}
    return method in SAFE_METHODS or "idempotency-key" in lowered or "if-match" in lowered


def _request_id(response: httpx.Response) -> str | None:
    for name in ("Request-Id", "X-HubSpot-Correlation-Id", "request-id", "ms-correlation-x"):
        if name in response.headers:
            return response.headers[name]
    return None
