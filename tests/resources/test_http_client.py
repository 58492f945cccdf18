"""The shared HTTP client: what it retries, how long it waits, and what it never repeats.

The server here is a scripted ``httpx.MockTransport`` so each case controls exactly what
the vendor answers; sleeping is recorded instead of performed. Behaviour against the real
sandboxes under injected faults is covered in ``test_resources_against_sandboxes.py``.
"""

from __future__ import annotations

import random

import httpx
import pytest

from resources.billing import StripeDialect, encode_form
from resources.crm import HubSpotDialect
from resources.erp import BusinessCentralDialect
from resources.errors import (
    AuthenticationFailed,
    IdempotencyConflict,
    NotFound,
    PreconditionFailed,
    RateLimited,
    TransientError,
    UnsafeToRetry,
)
from resources.http import ApiClient, RetryPolicy, parse_retry_after


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


def scripted(
    *responses: httpx.Response | Exception,
) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    queue = list(responses)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return httpx.MockTransport(handler), seen


def client(
    transport: httpx.MockTransport,
    clock: Clock,
    dialect: object = None,
    policy: RetryPolicy | None = None,
) -> ApiClient:
    return ApiClient(
        "http://vendor.test",
        dialect or StripeDialect(),  # type: ignore[arg-type]
        transport=transport,
        policy=policy or RetryPolicy(max_attempts=5, base_delay_seconds=0.5, budget_seconds=60),
        sleep=clock.sleep,
        clock=clock.monotonic,
        rng=random.Random(1),
    )


def stripe_error(status: int, code: str, **headers: str) -> httpx.Response:
    body = {"error": {"type": "invalid_request_error", "code": code, "message": f"{code} happened"}}
    return httpx.Response(status, json=body, headers=headers)


def test_a_rate_limited_read_waits_as_long_as_retry_after_says() -> None:
    clock = Clock()
    transport, seen = scripted(
        stripe_error(429, "rate_limit", **{"Retry-After": "3"}),
        httpx.Response(200, json={"ok": True}),
    )
    assert client(transport, clock).get_json("/v1/customers") == {"ok": True}
    assert len(seen) == 2
    assert clock.sleeps[0] >= 3


def test_transient_failures_back_off_exponentially_within_the_budget() -> None:
    clock = Clock()
    failures = [httpx.Response(503, json={"error": {"message": "down"}}) for _ in range(4)]
    transport, seen = scripted(*failures, httpx.Response(200, json={}))
    client(transport, clock).get_json("/v1/customers")
    assert len(seen) == 5
    ceilings = [0.5 * 2**i for i in range(4)]
    assert all(0 <= s <= c for s, c in zip(clock.sleeps, ceilings, strict=True))


def test_retries_stop_at_max_attempts_with_a_typed_error() -> None:
    clock = Clock()
    transport, seen = scripted(*[httpx.Response(500, json={}) for _ in range(5)])
    with pytest.raises(TransientError) as info:
        client(transport, clock).get_json("/v1/customers")
    assert len(seen) == 5
    assert info.value.attempts == 5
    assert "HTTP 500" in str(info.value)


def test_retries_stop_when_the_time_budget_is_spent() -> None:
    clock = Clock()
    policy = RetryPolicy(max_attempts=50, base_delay_seconds=1, budget_seconds=5)
    transport, seen = scripted(*[stripe_error(429, "rate_limit", **{"Retry-After": "2"})] * 10)
    with pytest.raises(RateLimited):
        client(transport, clock, policy=policy).get_json("/v1/customers")
    assert clock.now < 5
    assert len(seen) < 5


def test_a_create_without_idempotency_key_is_never_repeated_after_a_5xx() -> None:
    clock = Clock()
    transport, seen = scripted(httpx.Response(500, json={}), httpx.Response(201, json={}))
    erp = client(transport, clock, dialect=BusinessCentralDialect())
    with pytest.raises(UnsafeToRetry):
        erp.request("POST", "/api/v2.0/companies(1)/salesInvoices", json={"x": 1})
    assert len(seen) == 1


