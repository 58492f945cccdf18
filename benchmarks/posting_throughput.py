"""Post a backfill of N invoices to the ERP sandbox: postings per second, peak memory, and
the ratio to the sandbox's own ceiling for the same ERP calls.

The invoices are canonical invoices already received in the store (spread over days and the
three regions, ~170 per date-and-region partition, as a real backfill would be), for customers
the ERP holds; each partition is posted as ``erp/invoice_postings`` posts it: reference data
read, bulk search by external number, then per invoice ledger intent, create (header and
lines in one request), post, ledger completion and lifecycle rows. The ceiling is a bare httpx
loop making the same ERP calls (bulk search, create, post, read back) for other invoices, with
no store, ledger or validation. Peak memory is the process's maximum RSS; each size runs in a
fresh process so the figures compare. Memory must not grow with the backfill size.

    python benchmarks/posting_throughput.py [--sizes 10000 50000] [--ceiling-sample 2000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

import httpx

from resources.erp import ErpResource
from sandboxes.kit.server import RunningSandbox, SandboxConfig, running_sandbox
from sync_platform.store import CustomerXref, Store, TransactionIn
from sync_platform.transactions import flow
from sync_platform.transactions.erp_gateway import post_documents
from sync_platform.transactions.model import CanonicalInvoice, DocumentLine

ANCHOR = date(2026, 11, 1)
PER_PARTITION = 170
REGION_TAX = {
    "na": ("txr_USCA", 725, "USD"),
    "emea": ("txr_DE19", 1900, "EUR"),
    "apac": ("txr_AU10", 1000, "AUD"),
}
TEAM = "prod_coAuZlnphzOa7Y"


def days_for(n: int) -> int:
    return max(1, n // (PER_PARTITION * 3))


def invoices(n: int, customers: dict[str, list[str]]) -> Iterator[CanonicalInvoice]:
    """``n`` invoices over as many days as ~PER_PARTITION per day and region needs."""
    days = days_for(n)
    for i in range(n):
        region = ("na", "emea", "apac")[i % 3]
        tax_rate, bp, currency = REGION_TAX[region]
        day = ANCHOR - timedelta(days=1 + (i // 3) % days)
        qty, unit = 1 + i % 5, 19_900
        tax = (qty * unit * bp + 5_000) // 10_000
        line = DocumentLine(
            line_id=f"il_b{i}",
            description="Team plan",
            product_id=TEAM,
            quantity=qty,
            unit_amount=unit,
            amount=qty * unit,
            tax_amount=tax,
            tax_rate_id=tax_rate,
        )
        region_customers = customers[region]
        yield CanonicalInvoice(
            source_id=f"in_bench{i:07d}",
            number=f"B-{i:07d}",
            region=region,
            billing_customer_id=f"cus_b_{region}_{i % len(region_customers)}",
            currency=currency,
            business_date=day,
            occurred_at=datetime(day.year, day.month, day.day, 12, tzinfo=UTC),
            status="open",
            lines=(line,),
            subtotal=qty * unit,
            tax=tax,
            total=qty * unit + tax,
        )


def run_one(n: int, ceiling_sample: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        config = SandboxConfig(kind="erp", state_dir=Path(tmp), customers=600, anchor=ANCHOR)
        with running_sandbox(config) as sandbox:
            erp = ErpResource(base_url=sandbox.base_url, access_token=sandbox.api_key)
            store = Store.open(f"sqlite:///{tmp}/store.sqlite3")
            customers = _link_customers(erp, store)
            stream = invoices(n, customers)
            while chunk := list(islice(stream, 5_000)):
                store.receive_transactions(TransactionIn.from_canonical(d) for d in chunk)
            partitions = [
                (ANCHOR - timedelta(days=1 + k), region)
                for k in range(days_for(n))
                for region in ("na", "emea", "apac")
            ]
            started = time.perf_counter()
            posted = 0
            for day, region in partitions:
                items = flow.partition_items(store, "invoice", region, day)
                report = post_documents(erp, store, "invoice", region, items)
                posted += report["mode_outcomes"].get("posted", 0)
            elapsed = time.perf_counter() - started
            ceiling = _ceiling(sandbox, erp, ceiling_sample)
            store.close()
    ours = posted / elapsed
    return {
        "invoices": n,
        "posted": posted,
        "seconds": round(elapsed, 1),
        "postings_per_second": round(ours, 1),
        "ceiling_per_second": round(ceiling, 1),
        "ratio_to_ceiling": round(ours / ceiling, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _link_customers(erp: ErpResource, store: Store) -> dict[str, list[str]]:
    """Cross-references for the ERP's customers, as the customer sync would have left them."""
    out: dict[str, list[str]] = {}
    for region in ("na", "emea", "apac"):
        company = erp.company_for_region(region)
        numbers = sorted(c.number for c in erp.list_customers(company.id))
        out[region] = numbers
        for i, number in enumerate(numbers):
            store.save_xref(
                CustomerXref(
                    canonical_id=f"cus-bench-{region}-{i}",
                    region=region,
                    match_rule="benchmark",
                    billing_customer_id=f"cus_b_{region}_{i}",
                    erp_customer_number=number,
                )
            )
    return out


def _ceiling(sandbox: RunningSandbox, erp: ErpResource, sample: int) -> float:
    """The same ERP calls per invoice from a bare client: search, create, post, read back."""
    company = erp.company_for_region("emea").id
    customer = next(iter(erp.list_customers(company))).number
    base = f"/api/v2.0/companies({company})/salesInvoices"
    headers = {"Authorization": f"Bearer {sandbox.api_key}"}
    with httpx.Client(base_url=sandbox.base_url, headers=headers) as http:
        started = time.perf_counter()
        for start in range(0, sample, PER_PARTITION):
            numbers = [f"in_ceil{i:07d}" for i in range(start, min(start + PER_PARTITION, sample))]
            for chunk in range(0, len(numbers), 40):
                flt = " or ".join(
                    f"externalDocumentNumber eq '{x}'" for x in numbers[chunk : chunk + 40]
                )
                http.get(base, params={"$filter": flt}).raise_for_status()
            for number in numbers:
                body = {
                    "externalDocumentNumber": number,
                    "postingDate": (ANCHOR - timedelta(days=1)).isoformat(),
                    "customerNumber": customer,
                    "salesInvoiceLines": [
                        {
                            "lineType": "Item",
                            "lineObjectNumber": "TEAM",
                            "quantity": 2,
                            "unitPrice": 199.0,
                            "taxCode": "VAT19",
                        }
                    ],
                }
                created = http.post(base, json=body)
                created.raise_for_status()
                doc_id = created.json()["id"]
                http.post(f"{base}({doc_id})/Microsoft.NAV.post").raise_for_status()
                http.get(f"{base}({doc_id})").raise_for_status()
        return sample / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--ceiling-sample", type=int, default=2_000)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.ceiling_sample)))
        return
    results = []
    for n in args.sizes:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--one",
                str(n),
                "--ceiling-sample",
                str(args.ceiling_sample),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(result)
        print(
            f"{n:>7} invoices: {result['postings_per_second']:>6} postings/s "
            f"({result['seconds']} s), ceiling {result['ceiling_per_second']}/s, "
            f"ratio {result['ratio_to_ceiling']}, peak RSS {result['peak_rss_mb']} MB",
            flush=True,
        )
    if len(results) > 1:
        small, large = results[0], results[-1]
        print(
            f"peak memory {large['invoices']} vs {small['invoices']} invoices: "
            f"{large['peak_rss_mb'] / small['peak_rss_mb']:.2f}x"
        )


if __name__ == "__main__":
    main()
