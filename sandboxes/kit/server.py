"""Configuration and serving shared by the three sandboxes.

Each sandbox package exposes ``create_app(config: SandboxConfig) -> Starlette``. This module
runs such an app under uvicorn, in the foreground (the CLI) or on a background thread (tests
and benchmarks use ``running_sandbox``).
"""

from __future__ import annotations

import contextlib
import importlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

import httpx
import uvicorn
from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette
from starlette.types import ASGIApp

from sandboxes.kit.faults import Faults

SandboxKind = Literal["billing", "crm", "erp"]
SANDBOX_KINDS: tuple[SandboxKind, ...] = ("billing", "crm", "erp")
DEFAULT_PORTS: dict[SandboxKind, int] = {"billing": 12111, "crm": 12112, "erp": 12113}
DEFAULT_API_KEYS: dict[SandboxKind, str] = {
    "billing": "sk_test_sandbox_billing_key",
    "crm": "pat-na1-sandbox-crm-token",
    "erp": "erp-sandbox-bearer-token",
}
# The secret the CRM signs webhooks with (a HubSpot app's client secret) and the one a
# billing webhook endpoint registered at start gets; both are printed at start.
DEFAULT_WEBHOOK_SECRETS: dict[SandboxKind, str] = {
    "billing": "whsec_sandbox_billing_signing_secret",
    "crm": "sandbox-crm-app-client-secret",
    "erp": "",
}


class SandboxConfig(BaseModel):
    """Everything a sandbox needs to start. Validated: bad values fail with their name."""

    model_config = ConfigDict(extra="forbid")

    kind: SandboxKind
    state_dir: Path
    host: str = "127.0.0.1"
    port: int = Field(0, ge=0, le=65535)
    seed: int = 42
    customers: int = Field(200, ge=1, le=1_000_000)
    anchor: date | None = Field(None, description="day the seeded history ends; default today")
    faults: Faults = Field(default_factory=Faults)
    api_key: str = ""
    webhook_url: str | None = Field(None, description="register this URL for webhooks at start")
    webhook_secret: str = ""

    def model_post_init(self, __context: object) -> None:
        if not self.api_key:
            self.api_key = DEFAULT_API_KEYS[self.kind]
        if not self.webhook_secret:
            self.webhook_secret = DEFAULT_WEBHOOK_SECRETS[self.kind]

    @property
    def state_file(self) -> Path:
        return self.state_dir / f"{self.kind}.sqlite3"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


def create_app(config: SandboxConfig) -> Starlette:
    module = importlib.import_module(f"sandboxes.{config.kind}.app")
    app: Starlette = module.create_app(config)
    return app


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def serve(config: SandboxConfig) -> None:
    """Run one sandbox in the foreground until interrupted."""
    uvicorn.run(create_app(config), host=config.host, port=config.port, log_level="warning")


@dataclass
class RunningSandbox:
    config: SandboxConfig
    app: Starlette

    @property
    def base_url(self) -> str:
        return self.config.base_url

    @property
    def api_key(self) -> str:
        return self.config.api_key

    def set_faults(self, **faults: float | int) -> None:
        """Change the sandbox's faults at run time through its admin endpoint."""
        response = httpx.put(
            f"{self.base_url}/_sandbox/faults",
            json=faults,
            headers={"Authorization": f"Bearer {self.api_key}"},
        )
        response.raise_for_status()


@contextlib.contextmanager
def serving_in_thread(app: ASGIApp, host: str, port: int, name: str) -> Iterator[None]:
    """Serve ``app`` on a background thread until the block ends; fail if it cannot start."""
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not start on http://{host}:{port}")
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextlib.contextmanager
def running_sandbox(config: SandboxConfig) -> Iterator[RunningSandbox]:
    """Serve a sandbox on a background thread for the duration of the block."""
    if config.port == 0:
        config = config.model_copy(update={"port": free_port(config.host)})
    app = create_app(config)
    with serving_in_thread(app, config.host, config.port, f"{config.kind} sandbox"):
        yield RunningSandbox(config=config, app=app)
