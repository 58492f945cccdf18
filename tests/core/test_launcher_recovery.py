"""``sync-platform up`` at start: runs its Dagster instance still shows under way were cut off
when the platform last stopped (killed, machine down) and nothing will finish them; they are
marked failed, so the landing sensor retries their webhook events."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRun, DagsterRunStatus

from sync_platform.launcher import _fail_runs_left_under_way


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
