"""The gateway's settings: secrets from the environment, never shown, required to start."""

from __future__ import annotations

import pytest

from sync_platform.cli import main
from sync_platform.gateway.settings import GatewayConfigError, GatewaySettings

ENV = {
    "SYNC_BILLING_WEBHOOK_SECRETS": " whsec_new , whsec_old ,",
    "SYNC_CRM_APP_SECRET": "crm-app-secret",
    "SYNC_GATEWAY_PORT": "8123",
}


def test_several_billing_secrets_are_read_for_rotation() -> None:
    settings = GatewaySettings.from_env(ENV)

    assert settings.billing_webhook_secrets == ("whsec_new", "whsec_old")
    assert settings.crm_app_secret == "crm-app-secret"
    assert (settings.host, settings.port) == ("127.0.0.1", 8123)


def test_the_secrets_never_appear_in_the_settings_repr() -> None:
    shown = repr(GatewaySettings.from_env(ENV))

    assert "whsec_new" not in shown and "crm-app-secret" not in shown


@pytest.mark.parametrize("missing", ["SYNC_BILLING_WEBHOOK_SECRETS", "SYNC_CRM_APP_SECRET"])
def test_a_missing_secret_stops_the_start_naming_the_variable(missing: str) -> None:
    env = {k: v for k, v in ENV.items() if k != missing}

    with pytest.raises(GatewayConfigError, match=missing):
        GatewaySettings.from_env(env)


def test_the_gateway_command_says_which_variable_to_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SYNC_BILLING_WEBHOOK_SECRETS", raising=False)

    assert main(["gateway", "--port", "8123"]) == 2
    assert "set SYNC_BILLING_WEBHOOK_SECRETS" in capsys.readouterr().err
