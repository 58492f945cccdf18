"""What the system-API client (``resources.http.ApiClient``) has seen: request latency,
errors and rate limits per system, counted in each process and added up in the store.

Calls are made in Dagster run workers, sensor ticks, CLI commands and the gateway, so
counters held in memory would show each process only its own calls. Instead each process
tallies here (a lock and a dict update per call, no I/O) and flushes what it counted since
its last flush into the store's ``api_call_stats``, which adds it to the totals
(``sync_platform.store.api_stats``):

- ``resources.store.StoreResource`` makes its store the sink when a run (or sensor tick)
  starts and flushes when it is torn down, at the end of the run's step or of the tick;
- while calls go on, the call that finds the last flush ``FLUSH_EVERY_SECONDS`` old starts
  a flush to the sink in a background thread (the call itself never waits for the store),
  so a long run shows its calls as it goes;
- the gateway flushes its own tally at each scrape of ``/metrics``, then reads the totals
  (``sync_platform.gateway.metrics``).

A flush that fails (store unreachable) logs a warning and puts back what it took, for the
next flush: the store adds one flush in one transaction, so a failed one added nothing. A run
worker's last flush is at teardown: it is tried three times, then its figures are lost.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections.abc import Callable, Mapping

from sync_platform.store.api_stats import ApiStatKey

# Upper bounds, in seconds, of the request-duration histogram's buckets (then +Inf).
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BUCKET_LABELS = (*(repr(bound) for bound in BUCKETS), "+Inf")  # as Prometheus writes ``le``
FLUSH_EVERY_SECONDS = 30.0

Sink = Callable[[Mapping[ApiStatKey, float]], None]

log = logging.getLogger("resources.api_metrics")


class ApiCallTally:
    """What this process's API clients counted since the last flush; safe across threads."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        flush_every_seconds: float = FLUSH_EVERY_SECONDS,
    ) -> None:
        self._lock = threading.Lock()
        self._counts: dict[ApiStatKey, float] = {}
        self._clock = clock
        self._flush_every = flush_every_seconds
        self._sink: Sink | None = None
        self._flushed_at = clock()
        self._flusher: threading.Thread | None = None

    def observe_request(self, system: str, method: str, seconds: float) -> None:
        bucket = BUCKET_LABELS[bisect.bisect_left(BUCKETS, seconds)]  # le: bound included
        self._add(
            (ApiStatKey("request_bucket", system, method, bucket), 1),
            (ApiStatKey("request_seconds", system, method), seconds),
        )

    def count_failure(self, system: str, status: int | None) -> None:
        """A non-2xx answer (``status``), or no answer at all (None)."""
        if status == 429:
            key = ApiStatKey("rate_limited", system)
        else:
            key = ApiStatKey("error", system, "transport" if status is None else str(status))
        self._add((key, 1))

    def counts(self) -> dict[ApiStatKey, float]:
        """What the next flush would add."""
        with self._lock:
            return dict(self._counts)

    def use_sink(self, sink: Sink) -> None:
        """Flush to ``sink`` every ``flush_every_seconds`` while calls are counted."""
        with self._lock:
            self._sink = sink
            self._flushed_at = self._clock()

    def drop_sink(self, sink: Sink) -> None:
        """Stop flushing to ``sink`` on the way (if another has not replaced it already)."""
        with self._lock:
            if self._sink == sink:
                self._sink = None

    def flush(self, write: Sink, logger: logging.Logger | None = None) -> bool:
        """Hand what was counted since the last flush to ``write`` and start again from zero;
        if ``write`` raises, log a warning, keep the counts for the next flush and return
        False. ``write`` must add all of the counts or none (one transaction)."""
        with self._lock:
            taken, self._counts = self._counts, {}
            self._flushed_at = self._clock()
        if not taken:
            return True
        try:
            write(taken)
        except Exception as exc:
            with self._lock:
                for key, value in taken.items():
                    self._counts[key] = self._counts.get(key, 0.0) + value
            reason = str(exc).splitlines()[0] if str(exc) else ""
            (logger or log).warning(
                "API call figures not saved in the store, kept for the next flush: %s: %s",
                type(exc).__name__,
                reason,
            )
            return False
        return True

    def _add(self, *increments: tuple[ApiStatKey, float]) -> None:
        with self._lock:
            for key, value in increments:
                self._counts[key] = self._counts.get(key, 0.0) + value
            now = self._clock()
            sink = self._sink
            if sink is None or now - self._flushed_at < self._flush_every:
                return
            if self._flusher is not None and self._flusher.is_alive():
                return  # one flush at a time
            self._flushed_at = now
            # In a thread of its own: an API call never waits for the store (a busy SQLite
            # file may hold a write for its whole busy timeout).
            self._flusher = threading.Thread(
                target=self.flush, args=(sink,), name="api-metrics-flush", daemon=True
            )
            self._flusher.start()

    def wait_for_flush(self, timeout: float | None = None) -> None:
        """Until the flush under way in the background (if any) is done."""
        with self._lock:
            flusher = self._flusher
        if flusher is not None:
            flusher.join(timeout)


# The process's tally: every ApiClient of the process counts here.
TALLY = ApiCallTally()


def observe_request(system: str, method: str, seconds: float) -> None:
    TALLY.observe_request(system, method, seconds)


def count_failure(system: str, status: int | None) -> None:
    """A non-2xx answer (``status``), or no answer at all (None)."""
    TALLY.count_failure(system, status)
