"""End-to-end latency from a billing webhook to the posted ERP invoice, at a steady rate.

Starts ``sync-platform up`` in a subprocess (a temporary ``--home``, free ports, a small world
of seed 42, no faults), brings the seeded customers into the ERP in-process (the customer
assets materialized against the running sandboxes and the home's store), then for
``--seconds`` makes ``--rate`` billing changes a second through the official ``stripe`` SDK:
each change creates and finalizes an invoice for a customer the ERP holds, in its currency
and at its tax rate. Its clock starts when the finalize call returns (billing has sent
``invoice.finalized`` to the gateway by then) and stops when its sales invoice is first seen
posted in the ERP, which is polled in bulk (``ErpResource.find_sales_invoices``) every
``--poll`` seconds. What has not arrived ``--grace`` seconds after the load ends is counted
with the reason the store and the run give.

The runs the inbox sensor requested are then read back from the Dagster instance to split
each latency into stages: webhook → inbox (gateway), inbox → run requested (sensor tick),
requested → launched (run queue), launched → run started (run worker start-up), run started →
posting step started (the steps before it, each in a step worker process of its own), posting
step started → seen posted (the posting, plus up to one poll). Ctrl-C (SIGINT) stops the platform.

    python benchmarks/realtime_latency.py [--seconds 120] [--rate 5] [--grace 60]
        [--customers 40] [--poll 0.5] [--home DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import stripe
from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    RunRecord,
    RunsFilter,
    materialize,
)
from sqlalchemy import select

from assets.checks.customers import customer_checks
from assets.customers import customer_assets
from resources.billing import BillingResource
from resources.crm import CrmResource
from resources.erp import ErpResource
from resources.store import StoreResource
from sandboxes.kit.server import DEFAULT_API_KEYS, free_port
from sandboxes.kit.world import build_world
from sensors.inbox import inbox_sensor
from sync_platform.inbox_routing import INBOX_RUN_TAG
from sync_platform.settings import REGIONS
from sync_platform.store import Store
from sync_platform.store.schema import inbox_events
from sync_platform.transactions.mappings import PostingConfig

HOST = "127.0.0.1"
SEED = 42  # config/posting.yaml maps the products of seed 42's catalogue
SENDERS = 4  # concurrent billing clients, so one slow call does not break the pace
START_TIMEOUT_SECONDS = 240
STOP_TIMEOUT_SECONDS = 90
QUEUE_SAMPLE_SECONDS = 2.0
POSTING_STEP = "erp__invoice_postings"
STEP_MOMENTS = (
    DagsterEventType.STEP_WORKER_STARTING,
    DagsterEventType.STEP_WORKER_STARTED,
    DagsterEventType.STEP_START,
    DagsterEventType.STEP_SUCCESS,
)
TICK_ID_TAG = "dagster/tick"  # on every run a sensor tick requested
QUIET_DAGSTER = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
LOCATION_QUERY = """
{ workspaceOrError { ... on Workspace { locationEntries { loadStatus } } } }
"""


@dataclass(frozen=True)
class Payer:
    """A billing customer the ERP holds, with what its invoices are written in."""

    billing_id: str
    region: str
    currency: str  # lower case, as Stripe writes it
    tax_rate: str


@dataclass
class Change:
    invoice_id: str
    region: str
    sent_at: float  # Unix seconds: the finalize call returned
    seen_at: float | None = None  # Unix seconds: first seen posted in the ERP

    @property
    def latency(self) -> float | None:
        return None if self.seen_at is None else self.seen_at - self.sent_at


@dataclass
class Load:
    changes: list[Change] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    call_seconds: list[float] = field(default_factory=list)  # create, add a line, finalize


# -- the platform ---------------------------------------------------------------------------------
@contextlib.contextmanager
def platform_up(home: Path, customers: int, ports: dict[str, int]) -> Iterator[Path]:
    """``sync-platform up`` in its own session; stopped with SIGINT (as Ctrl-C) on the way out.
    Yields the log file its output goes to."""
    home.mkdir(parents=True, exist_ok=True)
    log = home / "up.log"
    command = [
        *[sys.executable, "-m", "sync_platform.cli", "up", "--home", str(home)],
        *["--seed", str(SEED), "--customers", str(customers)],
        *["--dagster-port", str(ports["dagster"]), "--gateway-port", str(ports["gateway"])],
        *[f"--{kind}-port={ports[kind]}" for kind in ("billing", "crm", "erp")],
    ]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_for_location(ports["dagster"], proc, log)
        yield log
    finally:
        stop(proc, log)


def wait_for_location(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"sync-platform up exited ({proc.returncode}):\n{log.read_text()}")
        try:
            response = httpx.post(
                f"http://{HOST}:{port}/graphql", json={"query": LOCATION_QUERY}, timeout=5
            )
            entries = response.json()["data"]["workspaceOrError"]["locationEntries"]
            if entries and entries[0]["loadStatus"] == "LOADED":
                return
        except (httpx.HTTPError, KeyError, TypeError, ValueError):
            pass
        time.sleep(1)
    raise SystemExit(f"the code location did not load in {START_TIMEOUT_SECONDS} s; see {log}")


def stop(proc: subprocess.Popen[bytes], log: Path) -> None:
    if proc.poll() is not None:
        print(f"platform had already stopped (exit {proc.returncode}); see {log}", flush=True)
        return
    began = time.monotonic()
    os.kill(proc.pid, signal.SIGINT)
    try:
        code = proc.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        print(f"platform ignored SIGINT for {STOP_TIMEOUT_SECONDS} s: killed", flush=True)
        return
    print(f"platform stopped on SIGINT (exit {code}) in {time.monotonic() - began:.1f} s")


def resources_for(ports: dict[str, int], store_url: str) -> dict[str, object]:
    base = {kind: f"http://{HOST}:{ports[kind]}" for kind in ("billing", "crm", "erp")}
    return {
        "billing": BillingResource(base_url=base["billing"], api_key=DEFAULT_API_KEYS["billing"]),
        "crm": CrmResource(base_url=base["crm"], access_token=DEFAULT_API_KEYS["crm"]),
        "erp": ErpResource(base_url=base["erp"], access_token=DEFAULT_API_KEYS["erp"]),
        "store": StoreResource(url=store_url),
    }


def sync_customers(resources: dict[str, object]) -> None:
    # Disposed here, in this thread: an in-memory instance left to the garbage collector is
    # closed by whichever thread collects it, which SQLite refuses (noisy tracebacks).
    with DagsterInstance.ephemeral() as instance:
        for region in REGIONS:
            result = materialize(
                [*customer_assets, *customer_checks],
                partition_key=region,
                resources=resources,
                instance=instance,
                run_config=QUIET_DAGSTER,
            )
            if not result.success:
                raise SystemExit(f"the customer sync of {region} failed")


def payers(store: Store, erp: ErpResource, customers: int) -> list[Payer]:
    """Billing customers the ERP holds, whose currency and tax rate the posting config maps,
    interleaved by region so a steady stream touches all three."""
    world = {c.billing_customer_id: c for c in build_world(SEED, customers).companies}
    posting = PostingConfig.load()
    in_erp = {
        region: {c.number for c in erp.list_customers(erp.company_for_region(region).id)}
        for region in REGIONS
    }
    by_region: dict[str, list[Payer]] = {region: [] for region in REGIONS}
    for xref in store.xrefs():
        company = world.get(xref.billing_customer_id or "")
        if company is None or xref.erp_customer_number not in in_erp[xref.region]:
            continue
        tax_rate = company.tax_rate.billing_id
        if company.currency not in posting.region(xref.region).currencies:
            continue
        if posting.tax_group(tax_rate, xref.region) is None:
            continue
        by_region[xref.region].append(
            Payer(company.billing_customer_id, xref.region, company.currency.lower(), tax_rate)
        )
    ordered = [sorted(p, key=lambda p: p.billing_id) for p in by_region.values()]
    longest = max(len(p) for p in ordered)
    return [group[i] for i in range(longest) for group in ordered if i < len(group)]


# -- the load -------------------------------------------------------------------------------------
def stripe_client(billing_url: str) -> stripe.StripeClient:
    return stripe.StripeClient(
        DEFAULT_API_KEYS["billing"], base_addresses={"api": billing_url}, max_network_retries=0
    )


def team_prices(client: stripe.StripeClient, currencies: set[str]) -> dict[str, str]:
    return {
        currency: client.v1.prices.list(params={"lookup_keys": [f"team_{currency}"]}).data[0].id
        for currency in currencies
    }


def send_load(billing_url: str, who: list[Payer], rate: float, seconds: float, load: Load) -> None:
    """``rate`` invoices a second for ``seconds``, each created and finalized, on a fixed
    schedule (a late change does not delay the next); each lands in ``load`` as it is sent."""
    prices = team_prices(stripe_client(billing_url), {p.currency for p in who})
    clients = threading.local()

    def change(i: int) -> None:
        payer = who[i % len(who)]
        if not hasattr(clients, "stripe"):
            clients.stripe = stripe_client(billing_url)
        billing: stripe.StripeClient = clients.stripe
        began = time.perf_counter()
        try:
            draft = billing.v1.invoices.create(
                params={
                    "customer": payer.billing_id,
                    "currency": payer.currency,
                    "default_tax_rates": [payer.tax_rate],
                }
            )
            billing.v1.invoice_items.create(
                params={
                    "customer": payer.billing_id,
                    "invoice": draft.id,
                    "pricing": {"price": prices[payer.currency]},
                }
            )
            billing.v1.invoices.finalize_invoice(draft.id)
            load.changes.append(Change(draft.id, payer.region, time.time()))
            load.call_seconds.append(time.perf_counter() - began)
        except stripe.StripeError as exc:
            load.errors.append(f"{payer.billing_id}: {exc}")

    total = round(rate * seconds)
    began = time.monotonic()
    with ThreadPoolExecutor(SENDERS) as senders:
        for i in range(total):
            time.sleep(max(0.0, began + i / rate - time.monotonic()))
            senders.submit(change, i)
    load.seconds = time.monotonic() - began


@dataclass
class Watch:
    deepest_queue: int = 0  # runs waiting in the run queue, at most
    widest_poll: int = 0  # ERP requests one poll made, at most
    load_averages: list[float] = field(default_factory=list)  # 1-minute, while watching


def watch_erp(
    erp: ErpResource,
    load: Load,
    sender: threading.Thread,
    instance: DagsterInstance,
    poll: float,
    grace: float,
) -> Watch:
    """Poll the ERP until every change is seen posted, or ``grace`` seconds after the load
    ends; sample the run queue and the machine's load meanwhile."""
    companies = {region: erp.company_for_region(region).id for region in REGIONS}
    seen: set[str] = set()
    watch = Watch()
    next_sample = 0.0
    load_ended: float | None = None
    while True:
        began = time.monotonic()
        outstanding = [c for c in list(load.changes) if c.invoice_id not in seen]
        if load_ended is None and not sender.is_alive():
            load_ended = began
        if load_ended is not None and (not outstanding or began - load_ended > grace):
            return watch
        requests = 0
        for region, company in companies.items():
            ids = [c.invoice_id for c in outstanding if c.region == region]
            if not ids:
                continue
            requests += 1 + sum(len(i) + 40 for i in ids) // 1_900
            found = erp.find_sales_invoices(company, ids)
            now = time.time()
            for change in outstanding:
                doc = found.get(change.invoice_id)
                if doc is not None and doc.status not in (None, "Draft"):
                    change.seen_at = now
                    seen.add(change.invoice_id)
        watch.widest_poll = max(watch.widest_poll, requests)
        if began >= next_sample:
            queued = instance.get_runs_count(RunsFilter(statuses=[DagsterRunStatus.QUEUED]))
            watch.deepest_queue = max(watch.deepest_queue, queued)
            watch.load_averages.append(os.getloadavg()[0])
            next_sample = began + QUEUE_SAMPLE_SECONDS
        time.sleep(max(0.0, began + poll - time.monotonic()))