def test_a_create_without_idempotency_key_is_repeated_after_a_429_it_was_not_processed() -> None:
    clock = Clock()
    transport, seen = scripted(
        httpx.Response(429, json={"error": {"code": "Throttled"}}),
        httpx.Response(201, json={"id": "1"}),
    )
    erp = client(transport, clock, dialect=BusinessCentralDialect())
    assert erp.request("POST", "/x", json={}).status_code == 201
    assert len(seen) == 2


def test_a_create_with_an_idempotency_key_is_repeated_with_the_same_key() -> None:
    clock = Clock()
    transport, seen = scripted(httpx.ReadTimeout("slow"), httpx.Response(200, json={"id": "c"}))
    billing = client(transport, clock)
    billing.request(
        "POST",
        "/v1/customers",
        data=dict(encode_form({"name": "A"})),
        headers={"Idempotency-Key": "k-1"},
    )
    assert [r.headers["Idempotency-Key"] for r in seen] == ["k-1", "k-1"]


def test_stripe_should_retry_is_read_for_conflicts() -> None:
    clock = Clock()
    transport, seen = scripted(
        stripe_error(429, "rate_limit", **{"Stripe-Should-Retry": "false"}),
        httpx.Response(200, json={}),
    )
    # A 429 was not processed, so we retry it even when Stripe says not to bother the SDK.
    client(transport, clock).get_json("/v1/customers")
    assert len(seen) == 2
    transport, seen = scripted(
        stripe_error(409, "lock_timeout", **{"Stripe-Should-Retry": "true"}),
        httpx.Response(200, json={}),
    )
    client(transport, clock).request("POST", "/v1/customers", headers={"Idempotency-Key": "k"})
    assert len(seen) == 2


@pytest.mark.parametrize(
    ("response", "dialect", "error"),
    [
        (stripe_error(404, "resource_missing"), StripeDialect(), NotFound),
        (stripe_error(401, "api_key_invalid"), StripeDialect(), AuthenticationFailed),
        (stripe_error(400, "idempotency_error"), StripeDialect(), IdempotencyConflict),
        (
            httpx.Response(412, json={"error": {"code": "Request_EntityChanged", "message": "m"}}),
            BusinessCentralDialect(),
            PreconditionFailed,
        ),
        (
            httpx.Response(409, json={"error": {"code": "Request_EntityChanged", "message": "m"}}),
            BusinessCentralDialect(),
            PreconditionFailed,
        ),
    ],
)
def test_vendor_errors_become_typed_errors_with_the_vendor_message(
    response: httpx.Response, dialect: object, error: type[Exception]
) -> None:
    transport, seen = scripted(response)
    with pytest.raises(error) as info:
        client(transport, Clock(), dialect=dialect).request(
            "PATCH", "/x", headers={"If-Match": "*"}
        )
    assert len(seen) == 1
    assert "m" in str(info.value) or "happened" in str(info.value)


def test_hubspot_rate_limit_headers_hold_off_the_next_call() -> None:
    clock = Clock()
    exhausted = httpx.Response(
        200,
        json={},
        headers={
            "X-HubSpot-RateLimit-Remaining": "0",
            "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
        },
    )
    transport, _ = scripted(exhausted, httpx.Response(200, json={}))
    crm = client(transport, clock, dialect=HubSpotDialect())
    crm.get_json("/crm/v3/objects/companies")
    crm.get_json("/crm/v3/objects/companies")
    assert clock.sleeps == [pytest.approx(10.0)]


@pytest.mark.parametrize(
    ("header", "expected"),
    [("5", 5.0), ("0.5", 0.5), ("", None), ("soon", None), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)],
)
def test_retry_after_reads_seconds_and_http_dates(header: str, expected: float | None) -> None:
    assert parse_retry_after(header) == expected


def test_stripe_form_encoding_nests_like_the_official_library() -> None:
    encoded = encode_form(
        {
            "metadata": {"k": "v"},
            "items": [{"price": "p"}],
            "expand": ["lines"],
            "email": None,
            "flag": True,
        }
    )
    assert encoded == [
        ("metadata[k]", "v"),
        ("items[0][price]", "p"),
        ("expand[0]", "lines"),
        ("email", ""),
        ("flag", "true"),
    ]
