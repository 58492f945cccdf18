"""``sync-platform up``: one command brings up the gateway, the sandboxes and the Dagster UI
with the code location loaded; the sandboxes' webhooks land in the inbox through the gateway;
Ctrl-C stops everything; a second start keeps the sandboxes' state."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from polling import wait_for

from sandboxes.kit.server import DEFAULT_API_KEYS, free_port
from sync_platform.store import Store

pytestmark = pytest.mark.slow

WORKSPACE_QUERY = """
{ workspaceOrError { __typename ... on Workspace { locationEntries {
    name loadStatus
    locationOrLoadError { __typename ... on PythonError { message } }
} } } }
"""


@contextmanager
def platform(
    home: Path,
    ports: dict[str, int],
    log: Path,
    *options: str,
    env: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """``sync-platform up`` on ``ports`` with a 40-company world (``options`` added to the
    command line, ``env`` to the environment); stopped if the test did not stop it (a
    Ctrl-C, so that its children stop too; a kill if that does not work)."""
    command = [
        sys.executable,
        "-m",
        "sync_platform.cli",
        "up",
        "--home",
        str(home),
        "--customers",
        "40",
        *options,
        "--dagster-port",
        str(ports["dagster"]),
        "--gateway-port",
        str(ports["gateway"]),
        *[f"--{kind}-port={ports[kind]}" for kind in ("billing", "crm", "erp")],
    ]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=240)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def wait_for_location(port: int, proc: subprocess.Popen[bytes], log: Path) -> dict[str, object]:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"sync-platform up exited early ({proc.returncode}):\n{log.read_text()}")
        try:
            response = httpx.post(
                f"http://127.0.0.1:{port}/graphql", json={"query": WORKSPACE_QUERY}, timeout=5
            )
            entries = response.json()["data"]["workspaceOrError"]["locationEntries"]
            if entries and entries[0]["loadStatus"] == "LOADED":
                return dict(entries[0])
        except (httpx.HTTPError, KeyError, TypeError, ValueError):
            pass
        time.sleep(1)
    pytest.fail(f"Dagster UI did not load the code location in time:\n{log.read_text()}")


def stop(proc: subprocess.Popen[bytes], log: Path) -> int:
    os.kill(proc.pid, signal.SIGINT)
    try:
        return proc.wait(timeout=240)  # a run under way is let finish first
    except subprocess.TimeoutExpired:
        pytest.fail(f"sync-platform up did not stop on Ctrl-C:\n{log.read_text()}")


def port_is_free(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
    except httpx.ConnectError:
        return True
    except httpx.HTTPError:
        return False
    return False


def customer_landed_in_inbox(store_file: Path, customer_id: str) -> bool:
    store = Store.open(f"sqlite:///{store_file}")
    try:
        return bool(
            wait_for(
                lambda: any(
                    e.object_id == customer_id for e in store.pending_events(source="billing")
                ),
                f"billing customer {customer_id}'s event in the inbox",
                timeout=30,
            )
        )
    finally:
        store.close()


def test_up_serves_the_code_location_stops_cleanly_and_keeps_state(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("billing", "crm", "erp", "gateway", "dagster")}
    log = tmp_path / "up.log"
    billing_auth = {"Authorization": f"Bearer {DEFAULT_API_KEYS['billing']}"}

    with platform(tmp_path / "home", ports, log) as proc:
        entry = wait_for_location(ports["dagster"], proc, log)
        assert entry["name"] == "sync_platform"
        assert entry["locationOrLoadError"] == {"__typename": "RepositoryLocation"}
        created = httpx.post(
            f"http://127.0.0.1:{ports['billing']}/v1/customers",
            data={"name": "Kept Across Restarts Ltd", "email": "kept@example.com"},
            headers=billing_auth,
        )
        assert created.status_code == 200, created.text
        customer_id = created.json()["id"]
        assert httpx.get(f"http://127.0.0.1:{ports['gateway']}/healthz").status_code == 200
        assert customer_landed_in_inbox(tmp_path / "home" / "store.sqlite3", customer_id)
        assert stop(proc, log) == 0
    for name, port in ports.items():
        assert port_is_free(port), f"{name} still listening on {port} after Ctrl-C"
    assert (tmp_path / "home" / "dagster_home" / "dagster.yaml").exists()

    with platform(tmp_path / "home", ports, log) as proc:
        wait_for_location(ports["dagster"], proc, log)
        again = httpx.get(
            f"http://127.0.0.1:{ports['billing']}/v1/customers/{customer_id}", headers=billing_auth
        )
        assert again.status_code == 200
        assert again.json()["name"] == "Kept Across Restarts Ltd"
        assert stop(proc, log) == 0
    assert "Traceback" not in log.read_text()


INBOX_RUNS = """
query($statuses: [RunStatus!]) { runsOrError(filter: {
    statuses: $statuses, tags: [{key: "dagster/sensor_name", value: "inbox_sensor"}]
}) { __typename ... on Runs { results { runId status } } } }
"""


def inbox_runs(port: int, *statuses: str) -> list[dict[str, str]]:
    response = httpx.post(
        f"http://127.0.0.1:{port}/graphql",
        json={"query": INBOX_RUNS, "variables": {"statuses": list(statuses) or None}},
        timeout=30,
    )
    response.raise_for_status()
    return list(response.json()["data"]["runsOrError"]["results"])


def test_a_sync_under_way_when_up_is_stopped_finishes_first(tmp_path: Path) -> None:
    """Ctrl-C while the landing sensor's run is reading billing (a slow billing API): ``up``
    lets the run finish before it stops the rest; the run succeeds, the event is processed,
    and nothing is interrupted."""
    from dagster import DagsterInstance, DagsterRunStatus

    ports = {name: free_port() for name in ("billing", "crm", "erp", "gateway", "dagster")}
    log = tmp_path / "up.log"
    home = tmp_path / "home"
    billing = f"http://127.0.0.1:{ports['billing']}"
    billing_auth = {"Authorization": f"Bearer {DEFAULT_API_KEYS['billing']}"}
    with platform(home, ports, log) as proc:
        wait_for_location(ports["dagster"], proc, log)
        slow = httpx.put(
            f"{billing}/_sandbox/faults", json={"latency_ms": 10_000}, headers=billing_auth
        )
        assert slow.status_code == 200, slow.text
        created = httpx.post(
            f"{billing}/v1/customers",
            data={
                "name": "Stopped Mid-Sync GmbH",
                "email": "midsync@example.com",
                "address[country]": "DE",
            },
            headers=billing_auth,
            timeout=30,
        )
        assert created.status_code == 200, created.text
        customer_id = created.json()["id"]
        assert customer_landed_in_inbox(home / "store.sqlite3", customer_id)
        started = wait_for(
            lambda: inbox_runs(ports["dagster"], "STARTED"),
            "the landing sensor's run to start",
            timeout=180,
        )
        assert stop(proc, log) == 0
    for name, port in ports.items():
        assert port_is_free(port), f"{name} still listening on {port} after Ctrl-C"

    output = log.read_text()
    assert "sync-platform: waiting up to 120 s for what dagster still runs" in output
    instance = DagsterInstance.from_config(str(home / "dagster_home"))
    try:
        runs = {r.run_id: r.status for r in instance.get_runs()}
    finally:
        instance.dispose()
    assert runs[started[0]["runId"]] == DagsterRunStatus.SUCCESS, output
    assert not [
        run_id
        for run_id, status in runs.items()
        if status in (DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)
    ], output
    store = Store.open(f"sqlite:///{home / 'store.sqlite3'}")
    try:
        assert not [e for e in store.pending_events(source="billing") if e.object_id == customer_id]
    finally:
        store.close()
    assert "Traceback" not in output
