"""Issue 6's acceptance: drift injected after a day was posted (an ERP invoice amount edited
out of band, a cash receipt deleted, an invoice whose webhook was lost while catch-up was
off) is found by the named checks in the next nightly run, with the offending records in
their metadata, and the alert sensor sends one alert per breach, to a real HTTP receiver."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import stripe
from dagster import (
    AssetSelection,
    ExecuteInProcessResult,
    RunRequest,
    SkipReason,
    build_sensor_context,
    materialize,
)
from e2e_platform import Platform, out_of_band, running_platform
from test_transaction_paths import company, customer_in_erp, day_of, finalized_invoice
from test_transaction_paths import funds_settled as settled

import assets.checks.transactions as transaction_checks_module
from assets.checks.transactions import transaction_checks
from assets.partitions import date_region_key
from assets.reconciliation import reconciliation_assets
from assets.transactions import transaction_assets
from resources.erp import payment_document_number
from resources.store import StoreResource
from sensors.alerts import alert_sensor
from sensors.schedules import nightly_requests

pytestmark = pytest.mark.slow


class Receiver:
    """A Slack-compatible incoming-webhook endpoint on a free loopback port."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def texts(self, about: str) -> list[str]:
        """The alerts that mention ``about`` (the customer sync's own findings aside)."""
        return [t for t in (json.dumps(body) for body in self.bodies) if about in t]


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    started = Receiver()
    monkeypatch.setenv("SYNC_ALERT_WEBHOOK_URL", started.url)
    yield started
    started.server.shutdown()
    started.server.server_close()


@pytest.fixture
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with running_platform(tmp_path_factory.mktemp("drift"), 12) as platform:
        platform.sync_customers()
        yield platform


def nightly_run(platform: Platform, request: RunRequest) -> ExecuteInProcessResult:
    """The run the nightly schedule requested, as the daemon would launch it."""
    with settled():
        return materialize(
            [*transaction_assets, *reconciliation_assets, *transaction_checks],
            selection=AssetSelection.assets(*(request.asset_selection or ()))
            | AssetSelection.checks(*(request.asset_check_keys or ())),
            partition_key=request.partition_key,
            tags=request.tags,
            resources=platform.resources,
            instance=platform.instance,
        )


def alert_tick(platform: Platform, cursor: str | None) -> str | None:
    resources = {"store": StoreResource(url=platform.store_url)}
    with build_sensor_context(
        instance=platform.instance, cursor=cursor, resources=resources
    ) as context:
        assert isinstance(alert_sensor(context), SkipReason)
        return context.cursor


def test_drift_is_found_by_the_nightly_run_and_alerted_once_per_breach(
    platform: Platform, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = platform.sandboxes["billing"]
    billing = stripe.StripeClient(
        sandbox.api_key, base_addresses={"api": sandbox.base_url}, max_network_retries=0
    )
    customer = customer_in_erp(platform, "na")
    edited = finalized_invoice(billing, customer, "usd", "txr_USCA")
    paid = finalized_invoice(billing, customer, "usd", "txr_USCA")
    before = {c.id for c in platform.billing.list_charges(customer=customer)}
    billing.v1.invoices.pay(paid.id)
    [charge] = [
        c.id for c in platform.billing.list_charges(customer=customer) if c.id not in before
    ]
    day = day_of(edited)
    partition = date_region_key(day.isoformat(), "na")
    with settled():  # the day's real-time runs posted everything
        assert platform.materialize(transaction_assets, partition)

    # After posting: a webhook lost (catch-up off, so nothing lands it), and the ERP changed
    # by hand.
    lost = finalized_invoice(billing, customer, "usd", "txr_USCA")
    na = company(platform, "na")
    out_of_band(
        platform,
        "invoice_amount",
        company=na,
        externalDocumentNumber=edited.id,
        totalAmountIncludingTax=edited.total + 500,
    )
    out_of_band(
        platform, "delete_payment", company=na, documentNumber=payment_document_number(charge)
    )

    # The nightly run of that day, at 02:00 the next morning, as the schedule asks for it.
    nightly_at = datetime.combine(day + timedelta(days=1), time(2), tzinfo=UTC)
    monkeypatch.setattr(transaction_checks_module, "utc_now", lambda: nightly_at)
    [request] = [r for r in nightly_requests(nightly_at) if r.partition_key == partition]
    result = nightly_run(platform, request)

    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    invoices = checks["every_finalized_invoice_posted_once"]
    offenders = {row["record"]: row for row in invoices.metadata["offender_rows"].value}
    assert not invoices.passed
    assert set(offenders) == {edited.id, lost.id}
    assert offenders[edited.id]["problem"] == "amount differs from billing"
    payments = checks["every_settled_payment_applied"]
    assert not payments.passed
    assert {row["record"] for row in payments.metadata["offender_rows"].value} == {charge}
    assert not checks["no_invoice_unposted_after_sla"].passed
    daily = next(
        e.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.materialization.asset_key.path == ["reconciliation", "daily"]
    )
    assert daily["drift_count"].value >= 3
    drift = checks["reconciliation_drift_free"]  # found by reconciliation/daily: alerted too
    assert not drift.passed and drift.metadata["offending"].value == daily["drift_count"].value
    assert any(edited.id in line for line in drift.metadata["offenders"].value)
    failed = sorted(name for name, e in checks.items() if not e.passed)
    assert "reconciliation_drift_free" in failed

    cursor = alert_tick(platform, None)
    alerts = receiver.texts(day.isoformat())
    assert len(alerts) == len(failed)
    for name in failed:
        [alert] = [t for t in alerts if name in t]
        assert "region na" in alert
    assert edited.id in next(t for t in alerts if "reconciliation_drift_free" in t)
    invoice_alert = next(t for t in alerts if "every_finalized_invoice_posted_once" in t)
    assert edited.id in invoice_alert and lost.id in invoice_alert
    assert charge in next(t for t in alerts if "every_settled_payment_applied" in t)

    # Next ticks, and the same breach evaluated again: no second alert.
    cursor = alert_tick(platform, cursor)
    nightly_run(platform, request)
    alert_tick(platform, cursor)
    assert receiver.texts(day.isoformat()) == alerts
