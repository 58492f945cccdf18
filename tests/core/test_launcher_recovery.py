"""``sync-platform up`` at start: one per home; and runs its Dagster instance still shows
under way were cut off when the platform last stopped (killed, machine down) and nothing will
finish them: they are marked failed, so the landing sensor retries their webhook events."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRun, DagsterRunStatus

from sync_platform.launcher import LaunchError, _fail_runs_left_under_way, _home_lock


def test_runs_left_under_way_are_failed_and_finished_ones_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    statuses = {
        "cut": DagsterRunStatus.STARTED,
        "launching": DagsterRunStatus.STARTING,
        "done": DagsterRunStatus.SUCCESS,
        "canceled": DagsterRunStatus.CANCELED,
    }
    ids: dict[str, str] = {}
    with DagsterInstance.from_config(str(home)) as instance:
        for name, status in statuses.items():
            run = instance.add_run(DagsterRun(job_name=f"job_{name}", status=status))
            ids[name] = run.run_id

    _fail_runs_left_under_way(home)

    with DagsterInstance.from_config(str(home)) as instance:
        after = {name: instance.get_run_by_id(run_id) for name, run_id in ids.items()}
        assert {name: run.status for name, run in after.items() if run} == {
            "cut": DagsterRunStatus.FAILURE,
            "launching": DagsterRunStatus.FAILURE,
            "done": DagsterRunStatus.SUCCESS,
            "canceled": DagsterRunStatus.CANCELED,
        }
        [failure] = [
            e
            for e in instance.all_logs(ids["cut"])
            if e.dagster_event and e.dagster_event.event_type_value == "PIPELINE_FAILURE"
        ]
        assert "under way when the platform last stopped" in (failure.message or "")
    assert f"run {ids['cut']} was cut off at the last stop" in capsys.readouterr().out


def test_a_second_up_on_the_same_home_is_refused_naming_the_first(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with _home_lock(home):
        with pytest.raises(LaunchError) as refused, _home_lock(home):
            pass
        assert f"(pid {os.getpid()}) is running with --home {home}" in str(refused.value)
        with _home_lock(tmp_path / "another"):  # another home is fine
            pass
    with _home_lock(home):  # free again once the first stopped
        pass


def test_a_start_is_refused_while_the_last_starts_dagster_processes_still_run(
    tmp_path: Path,
) -> None:
    """The last launcher was killed; its Dagster process group (a run finishing) lives on."""
    home = tmp_path / "home"
    left = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; time.sleep(60)", "dagster-run-worker"],
        start_new_session=True,
    )
    try:
        with _home_lock(home) as note:
            note(f"dagster-group {left.pid}")
        with pytest.raises(LaunchError) as refused, _home_lock(home):
            pass
        assert f"process group {left.pid}; a run may be finishing" in str(refused.value)
    finally:
        left.kill()
        left.wait()
    with _home_lock(home):  # gone: the start goes on
        pass
