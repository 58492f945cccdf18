"""Issue 5's acceptance test: the real-time path under misbehaving webhooks.

``sync-platform up`` runs for real (gateway, sandboxes, ``dagster dev`` with its daemon)
with the billing sandbox dropping 20 %, duplicating 20 % and reordering 20 % of its webhooks.
Customers are synced to the ERP first; then 1,000 billing changes are made through the
Stripe-shaped API with the official ``stripe`` client, and nothing else is started by hand:
the inbox sensor turns landed webhooks into runs, the catch-up sensor lands from
``/v1/events`` what was dropped. Each API write that changes a document counts as one change:

- 270 invoices created, given a line and finalized (3 changes each, 810): each must end up
  posted in the ERP exactly once;
- 70 of them voided after finalization (70): 35 at once, 35 only once the ERP shows them
  posted; a void must not be in the ERP, or, if it was posted before the void, be flagged
  with a ``voided_after_posting`` exception;
- 40 drafts created, given a line and deleted (3 changes each, 120): never in the ERP.

The catch-up sensor runs every 10 s here (``SYNC_CATCH_UP_INTERVAL_SECONDS``) instead of 60.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
from dagster import materialize
from sqlalchemy import create_engine, select
from test_up import platform, port_is_free, stop, wait_for_location

from assets.checks.customers import customer_checks
from assets.customers import customer_assets
from resources.billing import BillingResource
from resources.crm import CrmResource
from resources.erp import ErpResource
from resources.store import StoreResource
from sandboxes.kit.server import DEFAULT_API_KEYS, free_port
from sync_platform.settings import REGIONS
from sync_platform.store import Store
from sync_platform.store.schema import inbox_events
from sync_platform.transactions.flow import billing_regions

pytestmark = pytest.mark.slow

FAULTS = {"webhook_drop": 0.2, "webhook_duplicate": 0.2, "webhook_reorder": 0.2}
CATCH_UP_SECONDS = 10
FINALIZED, VOIDED, DELETED_DRAFTS = 270, 70, 40
CHANGES = 3 * FINALIZED + VOIDED + 3 * DELETED_DRAFTS
SETTLE_DEADLINE_SECONDS = 360
# What each region's invoices are raised in: a currency it posts and a tax rate it maps.
REGION_TERMS = {"na": ("usd", "txr_USCA"), "emea": ("eur", "txr_DE19"), "apac": ("aud", "txr_AU10")}
SENSOR_QUERY = """
query ($name: String!) { sensorOrError(sensorSelector: {
    repositoryLocationName: "sync_platform", repositoryName: "__repository__", sensorName: $name
}) { __typename ... on Sensor { sensorState { status
    typeSpecificData { ... on SensorData { lastCursor } } } } } }
"""
RUNS_QUERY = """
query ($statuses: [RunStatus!]) { runsOrError(limit: 200, filter: {statuses: $statuses}) {
    ... on Runs { results { runId status tags { key value } } } } }
"""
UNFINISHED = ["QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING"]


@dataclass
class Changes:
    """What the test did in billing, by outcome the ERP must show."""

    live: dict[str, str] = field(default_factory=dict)  # invoice id -> region
    voided: dict[str, str] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    void_once_posted: list[str] = field(default_factory=list)
    writes: int = 0


@dataclass
class Running:
    ports: dict[str, int]
    store: Store
    resources: dict[str, Any]

    def url(self, kind: str) -> str:
        return f"http://127.0.0.1:{self.ports[kind]}"

    @property
    def erp(self) -> ErpResource:
        return self.resources["erp"]

    @property
    def billing(self) -> BillingResource:
        return self.resources["billing"]


# -- the platform ------------------------------------------------------------------------------
def graphql(port: int, query: str, **variables: Any) -> Any:
    response = httpx.post(
        f"http://127.0.0.1:{port}/graphql",
        json={"query": query, "variables": variables},
        timeout=10,
    )
    return response.json()["data"]


def wait_for_catch_up_cursor(port: int) -> None:
    """The catch-up sensor starts reading from its first tick: changes made before it would
    only ever come by webhook, so the test waits for its cursor."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        sensor = graphql(port, SENSOR_QUERY, name="catch_up_sensor")["sensorOrError"]
        state = sensor.get("sensorState") or {}
        if state.get("status") == "RUNNING" and (state.get("typeSpecificData") or {}).get(
            "lastCursor"
        ):
            return
        time.sleep(1)
    pytest.fail(f"the catch-up sensor set no cursor in 120 s: {sensor}")


