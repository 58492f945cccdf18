"""Starting things: one sandbox, all three, the webhook gateway, or the whole platform
(gateway + sandboxes + ``dagster dev``).

The sandboxes are development tools; only these launch commands load them, never the code
location itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import httpx

from sandboxes.kit.server import (
    DEFAULT_API_KEYS,
    DEFAULT_PORTS,
    DEFAULT_WEBHOOK_SECRETS,
    SANDBOX_KINDS,
    SandboxConfig,
)
from sync_platform.gateway.settings import DEFAULT_PORT as GATEWAY_PORT

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from sync_platform.store import Store

__all__ = [
    "DEFAULT_PORTS",
    "GATEWAY_PORT",
    "SANDBOX_KINDS",
    "LaunchError",
    "run_all",
    "run_gateway",
    "run_one",
    "up",
]

REPO_ROOT = Path(__file__).resolve().parents[1]
PROC = Path("/proc")
STOP_GRACE_SECONDS = 30.0
# ``dagster dev`` itself waits up to 60 s each for its webserver and daemon to stop.
DAGSTER_STOP_SECONDS = 150.0
# How long a stop waits for Dagster runs under way to finish before it interrupts them.
RUN_DRAIN_SECONDS = 120.0


class LaunchError(Exception):
    """Something stops a start: a bad option, a busy port, a child that would not come up."""


# -- sandboxes ---------------------------------------------------------------------------------
def _config(args: argparse.Namespace, kind: str, port: int, state: Path) -> SandboxConfig:
    from sandboxes.kit.faults import Faults

    try:
        faults = Faults.parse(args.faults)
    except ValueError as exc:
        raise LaunchError(str(exc)) from exc
    return SandboxConfig(
        kind=kind,
        state_dir=state,
        host=args.host,
        port=port,
        seed=args.seed,
        customers=args.customers,
        faults=faults,
        webhook_url=getattr(args, f"{kind}_webhook_url", None)
        or getattr(args, "webhook_url", None),
    )


def _banner(config: SandboxConfig) -> str:
    return (
        f"{config.kind:8} sandbox  {config.base_url}  api key: {config.api_key}"
        + (f"  webhook secret: {config.webhook_secret}" if config.webhook_secret else "")
        + f"  state: {config.state_file}"
    )


def _ensure_port_free(host: str, port: int, what: str) -> None:
    import socket

    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise LaunchError(
                f"{what} port {port} on {host} is in use ({exc.strerror}); "
                f"stop what holds it or choose another port"
            ) from None


def run_one(args: argparse.Namespace) -> int:
    from sandboxes.kit.server import serve

    config = _config(args, args.kind, args.port, args.state)
    _ensure_port_free(config.host, config.port, config.kind)
    print(_banner(config), flush=True)
    serve(config)
    return 0


def run_all(args: argparse.Namespace) -> int:
    configs = [
        _config(args, kind, getattr(args, f"{kind}_port"), args.state) for kind in SANDBOX_KINDS
    ]
    for config in configs:
        _ensure_port_free(config.host, config.port, config.kind)
    asyncio.run(_serve_all(configs))
    return 0


async def _serve_all(configs: Sequence[SandboxConfig]) -> None:
    import uvicorn

    from sandboxes.kit.server import create_app

    servers = [
        uvicorn.Server(uvicorn.Config(create_app(c), host=c.host, port=c.port, log_level="warning"))
        for c in configs
    ]
    tasks = [asyncio.create_task(s.serve()) for s in servers]
    while not all(s.started for s in servers):
        if any(t.done() for t in tasks):
            break
        await asyncio.sleep(0.05)
    for config in configs:
        print(_banner(config), flush=True)
    print("sandboxes ready", flush=True)
    await asyncio.gather(*tasks)


# -- the webhook gateway -----------------------------------------------------------------------
def run_gateway(args: argparse.Namespace) -> int:
    """Serve the gateway in the foreground until interrupted."""
    import logging

    import uvicorn

    from sync_platform.gateway.app import create_gateway
    from sync_platform.gateway.settings import GatewayConfigError, GatewaySettings
    from sync_platform.store import Store

    try:
        settings = GatewaySettings.from_env()
    except GatewayConfigError as exc:
        raise LaunchError(str(exc)) from None
    host = args.host or settings.host
    port = args.port or settings.port
    _ensure_port_free(host, port, "gateway")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    store = Store.open(settings.store_url) if settings.store_url else Store.from_env()
    try:
        print(
            f"gateway           http://{host}:{port}  POST /webhooks/billing, /webhooks/crm",
            flush=True,
        )
        console = _console(store, f"http://{host}:{port}/console")
        if os.environ.get("FORWARDED_ALLOW_IPS", "").strip() == "*":
            print(
                "gateway: FORWARDED_ALLOW_IPS=* trusts X-Forwarded-For from anyone, so a "
                "client can pick the address the console's sign-in limits count: name the "
                "proxy's address instead",
                file=sys.stderr,
                flush=True,
            )
        app = create_gateway(store, settings, console=console)
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        store.close()
    return 0


def _console(store: Store, url: str) -> ASGIApp | None:
    """The console, or None (said on stderr) when it cannot be served safely."""
    from sync_platform.config_files import ConfigError
    from sync_platform.console.app import create_console
    from sync_platform.console.settings import ConsoleConfigError, ConsoleSettings

    try:
        console = create_console(store, ConsoleSettings.from_env())
    except (ConsoleConfigError, ConfigError) as exc:
        print(f"console           not served: {exc}", file=sys.stderr, flush=True)
        return None
    print(f"console           {url}", flush=True)
    return console


# -- the whole platform ------------------------------------------------------------------------
def up(args: argparse.Namespace) -> int:
    home: Path = args.home.resolve()
    with _home_lock(home) as note:
        return _up(args, home, note)


@contextlib.contextmanager
def _home_lock(home: Path) -> Iterator[Callable[[str], None]]:
    """One ``sync-platform up`` per home: a second would share the sandboxes' files and the
    Dagster instance, and take the first one's runs for ones a kill left behind. Yields a
    function that notes a line in the lock file (the Dagster process group, for the next
    start to find it if this launcher dies before its Dagster processes do)."""
    home.mkdir(parents=True, exist_ok=True)
    with (home / "up.lock").open("a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().split("\n")[0].strip() or "another process"
            raise LaunchError(
                f"another `sync-platform up` ({holder}) is running with --home {home}; "
                "stop it, or give this one another --home"
            ) from None
        lock.seek(0)
        _refuse_if_dagster_left_running(lock.read(), home)
        lock.seek(0)
        lock.truncate()

        def note(line: str) -> None:
            lock.write(line + "\n")
            lock.flush()

        note(f"pid {os.getpid()}")
        yield note


def _refuse_if_dagster_left_running(last_lock: str, home: Path) -> None:
    """The last start's launcher may have died (killed) while its Dagster processes ran on,
    a run among them: starting again would fail that run as cut off while it still posts."""
    for line in last_lock.splitlines():
        if line.startswith("dagster-group "):
            group = int(line.split()[1])
            left = [c for c in _group_processes(group).values() if "dagster" in c]
            if left:
                raise LaunchError(
                    f"the Dagster processes of the last start with --home {home} still run "
                    f"(process group {group}; a run may be finishing): wait for them, or stop "
                    f"them with `kill -INT -{group}`"
                )


def _up(args: argparse.Namespace, home: Path, note: Callable[[str], None]) -> int:
    ports: dict[str, int] = {kind: getattr(args, f"{kind}_port") for kind in SANDBOX_KINDS}
    for kind, port in ports.items():
        _ensure_port_free(args.host, port, f"{kind} sandbox")
    _ensure_port_free(args.host, args.gateway_port, "gateway")
    _ensure_port_free("127.0.0.1", args.dagster_port, "Dagster UI")
    dagster_home = _prepare_dagster_home(home / "dagster_home")
    _fail_runs_left_under_way(dagster_home)
    env = {
        **os.environ,
        **platform_environment(args.host, ports, home),
        "DAGSTER_HOME": str(dagster_home),
        # A development machine: the console may sign sessions with a per-start secret.
        "SYNC_CONSOLE_DEV": os.environ.get("SYNC_CONSOLE_DEV", "1"),
    }
    gateway = f"http://{args.host}:{args.gateway_port}"
    gateway_cmd = [
        *[sys.executable, "-m", "sync_platform.cli", "gateway"],
        *["--host", args.host, "--port", str(args.gateway_port)],
    ]

    sandbox_cmd = [
        sys.executable,
        "-m",
        "sync_platform.cli",
        "sandbox",
        "up",
        "--state",
        str(home / "sandboxes"),
        "--seed",
        str(args.seed),
        "--customers",
        str(args.customers),
        "--host",
        args.host,
        *[f"--{kind}-port={port}" for kind, port in ports.items()],
        f"--billing-webhook-url={gateway}/webhooks/billing",
        f"--crm-webhook-url={gateway}/webhooks/crm",
    ]
    if args.faults:
        sandbox_cmd.append(f"--faults={args.faults}")
    children = _Children()
    try:
        # The gateway first, so that no webhook a sandbox sends finds nobody listening.
        children.start("gateway", gateway_cmd, env)
        _wait_healthy({"gateway": f"{gateway}/healthz"}, children)
        children.start("sandboxes", sandbox_cmd, env)
        _wait_healthy(
            {kind: f"http://{args.host}:{port}/_sandbox/health" for kind, port in ports.items()},
            children,
        )
        children.start("dagster", _dagster_command(args.dagster_port), env, cwd=_dagster_cwd())
        note(f"dagster-group {children.pid('dagster')}")
        print(
            f"Dagster UI  http://127.0.0.1:{args.dagster_port}  (DAGSTER_HOME={dagster_home})",
            flush=True,
        )
        print("Ctrl-C stops everything; state is kept in " + str(home), flush=True)
        return children.wait_any()
    finally:
        children.stop_all()


def platform_environment(host: str, ports: dict[str, int], home: Path) -> dict[str, str]:
    """The variables the code location's resources read (see ``sync_platform.definitions``)."""
    return {
        "SYNC_STORE_URL": os.environ.get("SYNC_STORE_URL") or f"sqlite:///{home / 'store.sqlite3'}",
        "SYNC_BILLING_URL": f"http://{host}:{ports['billing']}",
        "SYNC_BILLING_API_KEY": DEFAULT_API_KEYS["billing"],
        "SYNC_CRM_URL": f"http://{host}:{ports['crm']}",
        "SYNC_CRM_ACCESS_TOKEN": DEFAULT_API_KEYS["crm"],
        "SYNC_ERP_URL": f"http://{host}:{ports['erp']}",
        "SYNC_ERP_ACCESS_TOKEN": DEFAULT_API_KEYS["erp"],
        # What the sandboxes sign their webhooks with, for the gateway to check.
        "SYNC_BILLING_WEBHOOK_SECRETS": DEFAULT_WEBHOOK_SECRETS["billing"],
        "SYNC_CRM_APP_SECRET": DEFAULT_WEBHOOK_SECRETS["crm"],
    }


