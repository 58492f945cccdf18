"""Webhooks accepted per second at the gateway, beside a bare uvicorn endpoint that does nothing.

Each server runs under uvicorn as ``sync-platform gateway`` runs it (uvloop and httptools
when installed), in a process of its own on a free loopback port, so it does not share the
GIL with the senders. The same signed requests go to both from ``--workers`` client threads,
one keep-alive httpx connection each: Stripe-shaped events with distinct ids, one per
request, and then HubSpot v3 batches. The gateway checks every signature and commits every
event to the store's inbox (an SQLite file in WAL mode in a temporary folder, or
``--store-url``) before it answers; the bare endpoint, a one-route Starlette app, reads the
body and answers 200. Only 200 answers count; afterwards every event must be in the inbox
exactly once. Latency is per request as the sender sees it.

    python benchmarks/gateway_throughput.py [--events 5000] [--workers 8]
        [--crm-batch 100] [--store-url postgresql+psycopg2://...]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import uvicorn
from sqlalchemy import make_url
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandboxes.billing.objects import event as stripe_event
from sandboxes.billing.service import signer as stripe_signer
from sandboxes.crm.webhooks import v3_signature
from sandboxes.kit.server import DEFAULT_WEBHOOK_SECRETS, free_port
from sync_platform.gateway.app import create_gateway
from sync_platform.gateway.settings import GatewaySettings
from sync_platform.store import Store

HOST = "127.0.0.1"
BILLING_SECRET = DEFAULT_WEBHOOK_SECRETS["billing"]
CRM_SECRET = DEFAULT_WEBHOOK_SECRETS["crm"]
WARMUP_REQUESTS = 100
START_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    event_ids: tuple[str, ...]


@dataclass(frozen=True)
class Run:
    accepted: int
    seconds: float
    latencies: list[float]

    @property
    def per_second(self) -> float:
        return self.accepted / self.seconds

    def percentile(self, p: int) -> float:
        return statistics.quantiles(self.latencies, n=100)[p - 1] * 1000


# -- what is sent ---------------------------------------------------------------------------------
def billing_deliveries(run_id: str, count: int) -> list[Delivery]:
    sign = stripe_signer(BILLING_SECRET)
    out = []
    for i in range(count):
        event_id = f"evt_{run_id}_{i:07d}"
        invoice = {
            "id": f"in_{run_id}_{i:07d}",
            "object": "invoice",
            "customer": f"cus_bench{i % 500:04d}",
            "currency": "usd",
            "amount_due": 19_900 + i % 7 * 100,
            "status": "open",
        }
        doc = stripe_event(
            event_id,
            int(time.time()),
            "invoice.finalized",
            invoice,
            previous_attributes=None,
            request_id=None,
            idempotency_key=None,
            pending_webhooks=1,
        )
        body = json.dumps(doc, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", **sign("", body)}
        out.append(Delivery("/webhooks/billing", headers, body, (event_id,)))
    return out


def crm_deliveries(base_url: str, first_id: int, events: int, batch: int) -> list[Delivery]:
    """HubSpot signs the URL it posts to, so each server gets its own signatures."""
    url = f"{base_url}/webhooks/crm"
    now_ms = time.time_ns() // 1_000_000
    out = []
    for start in range(0, events, batch):
        ids = range(first_id + start, first_id + min(start + batch, events))
        doc = [
            {
                "eventId": event_id,
                "subscriptionId": 1,
                "portalId": 1,
                "appId": 1,
                "occurredAt": now_ms,
                "subscriptionType": "company.propertyChange",
                "attemptNumber": 0,
                "objectId": 10_000 + event_id % 5_000,
                "changeSource": "CRM_UI",
                "propertyName": "name",
                "propertyValue": f"Company {event_id}",
            }
            for event_id in ids
        ]
        body = json.dumps(doc, separators=(",", ":")).encode()
        timestamp = str(time.time_ns() // 1_000_000)
        headers = {
            "Content-Type": "application/json",
            "X-HubSpot-Request-Timestamp": timestamp,
            "X-HubSpot-Signature-v3": v3_signature(CRM_SECRET, "POST", url, body, timestamp),
        }
        out.append(Delivery("/webhooks/crm", headers, body, tuple(str(i) for i in ids)))
    return out


# -- the two servers ------------------------------------------------------------------------------
def bare_app() -> Starlette:
    async def webhook(request: Request) -> Response:
        await request.body()
        return Response(status_code=200)

    async def healthz(request: Request) -> Response:
        return Response(status_code=200)

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/webhooks/{source}", webhook, methods=["POST"]),
        ]
    )


def serve(kind: str, port: int, store_url: str) -> None:
    if kind == "bare":
        app = bare_app()
    else:
        settings = GatewaySettings(
            billing_webhook_secrets=(BILLING_SECRET,),
            crm_app_secret=CRM_SECRET,
            store_url=store_url,
            port=port,
        )
        app = create_gateway(Store.open(store_url), settings)
    uvicorn.run(app, host=HOST, port=port, log_level="warning")


@contextlib.contextmanager
def serving(kind: str, store_url: str) -> Iterator[str]:
    port = free_port(HOST)
    command = [sys.executable, __file__, "--serve", kind, "--port", str(port)]
    server = subprocess.Popen([*command, "--store-url", store_url])
    base_url = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not _healthy(base_url):
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the {kind} server did not start on {base_url}")
            time.sleep(0.05)
        yield base_url
    finally:
        server.terminate()
        server.wait(timeout=30)


def _healthy(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/healthz").status_code == 200
    except httpx.TransportError:
        return False


# -- the senders ----------------------------------------------------------------------------------
def send(base_url: str, deliveries: list[Delivery], workers: int) -> Run:
    """Send every delivery once, spread over ``workers`` threads started together."""
    accepted = [0] * workers
    latencies: list[list[float]] = [[] for _ in range(workers)]
    failures: list[str] = []
    start = threading.Barrier(workers + 1)

    def worker(k: int) -> None:
        with httpx.Client(base_url=base_url, timeout=30) as http:
            http.get("/healthz")  # connect before the clock starts
            start.wait()
            for d in deliveries[k::workers]:
                began = time.perf_counter()
                response = http.post(d.path, content=d.body, headers=d.headers)
                latencies[k].append(time.perf_counter() - began)
                if response.status_code == 200:
                    accepted[k] += 1
                elif len(failures) < 5:
                    failures.append(f"{d.path}: HTTP {response.status_code} {response.text}")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(workers)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    if failures:
        print("not accepted:", *failures, sep="\n  ", file=sys.stderr)
    return Run(sum(accepted), seconds, [t for per in latencies for t in per])


def check_landed_once(store: Store, source: str, deliveries: list[Delivery]) -> None:
    sent = {event_id for d in deliveries for event_id in d.event_ids}
    landed: Counter[str] = Counter()
    after = 0
    while page := store.pending_events(source, after_id=after, limit=1000):
        landed.update(e.event_id for e in page if e.event_id in sent)
        after = page[-1].id
    missing = len(sent - landed.keys())
    twice = sum(1 for n in landed.values() if n > 1)
    if missing or twice:
        raise SystemExit(f"{source}: {missing} events missing, {twice} landed more than once")


# -- the comparison -------------------------------------------------------------------------------
Batches = Callable[[str], tuple[list[Delivery], list[Delivery]]]


def bare_then_gateway(store_url: str, workers: int, build: Batches) -> list[tuple[str, Run]]:
    """``build(base_url)`` gives the warm-up and the timed deliveries for that server."""
    runs = []
    for kind in ("bare", "gateway"):
        with serving(kind, store_url) as url:
            warmup, timed = build(url)
            send(url, warmup, workers)
            runs.append((kind, send(url, timed, workers)))
    return runs


def report(label: str, unit: str, events_per_request: float, runs: list[tuple[str, Run]]) -> None:
    for kind, run in runs:
        print(
            f"{label:22} {kind:8} {run.accepted:>6} {unit:8} {run.seconds:>6.2f} s "
            f"{run.per_second:>8.1f}/s {run.per_second * events_per_request:>9.1f} events/s "
            f"p50 {run.percentile(50):>6.1f} ms  p95 {run.percentile(95):>7.1f} ms",
            flush=True,
        )
    (_, bare), (_, gateway) = runs
    print(
        f"{label:22} ratio gateway / bare: {gateway.per_second / bare.per_second:.3f}", flush=True
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000, help="Stripe events, one a request")
    parser.add_argument("--workers", type=int, default=8, help="concurrent client connections")
    parser.add_argument("--crm-batch", type=int, default=100, help="HubSpot events a request")
    parser.add_argument("--crm-events", type=int, default=20_000, help="0 skips the HubSpot run")
    parser.add_argument("--store-url", help="default: an SQLite file in a temporary folder")
    parser.add_argument("--serve", choices=["bare", "gateway"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.store_url)
        return
    where = (
        make_url(args.store_url).render_as_string(hide_password=True)
        if args.store_url
        else "SQLite (WAL) in a temporary folder"
    )
    print(
        f"{args.events} Stripe events, {args.crm_events} HubSpot events in batches of "
        f"{args.crm_batch}, {args.workers} client connections, store: {where}",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        store_url = args.store_url or f"sqlite:///{tmp}/store.sqlite3"
        store = Store.open(store_url)
        run_id = f"bench{time.time_ns() // 1000:x}"  # unique per run, for a reused store
        warmup = billing_deliveries(f"{run_id}w", WARMUP_REQUESTS)
        billing = billing_deliveries(run_id, args.events)
        runs = bare_then_gateway(store_url, args.workers, lambda url: (warmup, billing))
        check_landed_once(store, "billing", warmup + billing)
        report("billing, 1 event a req", "webhooks", 1, runs)

        if args.crm_events:
            first_id = time.time_ns() // 1000 * 1000
            warm_events = WARMUP_REQUESTS * args.crm_batch // 10
            sent: list[Delivery] = []

            def crm(url: str) -> tuple[list[Delivery], list[Delivery]]:
                warm = crm_deliveries(url, first_id, warm_events, args.crm_batch)
                timed = crm_deliveries(url, first_id + warm_events, args.crm_events, args.crm_batch)
                sent[:] = warm + timed
                return warm, timed

            runs = bare_then_gateway(store_url, args.workers, crm)
            check_landed_once(store, "crm", sent)
            per_request = args.crm_events / math.ceil(args.crm_events / args.crm_batch)
            report(f"crm, {args.crm_batch} events a req", "batches", per_request, runs)
        store.close()


if __name__ == "__main__":
    main()
