"""A run killed with SIGKILL in the middle of posting, then run again, leaves every invoice in
the ERP exactly once: the write ledger and the search by external document number cover the
moment between the ERP's write and our own commit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from e2e_platform import Platform, running_platform

from assets.partitions import date_region_key
from resources.erp import ErpResource
from sync_platform.transactions.billing_mapping import invoice_issued_at, utc_day
from sync_platform.transactions.flow import billing_regions

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]

RUN_ONE_PARTITION = textwrap.dedent(
    """
    import sys
    from dagster import DagsterInstance, materialize
    from assets.transactions import transaction_assets
    from assets.partitions import date_region_key
    from resources.billing import BillingResource
    from resources.erp import ErpResource
    from resources.store import StoreResource

    billing_url, billing_key, erp_url, erp_key, store_url, day, region = sys.argv[1:]
    print("started", flush=True)
    materialize(
        transaction_assets,
        partition_key=date_region_key(day, region),
        resources={
            "billing": BillingResource(base_url=billing_url, api_key=billing_key),
            "erp": ErpResource(base_url=erp_url, access_token=erp_key),
            "store": StoreResource(url=store_url),
        },
        instance=DagsterInstance.ephemeral(),
    )
    """
)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Platform]:
    with running_platform(tmp_path, world=150) as platform:
        yield platform


def busiest_partition(setup: Platform) -> tuple[str, str, int]:
    """The (day, region) with the most invoices billing finalized."""
    regions = billing_regions(setup.store)
    days = Counter(
        (utc_day(invoice_issued_at(i)).isoformat(), regions[str(i.customer)])
        for i in setup.resources["billing"].list_invoices()
        if i.status not in ("draft", "void")
    )
    (day, region), count = days.most_common(1)[0]
    return day, region, count


def erp_invoices(setup: Platform, region: str) -> list[Any]:
    erp: ErpResource = setup.resources["erp"]
    return list(erp.list_sales_invoices(erp.company_for_region(region).id))


def start_run(setup: Platform, day: str, region: str) -> subprocess.Popen[bytes]:
    """A separate process materializing the partition's transaction assets."""
    erp, billing = setup.sandboxes["erp"], setup.sandboxes["billing"]
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            RUN_ONE_PARTITION,
            billing.base_url,
            billing.api_key,
            erp.base_url,
            erp.api_key,
            setup.store_url,
            day,
            region,
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def test_a_run_killed_while_posting_then_rerun_posts_each_invoice_once(setup: Platform) -> None:
    setup.sync_customers()
    day, region, count = busiest_partition(setup)
    assert count >= 4, "the world should have a day with several invoices"
    erp = setup.sandboxes["erp"]
    erp.set_faults(latency_ms=120)  # slow enough to be killed in the middle

    child = start_run(setup, day, region)
    try:
        deadline = time.monotonic() + 120
        while len(erp_invoices(setup, region)) < 2:
            assert child.poll() is None, child.stdout.read().decode() if child.stdout else ""
            assert time.monotonic() < deadline, "the run never started posting"
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    killed_state = erp_invoices(setup, region)
    assert len(killed_state) < count, "the run finished before it was killed"

    erp.set_faults(latency_ms=0)
    setup.backfill([date_region_key(day, region)])

    after = erp_invoices(setup, region)
    numbers = Counter(i.externalDocumentNumber for i in after)
    assert [n for n, c in numbers.items() if c > 1] == []
    assert all(i.status != "Draft" for i in after)
    store = setup.store
    posted = {
        t.source_id
        for t in store.transactions(
            kind="invoice", region=region, business_date=date.fromisoformat(day)
        )
        if t.stage == "reconciled"
    }
    assert posted == set(numbers)
    assert {i.externalDocumentNumber for i in killed_state} <= posted


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_two_runs_of_one_partition_at_once_post_each_invoice_once(
    request: pytest.FixtureRequest, tmp_path: Path, database: str
) -> None:
    store_url = request.getfixturevalue("postgres_url") if database == "postgresql" else None
    with running_platform(tmp_path, world=150, store_url=store_url) as setup:
        two_runs_at_once(setup)


def two_runs_at_once(setup: Platform) -> None:
    setup.sync_customers()
    day, region, count = busiest_partition(setup)
    setup.sandboxes["erp"].set_faults(latency_ms=40)
    runs = [start_run(setup, day, region) for _ in range(2)]
    outputs = [run.communicate(timeout=300)[0].decode() for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs

    numbers = Counter(i.externalDocumentNumber for i in erp_invoices(setup, region))
    assert [n for n, c in numbers.items() if c > 1] == []
    posted = setup.store.transactions(
        kind="invoice", region=region, business_date=date.fromisoformat(day), stages=("reconciled",)
    )
    assert {t.source_id for t in posted} == set(numbers)
    assert len(numbers) >= count - 2  # all but those of customers the ERP does not hold