# -- what happened --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Landing:
    """The invoice's ``invoice.finalized`` event in the inbox."""

    received_at: float
    status: str
    run_key: str | None
    reason: str | None


@dataclass(frozen=True)
class RunTimes:
    run_id: str
    tick: str  # the sensor tick that requested it
    status: DagsterRunStatus
    created: float
    launched: float | None
    started: float | None
    posting_started: float | None
    ended: float | None
    worker_start_up: float | None  # the run's step workers, from starting to started, summed
    step_work: float | None  # its steps, from start to success, summed


def landings(store: Store, invoice_ids: Sequence[str]) -> dict[str, Landing]:
    out: dict[str, Landing] = {}
    e = inbox_events
    with store.engine.connect() as conn:
        for start in range(0, len(invoice_ids), 500):
            rows = conn.execute(
                select(e.c.object_id, e.c.received_at, e.c.status, e.c.run_key, e.c.reason)
                .where(e.c.source == "billing", e.c.event_type == "invoice.finalized")
                .where(e.c.object_id.in_(invoice_ids[start : start + 500]))
            )
            for object_id, received_at, status, run_key, reason in rows:
                out[object_id] = Landing(_unix(received_at), status, run_key, reason)
    return out


def inbox_runs(instance: DagsterInstance, since: float) -> dict[str, RunTimes]:
    """Run key → times of the runs the inbox sensor requested after ``since``."""
    out: dict[str, RunTimes] = {}
    for record in instance.get_run_records():
        key = record.dagster_run.tags.get(INBOX_RUN_TAG)
        if key is None or _unix(record.create_timestamp) < since:
            continue
        out[key] = _times(instance, record)
    return out


