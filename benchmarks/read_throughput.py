"""Read 10,000 customers per system: our resource against a bare httpx page loop.

Both read the same pages of the same sandbox (faults off) on loopback; the bare loop does
nothing but request, decode JSON and follow the vendor's paging. The ratio shows what the
resource's retries, throttling and pydantic validation cost. Target: ratio <= 1.5.

    python benchmarks/read_throughput.py [--customers 10400] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import httpx

from resources.billing import BillingResource
from resources.crm import CrmResource
from resources.erp import ErpResource
from sandboxes.kit.server import RunningSandbox, SandboxConfig, running_sandbox

TARGET_RATIO = 1.5
PAGE = 100
CRM_WINDOW_SECONDS = 10.5


def bare_billing(sandbox: RunningSandbox) -> int:
    headers = {"Authorization": f"Bearer {sandbox.api_key}"}
    count, after = 0, None
    with httpx.Client(base_url=sandbox.base_url, headers=headers) as http:
        while True:
            params: dict[str, str | int] = {"limit": PAGE}
            if after:
                params["starting_after"] = after
            body = http.get("/v1/customers", params=params).json()
            count += len(body["data"])
            if not body["has_more"]:
                return count
            after = body["data"][-1]["id"]


def bare_crm(sandbox: RunningSandbox) -> int:
    headers = {"Authorization": f"Bearer {sandbox.api_key}"}
    props = ",".join(_crm_properties())
    count, after = 0, None
    with httpx.Client(base_url=sandbox.base_url, headers=headers) as http:
        while True:
            params: dict[str, str | int] = {"limit": PAGE, "properties": props}
            if after:
                params["after"] = after
            body = http.get("/crm/v3/objects/companies", params=params).json()
            count += len(body["results"])
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return count


def bare_erp(sandbox: RunningSandbox) -> int:
    headers = {
        "Authorization": f"Bearer {sandbox.api_key}",
        "Prefer": f"odata.maxpagesize={PAGE}",
    }
    count = 0
    with httpx.Client(base_url=sandbox.base_url, headers=headers) as http:
        companies = http.get("/api/v2.0/companies").json()["value"]
        for company in companies:
            url: str | None = f"/api/v2.0/companies({company['id']})/customers"
            while url:
                body = http.get(url).json()
                count += len(body["value"])
                url = body.get("@odata.nextLink")
    return count


def ours_billing(sandbox: RunningSandbox) -> int:
    billing = BillingResource(base_url=sandbox.base_url, api_key=sandbox.api_key, page_size=PAGE)
    try:
        return sum(1 for _ in billing.list_customers())
    finally:
        billing.close()


def ours_crm(sandbox: RunningSandbox) -> int:
    crm = CrmResource(base_url=sandbox.base_url, access_token=sandbox.api_key, page_size=PAGE)
    try:
        return sum(1 for _ in crm.list_objects("companies"))
    finally:
        crm.close()


def ours_erp(sandbox: RunningSandbox) -> int:
    erp = ErpResource(base_url=sandbox.base_url, access_token=sandbox.api_key, page_size=PAGE)
    try:
        return sum(1 for c in erp.list_companies() for _ in erp.list_customers(c.id))
    finally:
        erp.close()


def _crm_properties() -> tuple[str, ...]:
    from resources.crm import COMPANY_PROPERTIES

    return COMPANY_PROPERTIES


def timed(fn: Callable[[RunningSandbox], int], sandbox: RunningSandbox) -> tuple[float, int]:
    if sandbox.config.kind == "crm":
        # HubSpot's rolling window is 10 s: start each run with it empty, as a fresh sync
        # would, so neither reader pays for the other's calls.
        time.sleep(CRM_WINDOW_SECONDS)
    start = time.perf_counter()
    count = fn(sandbox)
    return time.perf_counter() - start, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=10_400)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    worlds = {"billing": args.customers, "crm": args.customers, "erp": args.customers * 19 // 10}
    cases = {
        "billing": (ours_billing, bare_billing),
        "crm": (ours_crm, bare_crm),
        "erp": (ours_erp, bare_erp),
    }
    print(
        f"{'system':8} {'records':>8} {'resource s':>11} {'bare httpx s':>13} {'ratio':>6}"
        f"  target <= {TARGET_RATIO}"
    )
    with tempfile.TemporaryDirectory() as state:
        for kind, (ours, bare) in cases.items():
            config = SandboxConfig(
                kind=kind,
                state_dir=Path(state),
                customers=worlds[kind],  # type: ignore[arg-type]
                anchor=date(2026, 11, 1),
            )
            with running_sandbox(config) as sandbox:
                timed(bare, sandbox)  # warm the sandbox's page cache and connections
                ours_times, bare_times = [], []
                for _ in range(args.repeats):
                    t, n_ours = timed(ours, sandbox)
                    ours_times.append(t)
                    t, n_bare = timed(bare, sandbox)
                    bare_times.append(t)
                if n_ours != n_bare:
                    raise SystemExit(f"{kind}: resource read {n_ours}, bare loop {n_bare}")
                ours_s, bare_s = statistics.median(ours_times), statistics.median(bare_times)
                ratio = ours_s / bare_s
                verdict = "ok" if ratio <= TARGET_RATIO else "OVER TARGET"
                print(
                    f"{kind:8} {n_ours:>8} {ours_s:>11.3f} {bare_s:>13.3f} {ratio:>6.2f}  "
                    f"{verdict}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
