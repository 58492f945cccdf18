"""``GET /metrics``: the platform's health in Prometheus text format, read from the store
afresh at each scrape:

| metric                                | type      | from                                  |
| ------------------------------------- | --------- | ------------------------------------- |
| ``sync_api_request_duration_seconds`` | histogram | system-API requests per system and    |
|                                       |           | method, from every process            |
| ``sync_api_errors_total``             | counter   | non-2xx answers but 429 per system    |
|                                       |           | and status (``transport``: none)      |
| ``sync_api_rate_limited_total``       | counter   | 429 answers per system                |
| ``sync_inbox_pending_events``         | gauge     | pending inbox events per source       |
| ``sync_transaction_attempts_total``   | counter   | moves to failed / retried /           |
|                                       |           | dead_lettered / replayed, per kind    |
| ``sync_open_exceptions``              | gauge     | open transaction exceptions, per      |
|                                       |           | reason                                |
| ``sync_sla_breaches``                 | gauge     | invoices finalized longer ago than    |
|                                       |           | the SLA (config/sla.yaml), not posted |
| ``sync_open_check_breaches``          | gauge     | asset-check breaches open, per check  |
| ``sync_store_up``                     | gauge     | 1 when the store answered this scrape |

The API figures are the totals of ``api_call_stats``, to which each process that calls a
system API adds what it counted (``resources.api_metrics``): a Dagster run or sensor tick
through its ``StoreResource``, at the end of the step or tick and every ~30 s while it goes
on calling; this gateway, its own calls (console replays) at each scrape. The totals only
grow, so Prometheus sees ordinary counters whichever process made the calls.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from resources import api_metrics
from sync_platform.store import ApiStatKey, Store
from sync_platform.store.columns import utc_now
from sync_platform.store.schema import INBOX_SOURCES
from sync_platform.transactions import completeness
from sync_platform.transactions.lifecycle import IN_ERP, STAGES
from sync_platform.transactions.model import CanonicalInvoice
from sync_platform.transactions.sla import SlaConfig

log = logging.getLogger("sync_platform.gateway")

# The classic text format: every Prometheus version reads it, and our names need nothing newer.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
RETRY_STAGES = ("failed", "retried", "dead_lettered", "replayed")
UNPOSTED_STAGES = tuple(s for s in STAGES if s not in IN_ERP and s != "skipped")

Clock = Callable[[], datetime]


class StoreCollector(Collector):
    """Reads the store at each scrape (after adding this process's API call figures to it);
    an unreachable store gives ``sync_store_up 0``."""

    def __init__(self, store: Store, clock: Clock = utc_now) -> None:
        self._store = store
        self._clock = clock

    def describe(self) -> Iterator[Metric]:
        return iter(())  # nothing to read at registration

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("sync_store_up", "1 when the store answered this scrape.")
        api_metrics.TALLY.flush(self._store.add_api_stats)  # a failure warns and keeps them
        try:
            families = [
                *api_call_families(self._store.api_stats()),
                self._inbox(),
                self._retries(),
                self._exceptions(),
                self._sla_breaches(),
                self._check_breaches(),
            ]
        except Exception as exc:
            # The error's text may quote statement parameters; the type is enough here.
            log.error("metrics: store unreadable: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _inbox(self) -> Metric:
        family = GaugeMetricFamily(
            "sync_inbox_pending_events",
            "Webhook events in the inbox no run has processed yet.",
            labels=["source"],
        )
        counts = self._store.inbox_counts()
        for source in INBOX_SOURCES:
            family.add_metric([source], counts.get(source, {}).get("pending", 0))
        return family

    def _retries(self) -> Metric:
        family = CounterMetricFamily(
            "sync_transaction_attempts",
            "Transaction attempts that failed or re-drove a failure, by kind and the stage "
            "moved to (failed, retried, dead_lettered, replayed).",
            labels=["kind", "stage"],
        )
        for (kind, stage), count in sorted(self._store.attempt_counts(RETRY_STAGES).items()):
            family.add_metric([kind, stage], count)
        return family

    def _exceptions(self) -> Metric:
        family = GaugeMetricFamily(
            "sync_open_exceptions",
            "Open transaction exceptions, by reason code.",
            labels=["reason"],
        )
        for reason, count in sorted(self._store.open_exception_counts().items()):
            family.add_metric([reason], count)
        return family

    def _sla_breaches(self) -> Metric:
        sla = SlaConfig.load()
        unposted = [
            CanonicalInvoice.model_validate(row.payload)
            for row in self._store.iter_transactions(kind="invoice", stages=UNPOSTED_STAGES)
        ]
        late = completeness.overdue(
            unposted,
            {},
            since=lambda doc: doc.occurred_at,
            within=sla.invoice_posted_within,
            now=self._clock(),
            what="finalized",
        )
        family = GaugeMetricFamily(
            "sync_sla_breaches",
            "Documents later than their SLA (config/sla.yaml): invoices finalized longer ago "
            "than invoice_posted_within_minutes and not posted in the ERP.",
            labels=["kind"],
        )
        family.add_metric(["invoice"], len(late))
        return family

    def _check_breaches(self) -> Metric:
        family = GaugeMetricFamily(
            "sync_open_check_breaches",
            "Asset-check breaches the alert sensor has open (SLA checks included), by check.",
            labels=["check"],
        )
        counts: dict[str, int] = {}
        for breach in self._store.breaches(status="open"):
            counts[breach.check_name] = counts.get(breach.check_name, 0) + 1
        for check, count in sorted(counts.items()):
            family.add_metric([check], count)
        return family


def api_call_families(totals: Mapping[ApiStatKey, float]) -> list[Metric]:
    """The system-API figures from the store's totals (``Store.api_stats``)."""
    durations = HistogramMetricFamily(
        "sync_api_request_duration_seconds",
        "Time from sending a request to a system API to its response (each try counts).",
        labels=["system", "method"],
    )
    errors = CounterMetricFamily(
        "sync_api_errors",
        "Responses from a system API that were not 2xx (429 is counted as rate limited, not "
        "here), and requests that failed in transport (status=transport).",
        labels=["system", "status"],
    )
    rate_limited = CounterMetricFamily(
        "sync_api_rate_limited",
        "429 Too Many Requests answers from a system API.",
        labels=["system"],
    )
    buckets: dict[tuple[str, str], dict[str, float]] = {}
    seconds: dict[tuple[str, str], float] = {}
    for key, value in sorted(totals.items()):
        if key.metric == "request_bucket":
            buckets.setdefault((key.system, key.label), {})[key.le] = value
        elif key.metric == "request_seconds":
            seconds[(key.system, key.label)] = value
        elif key.metric == "error":
            errors.add_metric([key.system, key.label], value)
        elif key.metric == "rate_limited":
            rate_limited.add_metric([key.system], value)
    for labels in sorted(buckets.keys() | seconds.keys()):
        durations.add_metric(
            list(labels), _cumulative(buckets.get(labels, {})), seconds.get(labels, 0.0)
        )
    return [durations, errors, rate_limited]


def _cumulative(counted: Mapping[str, float]) -> list[tuple[str, float]]:
    """Per-bucket counts (each bucket alone) as Prometheus's cumulative ``le`` buckets,
    every standard bound included and +Inf last."""
    bounds = sorted(set(api_metrics.BUCKET_LABELS) | counted.keys(), key=float)
    running = 0.0
    out: list[tuple[str, float]] = []
    for bound in bounds:
        running += counted.get(bound, 0.0)
        out.append((bound, running))
    return out


def metrics_registry(store: Store, clock: Clock = utc_now) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(store, clock))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The text exposition format, served as ``CONTENT_TYPE``."""
    return generate_latest(registry)