def _times(instance: DagsterInstance, record: RunRecord) -> RunTimes:
    run_id = record.dagster_run.run_id
    launched = instance.all_logs(run_id, of_type=DagsterEventType.RUN_STARTING)
    step_events = instance.all_logs(run_id, of_type=set(STEP_MOMENTS))
    at = {(e.step_key, e.dagster_event_type): e.timestamp for e in step_events}
    posting = at.get((POSTING_STEP, DagsterEventType.STEP_START))
    finished = record.dagster_run.status is DagsterRunStatus.SUCCESS
    return RunTimes(
        run_id,
        record.dagster_run.tags.get(TICK_ID_TAG, run_id),
        record.dagster_run.status,
        _unix(record.create_timestamp),
        launched[0].timestamp if launched else None,
        record.start_time,
        posting,
        record.end_time,
        _between(at, DagsterEventType.STEP_WORKER_STARTING, DagsterEventType.STEP_WORKER_STARTED)
        if finished
        else None,
        _between(at, DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS)
        if finished
        else None,
    )


def _between(
    at: dict[tuple[str | None, DagsterEventType | None], float],
    first: DagsterEventType,
    then: DagsterEventType,
) -> float:
    """Summed over the run's steps: from each step's ``first`` event to its ``then``."""
    return sum(
        at[(step, then)] - moment
        for (step, kind), moment in at.items()
        if kind is first and (step, then) in at
    )


