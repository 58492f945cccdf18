"""Where the platform's config files live, and the per-region operating modes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from sync_platform.config_files import load_config

Mode = Literal["read_only", "shadow", "live"]
Workflow = Literal["customers", "invoices", "payments", "credit_notes"]
REPO_CONFIG = Path(__file__).resolve().parents[1] / "config"


def config_dir() -> Path:
    """``SYNC_CONFIG_DIR`` if set, else the repository's ``config/``."""
    return Path(os.environ.get("SYNC_CONFIG_DIR") or REPO_CONFIG)


class Modes(BaseModel):
    """``config/modes.yaml``: read_only, shadow or live per region and workflow."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: Mode = "live"
    regions: dict[str, dict[Workflow, Mode]] = {}

    def mode_for(self, region: str, workflow: Workflow) -> Mode:
        return self.regions.get(region, {}).get(workflow, self.default)

    @classmethod
    def load(cls, path: Path | None = None) -> Modes:
        return load_config(path or config_dir() / "modes.yaml", cls)
