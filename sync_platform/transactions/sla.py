"""``config/sla.yaml``: how soon billing documents must be in the ERP."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from sync_platform.config_files import load_config
from sync_platform.settings import config_dir

WEEK_IN_MINUTES = 7 * 24 * 60


class SlaConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    invoice_posted_within_minutes: int = Field(default=15, ge=1, le=WEEK_IN_MINUTES)
    payment_applied_within_minutes: int = Field(default=60, ge=1, le=WEEK_IN_MINUTES)

    @property
    def invoice_posted_within(self) -> timedelta:
        """From an invoice's finalization in billing to its posting in the ERP."""
        return timedelta(minutes=self.invoice_posted_within_minutes)

    @property
    def payment_applied_within(self) -> timedelta:
        """From a payment's settlement in billing to its application in the ERP."""
        return timedelta(minutes=self.payment_applied_within_minutes)

    @classmethod
    def load(cls, path: Path | None = None) -> SlaConfig:
        return load_config(path or config_dir() / "sla.yaml", cls)