def sync_customers(running: Running) -> None:
    """The customer assets of every region, in this process, against the running platform."""
    for region in REGIONS:
        result = materialize(
            [*customer_assets, *customer_checks],
            partition_key=region,
            resources=running.resources,
        )
        assert result.success, region


def customers_in_erp(running: Running) -> dict[str, list[str]]:
    """Region -> billing customers the ERP holds, in a stable order."""
    regions = billing_regions(running.store)
    out: dict[str, list[str]] = {}
    for region in REGIONS:
        company = running.erp.company_for_region(region).id
        numbers = {c.number for c in running.erp.list_customers(company)}
        out[region] = sorted(
            x.billing_customer_id
            for x in running.store.xrefs(region)
            if x.billing_customer_id
            and x.erp_customer_number in numbers
            and regions.get(x.billing_customer_id) == region
        )
        assert out[region], f"the world has no ERP customer in {region}"
    return out


# -- the changes -------------------------------------------------------------------------------
def make_changes(client: stripe.StripeClient, customers: dict[str, list[str]]) -> Changes:
    prices = {
        currency: client.v1.prices.list(params={"lookup_keys": [f"team_{currency}"]}).data[0].id
        for currency, _ in REGION_TERMS.values()
    }
    changes = Changes()
    slots = [(region, c) for region in REGIONS for c in customers[region]]

    def draft(n: int) -> tuple[str, str]:
        region, customer = slots[n % len(slots)]
        currency, tax_rate = REGION_TERMS[region]
        invoice = client.v1.invoices.create(
            params={"customer": customer, "currency": currency, "default_tax_rates": [tax_rate]}
        )
        client.v1.invoice_items.create(
            params={"customer": customer, "invoice": invoice.id, "price": prices[currency]}
        )
        changes.writes += 2
        return invoice.id, region

    for n in range(FINALIZED):
        invoice_id, region = draft(n)
        client.v1.invoices.finalize_invoice(invoice_id)
        changes.writes += 1
        if n % 3 == 1 and len(changes.voided) < VOIDED:
            changes.voided[invoice_id] = region
            if n % 6 == 1:
                client.v1.invoices.void_invoice(invoice_id)
                changes.writes += 1
            else:
                changes.void_once_posted.append(invoice_id)
        else:
            changes.live[invoice_id] = region
        if n % 6 == 3 and len(changes.deleted) < DELETED_DRAFTS:
            gone, _ = draft(n + 1)
            client.v1.invoices.delete(gone)
            changes.writes += 1
            changes.deleted.add(gone)
    assert (len(changes.live) + len(changes.voided), len(changes.voided)) == (FINALIZED, VOIDED)
    assert len(changes.deleted) == DELETED_DRAFTS
    return changes


def void_once_posted(client: stripe.StripeClient, running: Running, changes: Changes) -> int:
    """Void the invoices kept for it once the ERP shows every one of them posted; else
    return how many were never posted."""
    waiting = {i: changes.voided[i] for i in changes.void_once_posted}
    deadline = time.monotonic() + SETTLE_DEADLINE_SECONDS
    unposted = len(waiting)
    while unposted and time.monotonic() < deadline:
        time.sleep(2)
        posted = posted_erp_invoices(running, waiting)
        unposted = len(waiting) - sum(i.status != "Draft" for i in posted.values())
    if unposted:
        return unposted
    for invoice_id in waiting:
        client.v1.invoices.void_invoice(invoice_id)
        changes.writes += 1
    return 0


# -- what the ERP and the store show -----------------------------------------------------------
def erp_invoices(running: Running) -> Counter[str]:
    """External document number -> how many ERP sales invoices carry it (all regions)."""
    found: Counter[str] = Counter()
    for region in REGIONS:
        company = running.erp.company_for_region(region).id
        for invoice in running.erp.list_sales_invoices(company):
            if invoice.externalDocumentNumber:
                found[invoice.externalDocumentNumber] += 1
    return found


