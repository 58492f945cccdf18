"""System-API call figures: each process tallies its calls and adds them to the store, which
sums what every process added; a flush the store refuses is kept whole for the next one."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
from dagster import DagsterInstance, materialize
from store_testing import at_once

from assets.customers import erp_customers
from resources import api_metrics
from resources.api_metrics import ApiCallTally
from resources.erp import ErpResource
from resources.store import StoreResource
from sandboxes.kit.server import RunningSandbox, SandboxConfig, running_sandbox
from sync_platform.store import ApiStatKey, Store


class ManualMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@contextmanager
def refusing_additions(store: Store, metric: str) -> Iterator[None]:
    """While the block runs, the database refuses to write any ``metric`` counter."""
    pg = store.engine.dialect.name == "postgresql"
    with store.engine.begin() as conn:
        if pg:
            conn.exec_driver_sql(
                "CREATE FUNCTION refuse_api_stat() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse_api_stat BEFORE INSERT OR UPDATE ON api_call_stats "
                f"FOR EACH ROW WHEN (NEW.metric = '{metric}') EXECUTE FUNCTION refuse_api_stat()"
            )
        else:
            for verb in ("insert", "update"):
                conn.exec_driver_sql(
                    f"CREATE TRIGGER refuse_api_stat_{verb} BEFORE {verb} ON api_call_stats "
                    f"WHEN NEW.metric = '{metric}' "
                    "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
                )
    try:
        yield
    finally:
        with store.engine.begin() as conn:
            if pg:
                conn.exec_driver_sql("DROP TRIGGER refuse_api_stat ON api_call_stats")
                conn.exec_driver_sql("DROP FUNCTION refuse_api_stat()")
            else:
                for verb in ("insert", "update"):
                    conn.exec_driver_sql(f"DROP TRIGGER refuse_api_stat_{verb}")


def requests(totals: dict[ApiStatKey, float], system: str, method: str) -> float:
    return sum(
        value
        for key, value in totals.items()
        if (key.metric, key.system, key.label) == ("request_bucket", system, method)
    )


# -- the store ---------------------------------------------------------------------------


def test_what_several_processes_add_is_summed(store: Store, database_url: str) -> None:
    get_fast = ApiStatKey("request_bucket", "erp", "GET", "0.025")
    seconds = ApiStatKey("request_seconds", "erp", "GET")
    limited = ApiStatKey("rate_limited", "crm")

    store.add_api_stats({get_fast: 2, seconds: 0.03, limited: 1})
    with closing(Store.open(database_url)) as other_process:
        other_process.add_api_stats({get_fast: 1, seconds: 0.02})
        other_process.add_api_stats({ApiStatKey("error", "erp", "503"): 1, limited: 0})

    assert store.api_stats() == {
        get_fast: 3,
        seconds: pytest.approx(0.05),
        limited: 1,
        ApiStatKey("error", "erp", "503"): 1,
    }


def test_flushes_at_the_same_moment_lose_nothing(store: Store, database_url: str) -> None:
    key = ApiStatKey("request_bucket", "billing", "POST", "0.1")
    store.add_api_stats({key: 1})

    def flush_ten_times() -> None:
        with closing(Store.open(database_url)) as process:
            for _ in range(10):
                process.add_api_stats({key: 1, ApiStatKey("rate_limited", "billing"): 1})

    at_once(flush_ten_times, workers=3)

    assert store.api_stats() == {key: 31, ApiStatKey("rate_limited", "billing"): 30}


# -- the tally -----------------------------------------------------------------------------


def test_a_tally_counts_requests_in_histogram_buckets_errors_and_rate_limits() -> None:
    tally = ApiCallTally()

    tally.observe_request("erp", "GET", 0.005)  # a bound belongs to its own bucket
    tally.observe_request("erp", "GET", 0.2)
    tally.observe_request("erp", "GET", 31.0)
    tally.count_failure("erp", 503)
    tally.count_failure("erp", None)
    tally.count_failure("erp", 429)

    assert tally.counts() == {
        ApiStatKey("request_bucket", "erp", "GET", "0.005"): 1,
        ApiStatKey("request_bucket", "erp", "GET", "0.25"): 1,
        ApiStatKey("request_bucket", "erp", "GET", "+Inf"): 1,
        ApiStatKey("request_seconds", "erp", "GET"): pytest.approx(31.205),
        ApiStatKey("error", "erp", "503"): 1,
        ApiStatKey("error", "erp", "transport"): 1,
        ApiStatKey("rate_limited", "erp"): 1,
    }


def test_a_flush_the_store_refuses_is_kept_and_written_once_by_the_next(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    tally = ApiCallTally()
    tally.observe_request("crm", "POST", 0.04)
    tally.count_failure("crm", 429)
    tally.count_failure("crm", 502)
    assert tally.flush(store.add_api_stats)
    tally.observe_request("crm", "POST", 0.3)
    tally.count_failure("crm", 429)
    tally.count_failure("crm", 502)  # written before the refused row, in the same transaction
    before = store.api_stats()

    with refusing_additions(store, "rate_limited"), caplog.at_level(logging.WARNING):
        assert not tally.flush(store.add_api_stats)
        assert store.api_stats() == before
    tally.observe_request("crm", "POST", 0.04)  # counted while the store was away

    assert "kept for the next flush" in caplog.text
    assert tally.flush(store.add_api_stats)
    assert tally.counts() == {}
    assert tally.flush(store.add_api_stats)  # nothing left to write twice
    assert store.api_stats() == {
        ApiStatKey("request_bucket", "crm", "POST", "0.05"): 2,
        ApiStatKey("request_bucket", "crm", "POST", "0.5"): 1,
        ApiStatKey("request_seconds", "crm", "POST"): pytest.approx(0.38),
        ApiStatKey("rate_limited", "crm"): 2,
        ApiStatKey("error", "crm", "502"): 2,
    }


def test_while_calls_go_on_the_tally_flushes_to_its_sink_every_30_seconds(store: Store) -> None:
    clock = ManualMonotonic()
    tally = ApiCallTally(clock=clock)
    tally.use_sink(store.add_api_stats)

    tally.observe_request("billing", "GET", 0.01)
    clock.now += 29.9
    tally.observe_request("billing", "GET", 0.01)
    assert store.api_stats() == {}

    clock.now += 0.1
    tally.observe_request("billing", "GET", 0.01)  # this call flushes all three
    tally.wait_for_flush()  # (in the background: the call does not wait for the store)
    assert requests(store.api_stats(), "billing", "GET") == 3
    assert tally.counts() == {}

    clock.now += 10
    tally.count_failure("billing", 500)
    assert store.api_stats().get(ApiStatKey("error", "billing", "500")) is None

    tally.drop_sink(store.add_api_stats)
    clock.now += 60
    tally.observe_request("billing", "GET", 0.01)
    assert requests(store.api_stats(), "billing", "GET") == 3  # no sink, no flush
    assert tally.counts()[ApiStatKey("error", "billing", "500")] == 1


# -- a Dagster run ---------------------------------------------------------------------------


@pytest.fixture
def erp_sandbox(tmp_path: Path) -> Iterator[RunningSandbox]:
    with running_sandbox(SandboxConfig(kind="erp", state_dir=tmp_path, customers=3)) as sandbox:
        yield sandbox


def materialize_erp_customers(erp_sandbox: RunningSandbox, store_url: str) -> bool:
    erp = ErpResource(base_url=erp_sandbox.base_url, access_token=erp_sandbox.api_key)
    result = materialize(
        [erp_customers],
        partition_key="emea",
        resources={"erp": erp, "store": StoreResource(url=store_url)},
        instance=DagsterInstance.ephemeral(),
    )
    return result.success


@pytest.fixture
def fresh_tally() -> None:
    """This process's tally without what earlier tests counted (they flushed nowhere)."""
    api_metrics.TALLY.flush(lambda counts: None)


