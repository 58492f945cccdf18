"""Where the platform's config files live, and the per-region operating modes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict

from sync_platform.config_files import load_config

Mode = Literal["read_only", "shadow", "live"]
Workflow = Literal["customers", "invoices", "payments", "credit_notes"]
REGIONS = ("na", "emea", "apac")
REPO_CONFIG = Path(__file__).resolve().parents[1] / "config"


def config_dir() -> Path:
    """``SYNC_CONFIG_DIR`` if set, else the repository's ``config/``."""
    return Path(os.environ.get("SYNC_CONFIG_DIR") or REPO_CONFIG)


def _known_region(name: str) -> str:
    # A misspelt region would otherwise fall back to the default mode, live, unnoticed.
    if name not in REGIONS:
        raise ValueError(f"unknown region; the regions are {', '.join(REGIONS)}")
    return name


Region = Annotated[str, AfterValidator(_known_region)]


class Modes(BaseModel):
    """``config/modes.yaml``: read_only, shadow or live per region and workflow."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: Mode = "live"
    regions: dict[Region, dict[Workflow, Mode]] = {}

    def mode_for(self, region: str, workflow: Workflow) -> Mode:
        return self.regions.get(region, {}).get(workflow, self.default)

    @classmethod
    def load(cls, path: Path | None = None) -> Modes:
        return load_config(path or config_dir() / "modes.yaml", cls)