def _prepare_dagster_home(path: Path) -> Path:
    """A persistent DAGSTER_HOME whose dagster.yaml is the repository's (kept in step)."""
    path.mkdir(parents=True, exist_ok=True)
    source = REPO_ROOT / "dagster.yaml"
    target = path / "dagster.yaml"
    if source.exists() and (not target.exists() or target.read_bytes() != source.read_bytes()):
        shutil.copyfile(source, target)
    elif not target.exists():
        target.write_text("telemetry:\n  enabled: false\n")
    return path


def _fail_runs_left_under_way(dagster_home: Path) -> None:
    """Runs this home's instance still shows under way were cut off when the platform last
    stopped (killed, or the machine went down): nothing runs them now. Mark them failed, so
    that the landing sensor retries their webhook events instead of waiting for them."""
    from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

    under_way = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        for run in instance.get_runs(filters=RunsFilter(statuses=under_way)):
            instance.report_run_failed(
                run,
                "sync-platform up: this run was under way when the platform last stopped "
                "(killed or cut off); it was marked failed at the next start.",
            )
            print(f"sync-platform: run {run.run_id} was cut off at the last stop: marked failed")


def _dagster_command(port: int) -> list[str]:
    command = [sys.executable, "-m", "dagster", "dev", "-p", str(port), "-h", "127.0.0.1"]
    workspace = REPO_ROOT / "workspace.yaml"
    if workspace.exists():
        return [*command, "-w", str(workspace)]
    return [*command, "-m", "sync_platform.definitions"]


