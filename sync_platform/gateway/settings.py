"""The gateway's settings, read from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 12110
DEFAULT_MAX_BODY_BYTES = 1024 * 1024

BILLING_SECRETS_VAR = "SYNC_BILLING_WEBHOOK_SECRETS"
CRM_SECRET_VAR = "SYNC_CRM_APP_SECRET"


class GatewayConfigError(Exception):
    """The gateway cannot start as configured; the message names the variable to set."""


@dataclass(frozen=True)
class GatewaySettings:
    """``billing_webhook_secrets`` holds every secret in use (old and new while rotating).

    ``public_url``, when set, is the base URL the senders post to (``https://hooks.example``)
    and is what HubSpot's signature covers; by default the URL of the request as received.
    """

    billing_webhook_secrets: tuple[str, ...]
    crm_app_secret: str
    store_url: str | None = None
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    tolerance_seconds: int = 300
    public_url: str | None = None
    # When set, GET /metrics asks for "Authorization: Bearer <token>" (a scraper's secret).
    metrics_token: str | None = None

    def __post_init__(self) -> None:
        if not self.billing_webhook_secrets:
            raise GatewayConfigError(
                f"set {BILLING_SECRETS_VAR} to the billing webhook signing secret(s), "
                "comma-separated while rotating (whsec_new,whsec_old)"
            )
        if not self.crm_app_secret:
            raise GatewayConfigError(f"set {CRM_SECRET_VAR} to the CRM app's client secret")

    def __repr__(self) -> str:
        # Never print the secrets, e.g. in a traceback or a log line.
        return (
            f"GatewaySettings(billing secrets: {len(self.billing_webhook_secrets)}, "
            f"host={self.host!r}, port={self.port}, max_body_bytes={self.max_body_bytes})"
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GatewaySettings:
        env = os.environ if env is None else env
        secrets = tuple(s.strip() for s in env.get(BILLING_SECRETS_VAR, "").split(",") if s.strip())
        port_text = env.get("SYNC_GATEWAY_PORT") or str(DEFAULT_PORT)
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise GatewayConfigError(f"SYNC_GATEWAY_PORT={port_text!r} is not a port number")
        return cls(
            billing_webhook_secrets=secrets,
            crm_app_secret=env.get(CRM_SECRET_VAR, "").strip(),
            store_url=env.get("SYNC_STORE_URL") or None,
            host=env.get("SYNC_GATEWAY_HOST") or DEFAULT_HOST,
            port=int(port_text),
            public_url=env.get("SYNC_GATEWAY_PUBLIC_URL") or None,
            metrics_token=env.get("SYNC_METRICS_TOKEN") or None,
        )