def why_missing(store: Store, change: Change, landing: Landing | None, run: RunTimes | None) -> str:
    if landing is None:
        return "invoice.finalized not in the inbox"
    if landing.status == "ignored":
        return f"inbox event ignored: {landing.reason}"
    if landing.run_key is None:
        return "in the inbox, not yet scheduled by the sensor"
    if run is None:
        return "scheduled, run not yet created"
    if run.status is not DagsterRunStatus.SUCCESS:
        return f"run {run.status.value.lower()}"
    txn = store.transaction(f"billing:invoice:{change.invoice_id}")
    if txn is None:
        return "run succeeded, invoice not received as a transaction"
    found = store.exceptions(txn_ids=[txn.txn_id])
    reason = f" ({found[0].reason_code})" if found else ""
    return f"run succeeded, transaction {txn.stage}{reason}"


def percentile(values: Sequence[float], p: int) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[p - 1]


def spread(values: Sequence[float], unit: str = "s") -> str:
    if not values:
        return "n/a"
    scale = 1000 if unit == "ms" else 1
    p50, p95 = (percentile(values, p) * scale for p in (50, 95))
    return f"p50 {p50:5.1f} {unit}  p95 {p95:5.1f} {unit}"


def _unix(moment: datetime | float) -> float:
    return moment.timestamp() if isinstance(moment, datetime) else float(moment)