def _dagster_cwd() -> Path:
    return REPO_ROOT if (REPO_ROOT / "workspace.yaml").exists() else Path.cwd()


def _wait_healthy(health_urls: dict[str, str], children: _Children) -> None:
    deadline = time.monotonic() + 300  # seeding a large world takes a while
    pending = dict(health_urls)
    while pending:
        children.raise_if_exited()
        for name, url in list(pending.items()):
            try:
                if httpx.get(url, timeout=2).is_success:
                    del pending[name]
            except httpx.HTTPError:
                pass
        if time.monotonic() > deadline:
            raise LaunchError(f"{sorted(pending)} did not become healthy in 300 s")
        time.sleep(0.2)


class _Children:
    """Child processes, each in its own process group, stopped together."""

    def __init__(self) -> None:
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._stopping = False  # a Ctrl-C arrived: what follows only hurries the stop
        self._stopped = False
        self._hurry = False
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._stopping:
            self._hurry = True  # a second Ctrl-C: stop waiting for runs under way
            return
        self._stopping = True
        raise KeyboardInterrupt

    def start(
        self, name: str, command: list[str], env: dict[str, str], cwd: Path | None = None
    ) -> None:
        self._procs[name] = subprocess.Popen(command, env=env, cwd=cwd, start_new_session=True)

    def pid(self, name: str) -> int:
        return self._procs[name].pid

    def raise_if_exited(self) -> None:
        for name, proc in self._procs.items():
            if proc.poll() is not None:
                raise LaunchError(f"{name} exited with code {proc.returncode}")

    def wait_any(self) -> int:
        try:
            while True:
                for name, proc in self._procs.items():
                    if proc.poll() is not None:
                        print(
                            f"sync-platform: {name} stopped (exit {proc.returncode})",
                            file=sys.stderr,
                        )
                        return proc.returncode or 1
                time.sleep(0.5)
        except KeyboardInterrupt:
            return 0

    def stop_all(self) -> None:
        if self._stopped:
            return
        self._stopped = self._stopping = True
        # Dagster first: its runs and daemon may still be talking to the sandboxes.
        for name in reversed(list(self._procs)):
            self._stop(name, self._procs[name])

    def _stop(self, name: str, proc: subprocess.Popen[bytes]) -> None:
        """Ctrl-C to the child itself, which stops its own children (``dagster dev`` shuts its
        webserver and daemon down and asks its code servers to stop once their runs are
        through). Then wait for what it left in its group, a run under way, and only then
        interrupt what is left. A child that ignores the Ctrl-C is killed alone: its group
        may hold a run that is still let finish."""
        grace = DAGSTER_STOP_SECONDS if name == "dagster" else STOP_GRACE_SECONDS
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGINT)
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                print(
                    f"sync-platform: {name} ignored Ctrl-C for {grace:.0f} s; killing it",
                    file=sys.stderr,
                )
                proc.kill()
                proc.wait()
                # Its webserver and daemon (no new runs), not the runs and code servers.
                for pid, command in _group_processes(proc.pid).items():
                    if "dagster_webserver" in command or "dagster._daemon" in command:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGINT)
        self._drain(name, proc.pid)
        _stop_group(name, proc.pid)

    def _drain(self, name: str, group: int) -> None:
        """Wait up to ``RUN_DRAIN_SECONDS`` for the rest of ``group`` to exit by itself (a
        Dagster run finishing, then its code server); a second Ctrl-C cuts the wait short."""
        if not _group_alive(group):
            return
        deadline = time.monotonic() + RUN_DRAIN_SECONDS
        announce_at = time.monotonic() + 1.0
        while time.monotonic() < deadline and not self._hurry:
            if not _group_alive(group):
                return
            if announce_at and time.monotonic() >= announce_at:
                announce_at = 0.0
                print(
                    f"sync-platform: waiting up to {RUN_DRAIN_SECONDS:.0f} s for what {name} "
                    "still runs (a run under way) to finish; Ctrl-C again to interrupt it",
                    file=sys.stderr,
                    flush=True,
                )
            time.sleep(0.1)
        if _group_alive(group):
            print(
                f"sync-platform: interrupting what {name} still runs; an interrupted run's "
                "events stay pending and are retried after the next start",
                file=sys.stderr,
                flush=True,
            )


