"""Slowing down password and token guessing.

A ``Throttle`` counts failures per key (an account name from one client address, a client
address) over a sliding window and refuses a key holding ``limit`` of them until the oldest
leaves the window. A name is never locked for every address: anyone knowing it could then
keep its owner out. IPv6 addresses count per /64 (what one client usually holds). The
counts live in this process's memory: a restart forgets them and each gateway process counts
on its own, which is enough to make guessing slow for a console served by one process (many
processes would need a shared store to count together). Memory stays bounded: a key keeps
at most ``limit`` timestamps, keys are cut to ``MAX_KEY_CHARS``, and past ``max_keys`` the
expired keys are dropped, then the longest idle ones not locked (locked ones last).
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import logging
import math
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from starlette.requests import HTTPConnection

WINDOW = timedelta(minutes=15)
SIGN_INS_PER_NAME = 5  # per account name and client address
SIGN_INS_PER_ADDRESS = 20
TOKENS_PER_ADDRESS = 20
MAX_KEYS = 10_000
# Longer than any account name (accounts.NAME_PATTERN) with an address, so a cut key never
# collides with a real one.
MAX_KEY_CHARS = 160

Clock = Callable[[], datetime]
log = logging.getLogger("sync_platform.console")


class Throttle:
    """Failures per key within ``window``; a key with ``limit`` of them waits."""

    def __init__(
        self, limit: int, clock: Clock, window: timedelta = WINDOW, max_keys: int = MAX_KEYS
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._max_keys = max_keys
        self._failures: OrderedDict[str, deque[datetime]] = OrderedDict()
        self._lock = threading.Lock()

    def wait(self, key: str) -> int | None:
        """Whole seconds until ``key`` may try again; None when it may now."""
        with self._lock:
            now = self._clock()
            stamps = self._recent(key[:MAX_KEY_CHARS], now)
            if len(stamps) < self.limit:
                return None
            return max(1, math.ceil((stamps[-self.limit] + self.window - now).total_seconds()))

    def fail(self, key: str) -> int:
        """Count a failure of ``key``; how many it has within the window, this one included."""
        key = key[:MAX_KEY_CHARS]
        with self._lock:
            now = self._clock()
            stamps = self._recent(key, now)
            if not stamps:
                self._make_room(now)
                stamps = self._failures[key] = deque(maxlen=self.limit)
            stamps.append(now)
            self._failures.move_to_end(key)
            return len(stamps)

    def forgive(self, key: str) -> None:
        """Take back ``key``'s latest failure (a try counted before it was checked)."""
        with self._lock:
            key = key[:MAX_KEY_CHARS]
            stamps = self._failures.get(key)
            if stamps:
                stamps.pop()
            if not stamps:
                self._failures.pop(key, None)

    def clear(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key[:MAX_KEY_CHARS], None)

    def __len__(self) -> int:
        """Keys tracked (expired ones included until room is needed)."""
        return len(self._failures)

    def _recent(self, key: str, now: datetime) -> deque[datetime]:
        stamps = self._failures.get(key, deque())
        while stamps and stamps[0] <= now - self.window:
            stamps.popleft()
        if not stamps:
            self._failures.pop(key, None)
        return stamps

    def _make_room(self, now: datetime) -> None:
        if len(self._failures) < self._max_keys:
            return
        for key in [k for k, s in self._failures.items() if s[-1] <= now - self.window]:
            del self._failures[key]
        # Longest idle first, a locked key only when nothing else is left: whoever makes
        # many keys cannot free a locked one that way.
        unlocked = (k for k, s in self._failures.items() if len(s) < self.limit)
        for key in list(itertools.islice(unlocked, len(self._failures) - self._max_keys + 1)):
            del self._failures[key]
        while len(self._failures) >= self._max_keys:
            self._failures.popitem(last=False)


def client_address(connection: HTTPConnection) -> str:
    """The peer's address, an IPv6 one as its /64 (behind a proxy, uvicorn takes it from
    X-Forwarded-For when the proxy's address is in ``FORWARDED_ALLOW_IPS``)."""
    host = connection.client.host if connection.client else "unknown"
    if ":" in host:
        with contextlib.suppress(ValueError):
            return str(ipaddress.ip_network(f"{host}/64", strict=False))
    return host


@dataclass(frozen=True)
class SignInTry:
    """A sign-in counted as failed before its password is checked, so guesses sent in
    parallel cannot all be let in before the first is counted."""

    name: str
    address: str
    name_failures: int
    address_failures: int


class Lockouts:
    """The console's throttles: sign-ins per account name and client address, and per client
    address; unknown bearer tokens per client address."""

    def __init__(self, clock: Clock) -> None:
        self.names = Throttle(SIGN_INS_PER_NAME, clock)
        self.addresses = Throttle(SIGN_INS_PER_ADDRESS, clock)
        self.tokens = Throttle(TOKENS_PER_ADDRESS, clock)

    def sign_in_wait(self, name: str, address: str) -> int | None:
        waits = [
            w for w in (self.names.wait(_pair(name, address)), self.addresses.wait(address)) if w
        ]
        return max(waits) if waits else None

    def sign_in_try(self, name: str, address: str) -> SignInTry:
        return SignInTry(
            name, address, self.names.fail(_pair(name, address)), self.addresses.fail(address)
        )

    def sign_in_failed(self, attempt: SignInTry) -> None:
        if attempt.name_failures == self.names.limit:
            _locked("sign-in for the name", f"{attempt.name} from {attempt.address}", self.names)
        if attempt.address_failures == self.addresses.limit:
            _locked("sign-in from", attempt.address, self.addresses)

    def signed_in(self, attempt: SignInTry) -> None:
        self.names.clear(_pair(attempt.name, attempt.address))
        self.addresses.forgive(attempt.address)

    def token_failed(self, address: str) -> None:
        if self.tokens.fail(address) == self.tokens.limit:
            _locked("bearer tokens from", address, self.tokens)


def _pair(name: str, address: str) -> str:
    return f"{name}\x00{address}"


def _locked(what: str, key: str, throttle: Throttle) -> None:
    minutes = int(throttle.window.total_seconds() // 60)
    log.warning(
        "console: %s %r refused for %d minutes after %d failures",
        what,
        key[:MAX_KEY_CHARS],
        minutes,
        throttle.limit,
    )