def posted_erp_invoices(running: Running, ids: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for region in REGIONS:
        company = running.erp.company_for_region(region).id
        mine = [i for i, r in ids.items() if r == region]
        out.update(running.erp.find_sales_invoices(company, mine))
    return out


def flagged_voids(running: Running) -> set[str]:
    return {
        e.txn_id.rsplit(":", 1)[1]
        for e in running.store.exceptions(status="open")
        if e.reason_code == "voided_after_posting"
    }


def shortfall(running: Running, changes: Changes) -> list[str]:
    """What still differs from the final state; empty once the ERP matches billing."""
    problems: list[str] = []
    in_erp = erp_invoices(running)
    missing = [i for i in changes.live if in_erp[i] == 0]
    if missing:
        problems.append(f"{len(missing)} finalized invoices not in the ERP, e.g. {missing[:3]}")
    flagged = flagged_voids(running)
    unflagged = [i for i in changes.voided if in_erp[i] and i not in flagged]
    if unflagged:
        problems.append(f"{len(unflagged)} voided invoices in the ERP unflagged: {unflagged[:3]}")
    if not problems:
        posted = posted_erp_invoices(running, changes.live)
        drafts = [i for i in changes.live if posted[i].status == "Draft"]
        if drafts:
            problems.append(f"{len(drafts)} invoices are ERP drafts, not posted: {drafts[:3]}")
    return problems


def billing_events_since(running: Running, start: datetime) -> list[str]:
    until = datetime.now(UTC) + timedelta(seconds=1)
    return [e.id for e in running.billing.list_events(created_gte=start, created_lt=until)]


def inbox_statuses(running: Running, event_ids: list[str]) -> Counter[str]:
    """Inbox status -> how many of ``event_ids`` (billing) have it; absent ones as 'absent'."""
    table = inbox_events
    found: dict[str, str] = {}
    engine = create_engine(running.resources["store"].url)
    with engine.connect() as conn:
        for start in range(0, len(event_ids), 500):
            chunk = event_ids[start : start + 500]
            rows = conn.execute(
                select(table.c.event_id, table.c.status).where(
                    table.c.source == "billing", table.c.event_id.in_(chunk)
                )
            )
            found.update({event_id: status for event_id, status in rows})
    engine.dispose()
    return Counter(found.get(event_id, "absent") for event_id in event_ids)


def dagster_runs(port: int, statuses: list[str] | None = None) -> list[dict[str, Any]]:
    return list(graphql(port, RUNS_QUERY, statuses=statuses)["runsOrError"]["results"])


def wait_for_runs_to_finish(port: int) -> None:
    """Runs requested for trailing events (a late duplicate) may still be going; a Ctrl-C
    would fail them, so the test lets them end first."""
    deadline = time.monotonic() + 120
    while dagster_runs(port, UNFINISHED) and time.monotonic() < deadline:
        time.sleep(2)


def diagnostics(running: Running, dagster_port: int, log: Path) -> str:
    lines = [f"inbox: {running.store.inbox_counts()}"]
    reasons = Counter(e.reason_code for e in running.store.exceptions(status="open"))
    lines.append(f"open exceptions by reason: {dict(reasons)}")
    try:
        health = httpx.get(f"{running.url('billing')}/_sandbox/health", timeout=5).json()
        lines.append(f"billing webhooks: {health.get('webhooks')}")
        runs = dagster_runs(dagster_port)
        lines.append(f"runs: {Counter(r['status'] for r in runs)}")
        for run in runs[:15]:
            key = next((t["value"] for t in run["tags"] if t["key"] == "sync/inbox_run_key"), "")
            lines.append(f"  {run['runId'][:8]} {run['status']:10} {key}")
    except (httpx.HTTPError, KeyError, TypeError, ValueError) as exc:
        lines.append(f"(Dagster or the billing sandbox did not answer: {exc})")
    tail = log.read_text(errors="replace")[-4000:]
    return "\n".join([*lines, "platform log (tail):", tail])


# -- the test ----------------------------------------------------------------------------------
@pytest.fixture
def ports() -> dict[str, int]:
    return {name: free_port() for name in ("billing", "crm", "erp", "gateway", "dagster")}


@pytest.fixture
def running(tmp_path: Path, ports: dict[str, int]) -> Iterator[Running]:
    home = tmp_path / "home"
    store_url = f"sqlite:///{home / 'store.sqlite3'}"
    resources: dict[str, Any] = {
        "billing": BillingResource(
            base_url=f"http://127.0.0.1:{ports['billing']}", api_key=DEFAULT_API_KEYS["billing"]
        ),
        "crm": CrmResource(
            base_url=f"http://127.0.0.1:{ports['crm']}", access_token=DEFAULT_API_KEYS["crm"]
        ),
        "erp": ErpResource(
            base_url=f"http://127.0.0.1:{ports['erp']}", access_token=DEFAULT_API_KEYS["erp"]
        ),
        "store": StoreResource(url=store_url),
    }
    try:
        yield Running(ports, resources["store"].store, resources)
    finally:
        resources["store"].store.close()


def test_a_thousand_billing_changes_reach_the_erp_once_each_through_faulty_webhooks(
    tmp_path: Path, ports: dict[str, int], running: Running
) -> None:
    log = tmp_path / "up.log"
    faults = ",".join(f"{name}={share}" for name, share in FAULTS.items())
    env = {"SYNC_CATCH_UP_INTERVAL_SECONDS": str(CATCH_UP_SECONDS), "SYNC_STORE_URL": ""}
    began = time.monotonic()
    with platform(tmp_path / "home", ports, log, f"--faults={faults}", env=env) as proc:
        wait_for_location(ports["dagster"], proc, log)
        # --faults reached the billing sandbox, and only the webhook faults are set.
        set_faults = httpx.get(
            f"{running.url('billing')}/_sandbox/faults",
            headers={"Authorization": f"Bearer {DEFAULT_API_KEYS['billing']}"},
        ).json()
        assert set_faults == {**FAULTS, "rate_limit": 0.0, "server_error": 0.0, "latency_ms": 0}

        sync_customers(running)
        customers = customers_in_erp(running)
        wait_for_catch_up_cursor(ports["dagster"])
        started = time.monotonic()
        since = datetime.now(UTC) - timedelta(seconds=1)
        client = stripe.StripeClient(
            DEFAULT_API_KEYS["billing"],
            base_addresses={"api": running.url("billing")},
            max_network_retries=0,
        )
        changes = make_changes(client, customers)
        first_writes = time.monotonic()
        if unposted := void_once_posted(client, running, changes):
            pytest.fail(
                f"{unposted} invoices to void were not posted in {SETTLE_DEADLINE_SECONDS} s\n"
                + diagnostics(running, ports["dagster"], log)
            )
        assert changes.writes == CHANGES == 1000
        written = time.monotonic()

        deadline = written + SETTLE_DEADLINE_SECONDS
        problems = shortfall(running, changes)
        while problems and time.monotonic() < deadline:
            time.sleep(5)
            problems = shortfall(running, changes)
        settled = time.monotonic()
        if problems:
            pytest.fail(
                f"not settled {SETTLE_DEADLINE_SECONDS} s after the last write: {problems}\n"
                + diagnostics(running, ports["dagster"], log)
            )

        in_erp = erp_invoices(running)
        duplicated = {number: n for number, n in in_erp.items() if n > 1}
        assert not duplicated, f"ERP invoices posted more than once: {duplicated}"
        assert all(in_erp[i] == 0 for i in changes.deleted), "a deleted draft reached the ERP"
        flagged = flagged_voids(running)
        assert flagged <= set(changes.voided), f"live invoices flagged as void: {flagged}"
        assert set(changes.void_once_posted) <= flagged

        # The webhooks did misbehave, and every billing event still landed in the inbox once
        # (a dropped one only through catch-up) and was taken by a run or ignored with a reason.
        stats = httpx.get(f"{running.url('billing')}/_sandbox/health").json()["webhooks"]
        assert stats["dropped"] > 0 and stats["duplicated"] > 0 and stats["reordered"] > 0, stats
        events = billing_events_since(running, since)
        assert len(events) >= CHANGES
        statuses = inbox_statuses(running, events)
        while statuses["pending"] and time.monotonic() < deadline:
            time.sleep(2)
            statuses = inbox_statuses(running, events)
        assert set(statuses) <= {"processed", "ignored"}, (
            f"{statuses}\n{diagnostics(running, ports['dagster'], log)}"
        )
        wait_for_runs_to_finish(ports["dagster"])
        runs = Counter(run["status"] for run in dagster_runs(ports["dagster"]))
        assert set(runs) == {"SUCCESS"}, f"{runs}\n{diagnostics(running, ports['dagster'], log)}"
        print(
            f"\nup and customers synced in {started - began:.0f} s; {CHANGES - VOIDED // 2} "
            f"changes written in {first_writes - started:.0f} s, the last {VOIDED // 2} voids "
            f"{written - first_writes:.0f} s later once posted; ERP settled "
            f"{settled - written:.0f} s after that; {len(events)} billing events "
            f"{dict(statuses)}; webhooks {stats}; voids flagged after posting: {len(flagged)}; "
            f"{runs['SUCCESS']} Dagster runs"
        )
        assert stop(proc, log) == 0
    for name, port in ports.items():
        assert port_is_free(port), f"{name} still listening on {port} after Ctrl-C"