def report(
    load: Load,
    store: Store,
    instance: DagsterInstance,
    since: float,
    grace: float,
    watch: Watch,
) -> None:
    changes = load.changes
    arrived = [c for c in changes if c.latency is not None]
    latencies = [c.latency for c in arrived if c.latency is not None]
    print(
        f"load: {len(changes)} invoices finalized over {load.seconds:.1f} s, "
        f"{len(load.errors)} send errors; create + line + finalize "
        f"{spread(load.call_seconds, 'ms')}",
        *load.errors[:5],
        sep="\n  ",
    )
    if latencies:
        print(
            f"webhook -> ERP posted: {len(latencies)} arrived  "
            f"p50 {percentile(latencies, 50):.1f} s  p95 {percentile(latencies, 95):.1f} s  "
            f"max {max(latencies):.1f} s"
        )
    found = landings(store, [c.invoice_id for c in changes])
    runs = inbox_runs(instance, since)
    missing = [c for c in changes if c.latency is None]
    reasons = Counter(
        why_missing(store, c, found.get(c.invoice_id), runs.get(_key(found, c))) for c in missing
    )
    print(f"not posted within {grace:.0f} s after the load: {len(missing)}")
    for reason, count in reasons.most_common():
        print(f"  {count:5}  {reason}")

    stages: dict[str, list[float]] = {
        "webhook -> inbox (gateway)": [],
        "inbox -> run requested (sensor)": [],
        "requested -> launched (run queue)": [],
        "launched -> run started (run worker)": [],
        "run started -> posting step (steps)": [],
        "posting step -> seen posted": [],
    }
    for change in arrived:
        landing = found.get(change.invoice_id)
        run = runs.get(_key(found, change))
        if landing is None or run is None or change.seen_at is None:
            continue
        points = [
            change.sent_at,
            landing.received_at,
            run.created,
            run.launched,
            run.started,
            run.posting_started,
        ]
        if any(p is None for p in points):
            continue
        for name, a, b in zip(stages, points, [*points[1:], change.seen_at], strict=True):
            assert a is not None and b is not None
            stages[name].append(b - a)
    print("stages of the arrived (each invoice through the first run that took it):")
    for name, values in stages.items():
        print(f"  {name:36} {spread(values)}")

    ours = sorted(runs.values(), key=lambda r: r.created)
    by_status = Counter(r.status.value for r in ours)
    durations = [r.ended - r.started for r in ours if r.ended and r.started]
    first_of_tick: dict[str, float] = {}
    for r in ours:
        first_of_tick.setdefault(r.tick, r.created)
    ticks = sorted(first_of_tick.values())
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    print(
        f"runs requested by inbox_sensor: {len(ours)} ({dict(by_status)}), "
        f"{len(ours) / max(1, len(ticks)):.1f} per tick, tick gap p50 "
        f"{percentile(gaps, 50) if gaps else float('nan'):.1f} s; run start -> end "
        f"{spread(durations)}; run queue up to {watch.deepest_queue} waiting"
    )
    print(
        "  per finished run, summed over its 3 steps: step worker process start-up "
        f"{spread([r.worker_start_up for r in ours if r.worker_start_up is not None])}, "
        f"step work {spread([r.step_work for r in ours if r.step_work is not None])}"
    )
    counts = store.inbox_counts()["billing"]
    print(f"inbox (billing): {counts}; open exceptions: {store.open_exception_counts() or 'none'}")
    averages = watch.load_averages or [0.0]
    print(
        f"ERP poll: up to {watch.widest_poll} requests a poll; machine: {os.cpu_count()} cores, "
        f"1-minute load average {statistics.mean(averages):.1f} mean, {max(averages):.1f} max"
    )


