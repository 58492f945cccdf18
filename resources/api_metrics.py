"""What the system-API client (``resources.http.ApiClient``) has seen in this process: request
latency, errors and rate limits per system, as Prometheus metrics.

The counters are process-local, like any Prometheus client's: the gateway's ``/metrics``
shows the calls made by the gateway process. They live in a registry of their own, which
whoever exposes them (``sync_platform.gateway.metrics``) reads.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

REQUEST_SECONDS = Histogram(
    "sync_api_request_duration_seconds",
    "Time from sending a request to a system API to its response (each try counts).",
    ["system", "method"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
ERRORS = Counter(
    "sync_api_errors",
    "Responses from a system API that were not 2xx (429 is counted as rate limited, not "
    "here), and requests that failed in transport (status=transport).",
    ["system", "status"],
    registry=REGISTRY,
)
RATE_LIMITED = Counter(
    "sync_api_rate_limited",
    "429 Too Many Requests answers from a system API.",
    ["system"],
    registry=REGISTRY,
)


def observe_request(system: str, method: str, seconds: float) -> None:
    REQUEST_SECONDS.labels(system=system, method=method).observe(seconds)


def count_failure(system: str, status: int | None) -> None:
    """A non-2xx answer (``status``), or no answer at all (None)."""
    if status == 429:
        RATE_LIMITED.labels(system=system).inc()
    else:
        ERRORS.labels(system=system, status="transport" if status is None else str(status)).inc()
