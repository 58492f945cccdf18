"""config/sla.yaml: the shipped SLAs load, and a bad file names the file, the key and the value."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from sync_platform.config_files import ConfigError
from sync_platform.settings import REPO_CONFIG
from sync_platform.transactions.sla import SlaConfig


def write_sla(folder: Path, text: str) -> Path:
    path = folder / "sla.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_slas_are_fifteen_minutes_to_post_and_an_hour_to_apply() -> None:
    sla = SlaConfig.load(REPO_CONFIG / "sla.yaml")

    assert sla.invoice_posted_within == timedelta(minutes=15)
    assert sla.payment_applied_within == timedelta(hours=1)


def test_the_config_folder_in_use_is_read_and_an_omitted_sla_keeps_its_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_sla(tmp_path, "payment_applied_within_minutes: 240\n")
    monkeypatch.setenv("SYNC_CONFIG_DIR", str(tmp_path))

    sla = SlaConfig.load()

    assert sla.payment_applied_within == timedelta(hours=4)
    assert sla.invoice_posted_within == timedelta(minutes=15)


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ("invoice_posted_within_minutes: 0\n", "invoice_posted_within_minutes", 0),
        ("payment_applied_within_minutes: 20000\n", "payment_applied_within_minutes", 20000),
        ("invoice_posted_within_minutes: soon\n", "invoice_posted_within_minutes", "soon"),
        ("invoice_posted_within: 15\n", "invoice_posted_within", 15),
    ],
)
def test_a_bad_sla_names_the_file_the_key_and_the_value(
    tmp_path: Path, text: str, key: str, value: object
) -> None:
    path = write_sla(tmp_path, text)

    with pytest.raises(ConfigError) as raised:
        SlaConfig.load(path)

    assert (raised.value.path, raised.value.key, raised.value.value) == (path, key, value)
    assert str(path) in str(raised.value) and key in str(raised.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        SlaConfig.load(tmp_path / "sla.yaml")

    assert raised.value.key == "<file>" and "cannot read" in str(raised.value)
