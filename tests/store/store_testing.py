"""Helpers for the store tests (a module name no other test folder uses)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class ManualClock:
    """A clock the test moves, so timestamps are exact and ordering is explicit."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float = 60) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now
