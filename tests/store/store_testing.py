"""Helpers for the store tests (a module name no other test folder uses)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TypeVar

T = TypeVar("T")


class ManualClock:
    """A clock the test moves, so timestamps are exact and ordering is explicit."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float = 60) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def at_once(work: Callable[[], T], workers: int = 2) -> list[T]:
    """Run ``work`` in several threads released together by a barrier."""
    barrier = threading.Barrier(workers)

    def start() -> T:
        barrier.wait()
        return work()

    with ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(start) for _ in range(workers)]
        return [f.result() for f in futures]