@pytest.mark.usefixtures("fresh_tally")
def test_a_run_leaves_its_api_calls_in_the_store(
    store: Store, database_url: str, erp_sandbox: RunningSandbox
) -> None:
    assert materialize_erp_customers(erp_sandbox, database_url)

    totals = store.api_stats()
    assert {key.system for key in totals} == {"erp"}
    # companies, customers, payment terms, PARENT values, invoices, ship-to addresses
    assert requests(totals, "erp", "GET") >= 6
    assert totals[ApiStatKey("request_seconds", "erp", "GET")] > 0
    assert api_metrics.TALLY.counts() == {}  # all flushed when the store resource closed


@pytest.mark.usefixtures("fresh_tally")
def test_a_run_whose_flush_fails_still_succeeds_and_the_next_flush_saves_its_calls(
    store: Store, database_url: str, erp_sandbox: RunningSandbox
) -> None:
    with refusing_additions(store, "request_bucket"):
        assert materialize_erp_customers(erp_sandbox, database_url)
        assert store.api_stats() == {}
    kept = requests(api_metrics.TALLY.counts(), "erp", "GET")
    assert kept >= 6

    assert api_metrics.TALLY.flush(store.add_api_stats)
    assert requests(store.api_stats(), "erp", "GET") == kept


def test_an_api_call_does_not_wait_for_a_slow_store() -> None:
    """The periodic flush writes from a thread of its own: a store holding the write (a busy
    SQLite file) does not hold up the API call that started it."""
    clock = ManualMonotonic()
    tally = ApiCallTally(clock=clock)
    entered, release = threading.Event(), threading.Event()
    written: list[dict[ApiStatKey, float]] = []

    def slow_store(counts: Mapping[ApiStatKey, float]) -> None:
        entered.set()
        assert release.wait(10), "the test never released the store"
        written.append(dict(counts))

    tally.use_sink(slow_store)
    tally.observe_request("erp", "GET", 0.01)
    clock.now += 30
    tally.observe_request("erp", "GET", 0.01)  # starts the flush and returns
    assert entered.wait(10)
    assert written == []  # the flush is still writing, the call has returned
    tally.observe_request("erp", "GET", 0.01)  # counted meanwhile, for the next flush
    release.set()
    tally.wait_for_flush()
    assert requests(written[0], "erp", "GET") == 2
    assert requests(tally.counts(), "erp", "GET") == 1
