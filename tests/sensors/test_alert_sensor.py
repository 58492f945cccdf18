"""The alert sensor against a real Dagster instance (SQLite, as `sync-platform up` keeps it)
and a real HTTP receiver: one alert per breach, one on recovery, retried until a 2xx."""

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetExecutionContext,
    DagsterInstance,
    SkipReason,
    asset,
    asset_check,
    build_sensor_context,
    materialize,
)

import sensors.alerts as alerts
from assets.partitions import date_region_partitions
from resources.store import StoreResource
from sensors.alerts import alert_sensor
from sync_platform.store import CheckEvaluation, Store

PARTITION = "2026-11-02|emea"
# What the check finds on its next evaluation; the test changes it between runs.
FINDINGS: dict[str, list[str]] = {"unposted": []}
# Why the check judges nothing on its next evaluation (a region out of live mode), if it does not.
SKIPPED: list[str] = []


@asset(key=["erp", "test_postings"], partitions_def=date_region_partitions)
def postings(context: AssetExecutionContext) -> None:
    return None


@asset_check(asset=postings, partitions_def=date_region_partitions)
def no_invoice_unposted_after_sla(context: AssetCheckExecutionContext) -> AssetCheckResult:
    unposted = FINDINGS["unposted"]
    if SKIPPED:
        return AssetCheckResult(passed=True, metadata={"skipped": SKIPPED[0]})
    return AssetCheckResult(
        passed=not unposted,
        metadata={"unposted": len(unposted), "offenders": unposted[:20], "threshold_minutes": 15},
    )


class Receiver:
    """A webhook endpoint on a free local port; answers with the queued statuses, then 200."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                body = json.loads(self.rfile.read(length))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                if status < 300:
                    receiver.bodies.append(body)
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"down")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    started = Receiver()
    monkeypatch.setenv("SYNC_ALERT_WEBHOOK_URL", started.url)
    monkeypatch.setenv("SYNC_DAGSTER_UI_URL", "http://dagster.example:3000")
    yield started
    started.close()


@pytest.fixture
def instance() -> DagsterInstance:
    return DagsterInstance.ephemeral()


@pytest.fixture(params=["sqlite", "postgresql"])
def home_instance(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DagsterInstance]:
    """An instance in a DAGSTER_HOME folder with the storage `dagster dev` uses (run-sharded
    SQLite) or the production one (dagster-postgres)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    overrides = None
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
        overrides = {"storage": {"postgres": {"postgres_url": url}}}
    with DagsterInstance.local_temp(str(home), overrides=overrides) as local:
        storage = type(local.event_log_storage).__name__
        assert storage.startswith("Postgres" if overrides else "Sqlite"), storage
        yield local


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.sqlite3'}"


class Sensor:
    """Evaluates the sensor tick after tick, carrying its cursor as the daemon would."""

    def __init__(self, instance: DagsterInstance, store_url: str) -> None:
        self.instance = instance
        self.store_url = store_url
        self.cursor: str | None = None

    def tick(self) -> str:
        resources = {"store": StoreResource(url=self.store_url)}
        with build_sensor_context(
            instance=self.instance, cursor=self.cursor, resources=resources
        ) as context:
            result = alert_sensor(context)
            self.cursor = context.cursor
        assert isinstance(result, SkipReason)
        return result.skip_message or ""


def evaluate_check(instance: DagsterInstance, unposted: list[str]) -> None:
    FINDINGS["unposted"] = unposted
    result = materialize(
        [postings, no_invoice_unposted_after_sla], instance=instance, partition_key=PARTITION
    )
    assert result.success


def test_one_alert_per_breach_and_one_on_recovery(
    home_instance: DagsterInstance, store_url: str, receiver: Receiver
) -> None:
    instance = home_instance
    sensor = Sensor(instance, store_url)
    evaluate_check(instance, ["in_1", "in_2", "in_3"])

    assert "1 alert(s) sent" in sensor.tick()
    (alert,) = receiver.bodies
    text = alert["text"]
    for expected in ("no_invoice_unposted_after_sla", "erp/test_postings", "region emea"):
        assert expected in text
    assert "day 2026-11-02" in text
    assert "3 offending" in text
    assert "in_1, in_2, in_3" in text
    assert "http://dagster.example:3000/assets/erp/test_postings?view=checks" in text
    fields = " ".join(f["text"] for b in alert["blocks"] for f in b.get("fields", []))
    assert "*Offending*\n3" in fields and "*Region*\nemea" in fields

    # The same breach, evaluated again by the sensor and failing again: no second alert.
    sensor.tick()
    evaluate_check(instance, ["in_1", "in_2"])
    sensor.tick()
    assert len(receiver.bodies) == 1

    evaluate_check(instance, [])
    sensor.tick()
    assert len(receiver.bodies) == 2
    recovery = receiver.bodies[1]["text"]
    assert recovery.startswith("Recovered:") and "no_invoice_unposted_after_sla" in recovery
    assert "region emea" in recovery

    sensor.tick()
    assert len(receiver.bodies) == 2
    assert [b.status for b in Store.open(store_url).breaches()] == ["recovered"]


