"""modes.yaml: a mode per region and workflow, read from the config folder in use; a file
that does not say exactly that is refused with the file, the key and the value."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sync_platform.config_files import ConfigError
from sync_platform.settings import REGIONS, REPO_CONFIG, Modes, config_dir


def write_modes(folder: Path, document: object) -> Path:
    path = folder / "modes.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def test_the_repository_modes_load_and_every_region_is_live() -> None:
    modes = Modes.load(REPO_CONFIG / "modes.yaml")

    assert {modes.mode_for(region, "customers") for region in REGIONS} == {"live"}


def test_a_region_and_workflow_take_their_own_mode_and_the_rest_the_default(
    tmp_path: Path,
) -> None:
    path = write_modes(
        tmp_path,
        {
            "default": "read_only",
            "regions": {"emea": {"customers": "shadow"}, "apac": {"invoices": "live"}},
        },
    )
    modes = Modes.load(path)

    assert modes.mode_for("emea", "customers") == "shadow"
    assert modes.mode_for("emea", "invoices") == "read_only"
    assert modes.mode_for("apac", "invoices") == "live"
    assert modes.mode_for("na", "customers") == "read_only"


def test_sync_config_dir_chooses_the_file_that_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_modes(tmp_path, {"regions": {"apac": {"customers": "read_only"}}})
    monkeypatch.setenv("SYNC_CONFIG_DIR", str(tmp_path))

    assert config_dir() == tmp_path
    assert Modes.load().mode_for("apac", "customers") == "read_only"


@pytest.mark.parametrize(
    ("document", "key", "value"),
    [
        ({"regions": {"emea": {"customers": "shadw"}}}, "regions.emea.customers", "shadw"),
        ({"regions": {"emea": {"custmers": "shadow"}}}, "regions.emea.custmers", "custmers"),
        # A misspelt region must not silently leave the real one on the default, live.
        ({"regions": {"emae": {"customers": "shadow"}}}, "regions.emae", "emae"),
        ({"default": "dry_run"}, "default", "dry_run"),
        (
            {"region": {"emea": {"customers": "shadow"}}},
            "region",
            {"emea": {"customers": "shadow"}},
        ),
    ],
)
def test_a_bad_modes_file_names_file_key_and_value(
    tmp_path: Path, document: object, key: str, value: object
) -> None:
    path = write_modes(tmp_path, document)

    with pytest.raises(ConfigError) as raised:
        Modes.load(path)

    assert (raised.value.path, raised.value.key, raised.value.value) == (path, key, value)
    assert str(path) in str(raised.value) and key in str(raised.value)
    assert repr(value) in str(raised.value)