def _group_alive(group: int) -> bool:
    """Whether any process of ``group`` still runs (zombies do not: run as a container's
    pid 1, this process inherits orphans it does not reap)."""
    if not PROC.is_dir():
        return _signal_group(group, 0)
    return bool(_group_processes(group))


def _group_processes(group: int) -> dict[int, str]:
    """pid → command line of the live processes of process group ``group`` (Linux ``/proc``;
    empty elsewhere)."""
    found: dict[int, str] = {}
    if not PROC.is_dir():
        return found
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses
            state, _, pgrp = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:3]
            if int(pgrp) == group and state != "Z":
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
                found[int(entry.name)] = command.decode(errors="replace")
        except (OSError, ValueError):
            continue  # gone meanwhile
    return found


def _stop_group(name: str, group: int) -> None:
    """Ctrl-C to what is left of a child's process group, then a kill for what still runs
    after the grace period."""
    if not _signal_group(group, signal.SIGINT):
        return
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while time.monotonic() < deadline:
        if not _group_alive(group):
            return
        time.sleep(0.1)
    print(f"sync-platform: processes of {name} ignored Ctrl-C; killing", file=sys.stderr)
    _signal_group(group, signal.SIGKILL)


def _signal_group(group: int, sig: int) -> bool:
    """Send ``sig`` to the process group; False when no process is left in it."""
    try:
        os.killpg(group, sig)
    except ProcessLookupError:
        return False
    return True
