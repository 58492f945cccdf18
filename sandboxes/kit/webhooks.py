"""Outgoing webhooks for the sandboxes: at-least-once delivery with injectable misbehaviour.

A sandbox hands each delivery (target URL, raw body, a signer) to ``WebhookDispatcher``; a
background task posts it, retrying failures with backoff. ``Faults.webhook_drop`` loses a
delivery, ``webhook_duplicate`` sends it twice, ``webhook_reorder`` holds it back so that
later deliveries overtake it: the ways real webhook senders misbehave.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import httpx

from sandboxes.kit.faults import FaultInjector

log = logging.getLogger("sandbox.webhooks")

Signer = Callable[[str, bytes], dict[str, str]]
"""Given the target URL and the raw body at send time, return the headers to send."""


@dataclass
class DeliveryStats:
    enqueued: int = 0
    delivered: int = 0
    dropped: int = 0
    duplicated: int = 0
    reordered: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class _Delivery:
    url: str
    body: bytes
    sign: Signer
    attempts: int = 0
    extra_headers: dict[str, str] = field(default_factory=dict)


class WebhookDispatcher:
    """Delivers webhooks from a background task; ``enqueue`` is safe from any thread."""

    MAX_ATTEMPTS = 6
    HOLD_BACK_SECONDS = (0.5, 2.5)

    def __init__(self, injector: FaultInjector, timeout: float = 10.0) -> None:
        self.injector = injector
        self.stats = DeliveryStats()
        self._timeout = timeout
        self._queue: asyncio.Queue[_Delivery] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self._lock = threading.Lock()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        self._client = httpx.AsyncClient(timeout=self._timeout)
        self._task = asyncio.create_task(self._run(), name="webhook-dispatcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for task in list(self._pending):
            task.cancel()
        if self._client is not None:
            await self._client.aclose()

    def enqueue(self, url: str, body: bytes, sign: Signer) -> None:
        if self._loop is None or self._queue is None:
            log.warning("webhook to %s not sent: dispatcher not running", url)
            return
        with self._lock:
            self.stats.enqueued += 1
        delivery = _Delivery(url=url, body=body, sign=sign)
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._queue.put_nowait(delivery)
        else:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, delivery)

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            delivery = await self._queue.get()
            faults = self.injector.faults
            if self.injector.draw(faults.webhook_drop):
                self.stats.dropped += 1
                continue
            copies = 2 if self.injector.draw(faults.webhook_duplicate) else 1
            if copies == 2:
                self.stats.duplicated += 1
            for _ in range(copies):
                if self.injector.draw(faults.webhook_reorder):
                    self.stats.reordered += 1
                    delay = self.injector.rng.uniform(*self.HOLD_BACK_SECONDS)
                    self._spawn(self._deliver_later(_copy(delivery), delay))
                else:
                    await self._deliver(_copy(delivery))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _deliver_later(self, delivery: _Delivery, delay: float) -> None:
        await asyncio.sleep(delay)
        await self._deliver(delivery)

    async def _deliver(self, delivery: _Delivery) -> None:
        assert self._client is not None
        delivery.attempts += 1
        headers = {"Content-Type": "application/json", **delivery.sign(delivery.url, delivery.body)}
        try:
            response = await self._client.post(delivery.url, content=delivery.body, headers=headers)
            ok = 200 <= response.status_code < 300
            reason = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            ok, reason = False, f"{type(exc).__name__}: {exc}"
        if ok:
            self.stats.delivered += 1
            return
        if delivery.attempts >= self.MAX_ATTEMPTS:
            self.stats.failed += 1
            log.warning(
                "webhook to %s failed for good after %d attempts: %s",
                delivery.url,
                delivery.attempts,
                reason,
            )
            return
        backoff = min(30.0, 0.5 * 2 ** (delivery.attempts - 1))
        self._spawn(self._deliver_later(delivery, backoff))


def _copy(delivery: _Delivery) -> _Delivery:
    return _Delivery(url=delivery.url, body=delivery.body, sign=delivery.sign)
