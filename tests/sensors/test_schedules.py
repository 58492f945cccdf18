"""The nightly and weekly schedules and `sync-platform backfill`, against the real code
location and a Dagster instance in a temporary DAGSTER_HOME."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    RunRequest,
    SkipReason,
    build_schedule_context,
)
from dagster._core.execution.backfill import PartitionBackfill

from assets.partitions import HISTORY_START
from sensors.schedules import (
    RECONCILIATION_DAILY,
    TRANSACTION_ASSET_KEYS,
    nightly_reconciliation,
    nightly_requests,
    reconciliation_schedules,
    sla_requests,
    sla_watch,
    weekly_requests,
    weekly_reverification,
)
from sync_platform.cli import main
from sync_platform.definitions import defs

ALL_KEYS = {*TRANSACTION_ASSET_KEYS, RECONCILIATION_DAILY}


@pytest.fixture
def dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    yield home


def targets(backfill: PartitionBackfill) -> set[tuple[AssetKey, str | None]]:
    data = backfill.asset_backfill_data
    assert data is not None
    return {(p.asset_key, p.partition_key) for p in data.target_subset.iterate_asset_partitions()}


def test_nightly_asks_for_yesterday_in_every_region_once_per_partition() -> None:
    context = build_schedule_context(scheduled_execution_time=datetime(2026, 11, 3, 2, tzinfo=UTC))
    requests = nightly_reconciliation(context)
    assert isinstance(requests, list)
    assert [(r.run_key, r.partition_key) for r in requests if isinstance(r, RunRequest)] == [
        ("nightly:2026-11-02|na", "2026-11-02|na"),
        ("nightly:2026-11-02|emea", "2026-11-02|emea"),
        ("nightly:2026-11-02|apac", "2026-11-02|apac"),
    ]


def test_nightly_rereads_billing_reconciles_and_checks_without_posting() -> None:
    (request, *_) = nightly_requests(datetime(2026, 11, 3, 2, tzinfo=UTC))
    assert {"/".join(k.path) for k in request.asset_selection or ()} == {
        "billing/invoices",
        "billing/payments",
        "billing/credit_notes",
        "reconciliation/daily",
    }
    checks = {(("/".join(k.asset_key.path)), k.name) for k in request.asset_check_keys or ()}
    assert {
        ("erp/invoice_postings", "every_finalized_invoice_posted_once"),
        ("erp/cash_applications", "every_settled_payment_applied"),
        ("erp/credit_memos", "every_credit_note_reverses_its_invoice_once"),
        ("erp/invoice_postings", "no_invoice_unposted_after_sla"),
        ("reconciliation/daily", "reconciliation_drift_free"),
    } <= checks
    assert not {name for _, name in checks} & {"posting_reference_data_intact"}
    job = defs.get_repository_def().get_job(nightly_reconciliation.job_name)
    assert RECONCILIATION_DAILY in job.asset_layer.executable_asset_keys
    assert (nightly_reconciliation.cron_schedule, nightly_reconciliation.execution_timezone) == (
        "0 2 * * *",
        "UTC",
    )


def test_the_weekly_window_ends_yesterday_and_covers_every_region() -> None:
    sunday = datetime(2026, 11, 22, 3, tzinfo=UTC)
    requests = weekly_requests(sunday, window_days=7)

    assert [r.region for r in requests] == ["na", "emea", "apac"]
    emea = requests[1]
    assert (emea.first, emea.last) == (date(2026, 11, 15), date(2026, 11, 21))
    assert emea.partition_keys == [f"2026-11-{d}|emea" for d in range(15, 22)]
    assert set(emea.asset_keys) == ALL_KEYS
    assert len(weekly_requests(sunday, window_days=3)[0].partition_keys) == 3


def test_the_weekly_window_never_starts_before_the_history() -> None:
    start = date.fromisoformat(HISTORY_START)
    clamped = weekly_requests(datetime.combine(start + timedelta(days=3), time(3), UTC), 7)
    assert [(r.first, r.last) for r in clamped] == [(start, start + timedelta(days=2))] * 3
    assert clamped[0].partition_keys[0] == f"{HISTORY_START}|na"
    assert weekly_requests(datetime.combine(start, time(3), UTC), 7) == []


SLA_CHECKS = {
    ("erp/invoice_postings", "no_invoice_unposted_after_sla"),
    ("erp/cash_applications", "no_payment_unapplied_after_sla"),
}


def sla_runs(at: datetime) -> list[tuple[str | None, str | None]]:
    return [(r.run_key, r.partition_key) for r in sla_requests(at)]


def test_the_sla_watch_checks_today_in_every_region_every_five_minutes() -> None:
    assert sla_watch in reconciliation_schedules
    assert (sla_watch.cron_schedule, sla_watch.execution_timezone) == ("*/5 * * * *", "UTC")
    assert sla_runs(datetime(2026, 11, 3, 10, 0, tzinfo=UTC)) == [
        ("sla:2026-11-03T10:00|2026-11-03|na", "2026-11-03|na"),
        ("sla:2026-11-03T10:00|2026-11-03|emea", "2026-11-03|emea"),
        ("sla:2026-11-03T10:00|2026-11-03|apac", "2026-11-03|apac"),
    ]
    (request, *_) = sla_requests(datetime(2026, 11, 3, 10, 0, tzinfo=UTC))
    assert {"/".join(k.path) for k in request.asset_selection or ()} == {
        "billing/invoices",
        "billing/payments",
    }
    assert {
        ("/".join(k.asset_key.path), k.name) for k in request.asset_check_keys or ()
    } == SLA_CHECKS
    job = defs.get_repository_def().get_job(sla_watch.job_name)
    assert AssetKey(["billing", "invoices"]) in job.asset_layer.executable_asset_keys


def test_until_half_past_midnight_the_sla_watch_checks_yesterday_too() -> None:
    assert sla_runs(datetime(2026, 11, 3, 0, 10, tzinfo=UTC)) == [
        (f"sla:2026-11-03T00:10|{day}|{region}", f"{day}|{region}")
        for day in ("2026-11-02", "2026-11-03")
        for region in ("na", "emea", "apac")
    ]
    assert len(sla_runs(datetime(2026, 11, 3, 0, 30, tzinfo=UTC))) == 3


def test_the_sla_watch_asks_for_no_day_before_the_history() -> None:
    start = date.fromisoformat(HISTORY_START)
    at = datetime.combine(start, time(0, 5), UTC)
    assert {p for _, p in sla_runs(at)} == {f"{HISTORY_START}|{r}" for r in ("na", "emea", "apac")}


def test_the_weekly_schedule_submits_one_backfill_per_region_once(dagster_home: Path) -> None:
    # Both context managers closed in order: the schedule context enters an instance of its
    # own, and one left open would leave Dagster's current definitions-state storage behind.
    with (
        DagsterInstance.get() as instance,
        build_schedule_context(
            instance=instance,
            scheduled_execution_time=datetime(2026, 11, 22, 3, tzinfo=UTC),
            repository_def=defs.get_repository_def(),
        ) as context,
    ):
        first = weekly_reverification(context)
        again = weekly_reverification(context)

        assert isinstance(first, SkipReason) and "reverify-20261115-20261121-emea" in (
            first.skip_message or ""
        )
        assert isinstance(again, SkipReason) and again.skip_message == "backfills exist already"
        backfills = {b.backfill_id: b for b in instance.get_backfills()}
        assert set(backfills) == {f"reverify-20261115-20261121-{r}" for r in ("na", "emea", "apac")}
        emea = backfills["reverify-20261115-20261121-emea"]
        days = [f"2026-11-{d}|emea" for d in range(15, 22)]
        assert targets(emea) == {(key, day) for key in ALL_KEYS for day in days}


def test_the_cli_submits_a_backfill_of_one_region_over_the_range(
    dagster_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--region", "apac", "--from", "2026-10-30", "--to", "2026-11-02"]
    code = main(["backfill", *args, "--assets", "reconciliation"])
    out = capsys.readouterr().out
    assert code == 0, out

    with DagsterInstance.get() as instance:
        (backfill,) = instance.get_backfills()
    days = ["2026-10-30", "2026-10-31", "2026-11-01", "2026-11-02"]
    assert targets(backfill) == {(RECONCILIATION_DAILY, f"{d}|apac") for d in days}
    assert backfill.tags["sync/region"] == "apac"
    assert f"/runs/b/{backfill.backfill_id}" in out

    main(["backfill", "--region", "apac", "--from", "2026-11-01", "--to", "2026-11-01"])
    with DagsterInstance.get() as instance:
        latest = instance.get_backfills()[0]
    assert targets(latest) == {(key, "2026-11-01|apac") for key in ALL_KEYS}


def test_a_dry_run_submits_nothing(dagster_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["backfill", "--region", "na", "--from", "2026-11-01", "--to", "2026-11-07", "--dry-run"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "7 partition(s) 2026-11-01|na .. 2026-11-07|na" in out
    assert "dry run: nothing submitted" in out
    assert _backfills(dagster_home) == 0


def _backfills(home: Path) -> int:
    with DagsterInstance.get() as instance:
        return len(instance.get_backfills())


TOMORROW = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--region", "mars", "--from", "2026-11-01", "--to", "2026-11-02"], "unknown region"),
        (["--region", "na", "--from", "2026-11-02", "--to", "2026-11-01"], "is before --from"),
        (["--region", "na", "--from", "2025-12-31", "--to", "2026-01-02"], "before the history"),
        (["--region", "na", "--from", "2026-11-01", "--to", TOMORROW], "in the future"),
    ],
)
def test_bad_arguments_are_refused_with_what_is_wrong(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str], dagster_home: Path
) -> None:
    assert main(["backfill", *args]) == 2
    assert message in capsys.readouterr().err
    assert _backfills(dagster_home) == 0


def test_without_dagster_home_nothing_is_submitted(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    assert main(["backfill", "--region", "na", "--from", "2026-11-01", "--to", "2026-11-01"]) == 2
    assert "DAGSTER_HOME is not set" in capsys.readouterr().err