def test_a_check_skipped_when_its_region_leaves_live_mode_sends_no_recovery(
    instance: DagsterInstance, store_url: str, receiver: Receiver
) -> None:
    sensor = Sensor(instance, store_url)
    evaluate_check(instance, ["in_1"])
    sensor.tick()
    try:
        SKIPPED.append("invoices of emea are in shadow mode and write nothing")
        evaluate_check(instance, [])
        assert "0 recovered" in sensor.tick()
    finally:
        SKIPPED.clear()
    assert len(receiver.bodies) == 1
    assert [b.status for b in Store.open(store_url).breaches()] == ["open"]

    evaluate_check(instance, [])
    sensor.tick()
    assert receiver.bodies[1]["text"].startswith("Recovered:")


def test_a_failed_delivery_is_retried_next_tick_and_sent_once(
    instance: DagsterInstance, store_url: str, receiver: Receiver
) -> None:
    sensor = Sensor(instance, store_url)
    evaluate_check(instance, ["in_9"])
    receiver.statuses = [500]

    assert "delivery failed" in sensor.tick()
    assert receiver.bodies == []
    (pending,) = Store.open(store_url).pending_breach_notices()
    assert pending.delivery_attempts == 1 and "HTTP 500" in (pending.last_delivery_error or "")

    sensor.tick()
    sensor.tick()
    assert len(receiver.bodies) == 1
    assert "in_9" in receiver.bodies[0]["text"]


def test_without_a_url_alerts_are_off_but_the_breach_is_kept(
    instance: DagsterInstance, store_url: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SYNC_ALERT_WEBHOOK_URL")
    sensor = Sensor(instance, store_url)
    evaluate_check(instance, ["in_5"])

    assert "alerts off, 1 notice(s) undelivered" in sensor.tick()
    assert receiver.bodies == []

    monkeypatch.setenv("SYNC_ALERT_WEBHOOK_URL", receiver.url)
    sensor.tick()
    assert len(receiver.bodies) == 1


def test_a_cursor_moved_back_reads_events_again_and_alerts_nothing_twice(
    instance: DagsterInstance, store_url: str, receiver: Receiver
) -> None:
    sensor = Sensor(instance, store_url)
    start = sensor.cursor
    evaluate_check(instance, ["in_1"])
    sensor.tick()

    sensor.cursor = start  # as if the tick had never committed
    assert "0 breach(es) opened" in sensor.tick()
    assert len(receiver.bodies) == 1


def test_a_tick_stops_posting_before_its_time_budget_and_the_next_sends_the_rest(
    receiver: Receiver, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store.open(store_url)
    at = datetime(2026, 11, 2, 10, tzinfo=UTC)
    store.record_check_evaluations(
        [
            CheckEvaluation(
                event_id=n,
                check_name=f"check_{n}",
                asset_key="erp/invoice_postings",
                partition="2026-11-02|emea",
                passed=False,
                evaluated_at=at,
                details={"count": 1, "records": [f"in_{n}"]},
            )
            for n in (1, 2)
        ]
    )
    # Room for one delivery's timeout only: the second would risk outlasting the tick.
    monkeypatch.setattr(alerts, "DELIVERY_BUDGET_SECONDS", alerts.DELIVERY_TIMEOUT_SECONDS)

    assert alerts.deliver_notices(store, receiver.url, None) == (1, None)
    assert alerts.deliver_notices(store, receiver.url, None) == (1, None)
    assert alerts.deliver_notices(store, receiver.url, None) == (0, None)
    assert sorted("check_1" in json.dumps(b) for b in receiver.bodies) == [False, True]
    store.close()