def _key(found: dict[str, Landing], change: Change) -> str:
    landing = found.get(change.invoice_id)
    return landing.run_key or "" if landing else ""


def context_line(instance: DagsterInstance) -> str:
    coordinator = instance.run_coordinator
    queue = (
        coordinator.get_run_queue_config() if hasattr(coordinator, "get_run_queue_config") else None
    )
    interval = getattr(coordinator, "dequeue_interval_seconds", "?")
    concurrency = queue.max_concurrent_runs if queue else "unlimited"
    return (
        f"inbox_sensor minimum interval {inbox_sensor.minimum_interval_seconds} s (the daemon's "
        f"sensor loop ticks at most every 5 s); run queue: {concurrency} runs at a time, "
        f"dequeued every {interval} s; each run starts as a subprocess (its steps run in it)"
    )


def report_leftovers(home: Path) -> None:
    """Processes still naming the home once the platform has stopped (Linux: /proc), such as
    run workers that outlived ``dagster dev``: how many, and how long they took to end."""
    if not Path("/proc").is_dir():
        return
    began = time.monotonic()
    first = left = platform_processes(home)
    while left and time.monotonic() - began < STOP_TIMEOUT_SECONDS:
        time.sleep(1)
        left = platform_processes(home)
    if first:
        print(
            f"{len(first)} processes of the platform outlived its stop; "
            + (f"{len(left)} still running" if left else "gone")
            + f" after {time.monotonic() - began:.0f} s"
        )


def platform_processes(home: Path) -> list[str]:
    marker = str(home).encode()
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if marker in (entry / "cmdline").read_bytes():
                found.append(entry.name)
    return found


# -- the benchmark --------------------------------------------------------------------------------
def run(args: argparse.Namespace, home: Path) -> None:
    ports = {name: free_port(HOST) for name in ("billing", "crm", "erp", "gateway", "dagster")}
    store_url = f"sqlite:///{home / 'store.sqlite3'}"
    dagster_home = home / "dagster_home"
    started = time.monotonic()
    with platform_up(home, args.customers, ports) as log:
        print(f"platform up in {time.monotonic() - started:.0f} s (log: {log})", flush=True)
        resources = resources_for(ports, store_url)
        sync_customers(resources)
        store = Store.open(store_url)
        erp = resources["erp"]
        assert isinstance(erp, ErpResource)
        who = payers(store, erp, args.customers)
        regions = Counter(p.region for p in who)
        print(
            f"world: {args.customers} companies (seed {SEED}), {len(who)} billable customers in "
            f"the ERP ({', '.join(f'{r} {regions[r]}' for r in REGIONS)})",
            flush=True,
        )
        with contextlib.closing(store), DagsterInstance.from_config(str(dagster_home)) as instance:
            print(context_line(instance), flush=True)
            since = time.time()
            load = Load()
            billing_url = f"http://{HOST}:{ports['billing']}"
            sender = threading.Thread(
                target=send_load, args=(billing_url, who, args.rate, args.seconds, load)
            )
            print(f"sending {args.rate}/s for {args.seconds:.0f} s ...", flush=True)
            sender.start()
            watch = watch_erp(erp, load, sender, instance, args.poll, args.grace)
            sender.join()
            report(load, store, instance, since, args.grace, watch)
    report_leftovers(home)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="how long the load lasts")
    parser.add_argument("--rate", type=float, default=5.0, help="billing changes a second")
    parser.add_argument(
        "--grace", type=float, default=60.0, help="seconds to wait after the load for stragglers"
    )
    parser.add_argument("--customers", type=int, default=40, help="companies in the seeded world")
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between ERP polls")
    parser.add_argument("--home", type=Path, help="platform home, kept (default: a temp folder)")
    args = parser.parse_args()
    if args.home:
        run(args, args.home.resolve())
        return
    with tempfile.TemporaryDirectory(prefix="realtime-latency-") as tmp:
        run(args, Path(tmp) / "home")


if __name__ == "__main__":
    main()
