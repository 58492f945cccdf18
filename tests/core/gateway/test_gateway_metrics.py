"""``GET /metrics`` on the gateway: Prometheus text that parses, with the API figures the
system-API client saw (a 429 and a 503 from the ERP sandbox), in the gateway's process or
added to the store by other processes, and the store's other figures."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from core.transactions.transaction_factories import invoice
from prometheus_client.parser import text_string_to_metric_families

from resources.api_metrics import ApiCallTally
from resources.erp import ErpResource
from resources.errors import RateLimited, TransientError
from sandboxes.kit.server import (
    RunningSandbox,
    SandboxConfig,
    free_port,
    running_sandbox,
    serving_in_thread,
)
from sync_platform.gateway.app import create_gateway
from sync_platform.gateway.settings import GatewaySettings
from sync_platform.store import InboxEventIn, Store, TransactionIn

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

FAMILIES = {
    "sync_api_request_duration_seconds": "histogram",
    "sync_api_errors": "counter",
    "sync_api_rate_limited": "counter",
    "sync_inbox_pending_events": "gauge",
    "sync_transaction_attempts": "counter",
    "sync_open_exceptions": "gauge",
    "sync_sla_breaches": "gauge",
    "sync_open_check_breaches": "gauge",
    "sync_store_up": "gauge",
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    yield opened
    opened.close()


@pytest.fixture
def metrics_url(store: Store) -> Iterator[str]:
    port = free_port()
    settings = GatewaySettings(billing_webhook_secrets=("whsec_x",), crm_app_secret="secret")
    with serving_in_thread(create_gateway(store, settings), "127.0.0.1", port, "gateway"):
        yield f"http://127.0.0.1:{port}/metrics"


@pytest.fixture
def erp_sandbox(tmp_path: Path) -> Iterator[RunningSandbox]:
    with running_sandbox(SandboxConfig(kind="erp", state_dir=tmp_path, customers=3)) as sandbox:
        yield sandbox


def scrape(url: str) -> tuple[dict[str, str], Samples]:
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    types: dict[str, str] = {}
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        types[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return types, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_count_what_the_api_client_saw(
    metrics_url: str, erp_sandbox: RunningSandbox
) -> None:
    erp = ErpResource(
        base_url=erp_sandbox.base_url, access_token=erp_sandbox.api_key, max_attempts=1
    )
    _, before = scrape(metrics_url)

    erp.list_companies()
    erp_sandbox.set_faults(rate_limit=1.0)
    with pytest.raises(RateLimited):
        erp.list_companies()
    erp_sandbox.set_faults(rate_limit=0.0, server_error=1.0)
    with pytest.raises(TransientError):
        erp.list_companies()
    types, after = scrape(metrics_url)

    assert {name: types.get(name) for name in FAMILIES} == FAMILIES

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("sync_api_rate_limited_total", system="erp") == 1
    assert grew("sync_api_errors_total", system="erp", status="503") == 1
    assert grew("sync_api_request_duration_seconds_count", system="erp", method="GET") == 3
    assert grew("sync_api_request_duration_seconds_sum", system="erp", method="GET") > 0


def test_metrics_add_up_the_api_calls_every_process_flushed_to_the_store(
    store: Store, metrics_url: str
) -> None:
    run_worker, sensor_tick = ApiCallTally(), ApiCallTally()  # two other processes
    run_worker.observe_request("erp", "GET", 0.02)
    run_worker.observe_request("erp", "GET", 0.3)
    run_worker.count_failure("erp", 503)
    run_worker.count_failure("erp", 429)
    sensor_tick.observe_request("erp", "GET", 0.04)
    sensor_tick.count_failure("erp", 503)
    sensor_tick.observe_request("billing", "POST", 12.0)
    sensor_tick.count_failure("billing", None)

    _, before = scrape(metrics_url)  # the gateway's own calls so far, flushed now
    for tally in (run_worker, sensor_tick):
        with closing(Store.open(store.engine.url.render_as_string(False))) as their_store:
            assert tally.flush(their_store.add_api_stats)
    types, after = scrape(metrics_url)
    _, again = scrape(metrics_url)

    assert {name: types.get(name) for name in FAMILIES} == FAMILIES

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    erp_get = {"system": "erp", "method": "GET"}
    assert grew("sync_api_request_duration_seconds_count", **erp_get) == 3
    assert grew("sync_api_request_duration_seconds_sum", **erp_get) == pytest.approx(0.36)
    buckets = {
        le: grew("sync_api_request_duration_seconds_bucket", **erp_get, le=le)
        for le in ("0.01", "0.025", "0.05", "0.25", "0.5", "30.0", "+Inf")
    }
    assert buckets == {"0.01": 0, "0.025": 1, "0.05": 2, "0.25": 2, "0.5": 3, "30.0": 3, "+Inf": 3}
    assert grew("sync_api_errors_total", system="erp", status="503") == 2
    assert grew("sync_api_rate_limited_total", system="erp") == 1
    billing_post = {"system": "billing", "method": "POST"}
    assert grew("sync_api_request_duration_seconds_bucket", **billing_post, le="10.0") == 0
    assert grew("sync_api_request_duration_seconds_bucket", **billing_post, le="30.0") == 1
    assert grew("sync_api_errors_total", system="billing", status="transport") == 1
    assert again == after  # read again, nothing is counted twice


def test_metrics_read_inbox_retries_exceptions_and_sla_from_the_store(
    store: Store, metrics_url: str
) -> None:
    now = datetime.now(UTC)
    store.land_events("billing", [InboxEventIn(f"evt_{n}", "invoice.paid", {}) for n in range(2)])
    late = invoice(source_id="in_late", occurred_at=now - timedelta(hours=1))
    fresh = invoice(source_id="in_fresh", occurred_at=now - timedelta(minutes=1))
    store.receive_transactions([TransactionIn.from_canonical(d) for d in (late, fresh)])
    store.record_attempt(late.txn_id, "failed", "error", reason_code="erp_unavailable")
    store.open_exception(late.txn_id, "erp_unavailable", "The ERP did not answer.")
    store.record_attempt(late.txn_id, "retried", "ok")

    _, samples = scrape(metrics_url)

    assert value(samples, "sync_store_up") == 1
    assert value(samples, "sync_inbox_pending_events", source="billing") == 2
    assert value(samples, "sync_inbox_pending_events", source="crm") == 0
    assert value(samples, "sync_transaction_attempts_total", kind="invoice", stage="failed") == 1
    assert value(samples, "sync_transaction_attempts_total", kind="invoice", stage="retried") == 1
    assert value(samples, "sync_open_exceptions", reason="erp_unavailable") == 1
    assert value(samples, "sync_sla_breaches", kind="invoice") == 1  # not the fresh one


def test_metrics_ask_for_the_scrapers_token_when_one_is_set(store: Store) -> None:
    port = free_port()
    settings = GatewaySettings(
        billing_webhook_secrets=("whsec_x",), crm_app_secret="secret", metrics_token="scrape-me"
    )
    with serving_in_thread(create_gateway(store, settings), "127.0.0.1", port, "gateway"):
        url = f"http://127.0.0.1:{port}/metrics"
        assert httpx.get(url).status_code == 401
        wrong = httpx.get(url, headers={"Authorization": "Bearer guess"})
        assert wrong.status_code == 401
        right = httpx.get(url, headers={"Authorization": "Bearer scrape-me"})
        assert right.status_code == 200
        assert "sync_inbox_pending_events" in right.text
