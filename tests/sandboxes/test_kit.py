"""The sandbox kit: fault settings, webhook misbehaviour and the deterministic world."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandboxes.kit.faults import FaultInjector, Faults
from sandboxes.kit.server import free_port, serving_in_thread
from sandboxes.kit.webhooks import WebhookDispatcher
from sandboxes.kit.world import REGIONS, TAX_RATES, build_world, tax_id_is_valid


class Receiver:
    """A webhook receiver on loopback that records bodies and can fail the first calls."""

    def __init__(self, fail_first: int = 0) -> None:
        self.bodies: list[dict[str, int]] = []
        self.fail_first = fail_first
        self.calls = 0

    async def endpoint(self, request: Request) -> Response:
        self.calls += 1
        if self.calls <= self.fail_first:
            return Response(status_code=503)
        self.bodies.append(json.loads(await request.body()))
        return Response(status_code=200)

    @contextmanager
    def serving(self) -> Iterator[str]:
        port = free_port()
        app = Starlette(routes=[Route("/hook", self.endpoint, methods=["POST"])])
        with serving_in_thread(app, "127.0.0.1", port, "webhook receiver"):
            yield f"http://127.0.0.1:{port}/hook"


async def deliver(url: str, faults: Faults, count: int, receiver: Receiver, expect: int) -> None:
    dispatcher = WebhookDispatcher(FaultInjector(faults, seed=7))
    dispatcher.MAX_ATTEMPTS = 3
    await dispatcher.start()
    try:
        for n in range(count):
            dispatcher.enqueue(url, json.dumps({"n": n}).encode(), lambda _url, _body: {})
        deadline = time.monotonic() + 20
        while len(receiver.bodies) < expect and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        await dispatcher.stop()


def test_reordered_webhooks_all_arrive_but_not_in_order() -> None:
    receiver = Receiver()
    with receiver.serving() as url:
        asyncio.run(deliver(url, Faults(webhook_reorder=0.5), 30, receiver, expect=30))
    arrived = [b["n"] for b in receiver.bodies]
    assert sorted(arrived) == list(range(30))
    assert arrived != sorted(arrived)


def test_a_failing_receiver_gets_the_webhook_again_later() -> None:
    receiver = Receiver(fail_first=2)
    with receiver.serving() as url:
        asyncio.run(deliver(url, Faults(), 1, receiver, expect=1))
    assert receiver.bodies == [{"n": 0}]
    assert receiver.calls == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rate_limit=2", "less than or equal to 1"),
        ("meltdown=1", "unknown fault 'meltdown'"),
        ("rate_limit", "must look like name=value"),
        ("latency_ms=fast", "valid integer"),
    ],
)
def test_bad_fault_settings_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Faults.parse(text)


def test_fault_settings_parse_including_the_5xx_alias() -> None:
    faults = Faults.parse("5xx=0.2, rate_limit=0.1,latency_ms=25,webhook_drop=0.3")
    assert (faults.server_error, faults.rate_limit, faults.latency_ms, faults.webhook_drop) == (
        0.2,
        0.1,
        25,
        0.3,
    )


def test_the_world_is_deterministic_and_has_its_awkward_records() -> None:
    world = build_world(7, 600, date(2026, 6, 30))
    assert world == build_world(7, 600, date(2026, 6, 30))
    companies = world.companies
    assert {c.region for c in companies} == set(REGIONS)
    assert {c.currency for c in companies} == {"USD", "EUR", "GBP", "AUD"}
    assert any(c.tax_id is None for c in companies)
    assert any(c.tax_id and not c.tax_id_valid for c in companies)
    assert all(
        tax_id_is_valid(c.country, c.tax_id) == c.tax_id_valid for c in companies if c.tax_id
    )
    assert any(c.parent_index is not None for c in companies)
    assert any(c.crm_duplicate for c in companies)
    assert any(not c.name.isascii() for c in companies)
    assert any(c.in_billing and not c.in_crm for c in companies)
    assert all(t.erp_tax_group for t in TAX_RATES)
    assert any(i.currency == "CHF" for c in companies for i in c.invoices)
