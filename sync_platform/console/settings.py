"""The console's settings, read from the environment."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sync_platform.settings import config_dir

SECRET_VAR = "SYNC_CONSOLE_SECRET"
DEV_VAR = "SYNC_CONSOLE_DEV"
USERS_VAR = "SYNC_CONSOLE_USERS"
DAGSTER_UI_VAR = "SYNC_DAGSTER_UI_URL"
DEFAULT_DAGSTER_UI = "http://127.0.0.1:3000"
MIN_SECRET_CHARS = 32
SESSION_HOURS = 8


class ConsoleConfigError(Exception):
    """The console cannot start as configured; the message names what to set."""


@dataclass(frozen=True)
class ConsoleSettings:
    """``secret`` signs the session cookies; ``users_file`` holds the accounts and tokens."""

    secret: str = field(repr=False)
    users_file: Path
    dagster_ui_url: str = DEFAULT_DAGSTER_UI
    session_seconds: int = SESSION_HOURS * 3600

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_SECRET_CHARS:
            raise ConsoleConfigError(
                f"{SECRET_VAR} must be at least {MIN_SECRET_CHARS} characters of random text "
                '(python -c "import secrets; print(secrets.token_urlsafe(48))")'
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ConsoleSettings:
        """Refuses to start without ``SYNC_CONSOLE_SECRET``, unless ``SYNC_CONSOLE_DEV=1``
        (``sync-platform up``), where a random secret lives as long as the process."""
        env = os.environ if env is None else env
        secret = env.get(SECRET_VAR, "").strip()
        if not secret:
            if env.get(DEV_VAR, "").strip() != "1":
                raise ConsoleConfigError(
                    f"set {SECRET_VAR} to a random secret of at least {MIN_SECRET_CHARS} "
                    f"characters to serve the console (or {DEV_VAR}=1 on a development "
                    "machine, which signs sessions with a secret that dies with the process)"
                )
            secret = secrets.token_urlsafe(48)
        users = env.get(USERS_VAR, "").strip()
        return cls(
            secret=secret,
            users_file=Path(users) if users else config_dir() / "console_users.yaml",
            dagster_ui_url=(env.get(DAGSTER_UI_VAR) or DEFAULT_DAGSTER_UI).rstrip("/"),
        )
