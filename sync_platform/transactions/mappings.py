"""``config/posting.yaml``: how billing documents map onto ERP companies, lines and taxes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from resources.erp import MINOR_UNIT_EXPONENT
from sync_platform.config_files import ConfigError, load_config
from sync_platform.money import CurrencyCode, minor_unit_exponent
from sync_platform.settings import config_dir

ErpCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegionPosting(_Strict):
    erp_company: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
    local_currency: CurrencyCode
    currencies: tuple[CurrencyCode, ...] = Field(min_length=1)
    dimensions: dict[ErpCode, ErpCode] = {}


class LineTarget(_Strict):
    """Where a product's revenue goes: an ERP item or a G/L account (exactly one)."""

    item: ErpCode | None = None
    account: ErpCode | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> LineTarget:
        if (self.item is None) == (self.account is None):
            raise ValueError("give exactly one of item or account")
        return self

    @property
    def line_type(self) -> str:
        return "Item" if self.item is not None else "Account"

    @property
    def number(self) -> str:
        return self.item or self.account or ""


class PostingConfig(_Strict):
    regions: dict[str, RegionPosting] = Field(min_length=1)
    products: dict[str, LineTarget] = {}
    tax_rates: dict[str, dict[str, ErpCode]] = {}
    payment_journal: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10)
    ] = "SYNCPLAT"
    max_attempts: int = Field(default=3, ge=1, le=100)

    def unknown_regions(self) -> list[tuple[str, str]]:
        """(key, region) of every tax rate mapping that names a region not under regions."""
        return [
            (f"tax_rates.{rate}.{region}", region)
            for rate, by_region in self.tax_rates.items()
            for region in by_region
            if region not in self.regions
        ]

    def unsupported_currencies(self) -> list[tuple[str, str, int]]:
        """(key, currency, decimals) of every region currency whose minor units are not what
        the ERP client converts with."""
        keyed: list[tuple[str, str]] = []
        for name, region in self.regions.items():
            keyed.append((f"regions.{name}.local_currency", region.local_currency))
            keyed += [
                (f"regions.{name}.currencies[{i}]", code)
                for i, code in enumerate(region.currencies)
            ]
        decimals = [(key, code, minor_unit_exponent(code)) for key, code in keyed]
        return [found for found in decimals if found[2] != MINOR_UNIT_EXPONENT]

    def region(self, region: str) -> RegionPosting:
        try:
            return self.regions[region]
        except KeyError:
            raise KeyError(f"region {region!r} has no entry in the posting config") from None

    def tax_group(self, tax_rate_id: str, region: str) -> str | None:
        return self.tax_rates.get(tax_rate_id, {}).get(region)

    def line_target(self, product_id: str) -> LineTarget | None:
        return self.products.get(product_id)

    @classmethod
    def load(cls, path: Path | None = None) -> PostingConfig:
        path = path or config_dir() / "posting.yaml"
        config = load_config(path, cls)
        for key, region in config.unknown_regions():
            known = ", ".join(sorted(config.regions))
            raise ConfigError(path, key, region, f"not a region of this file (regions: {known})")
        for key, currency, decimals in config.unsupported_currencies():
            raise ConfigError(
                path,
                key,
                currency,
                f"has {decimals} decimals, but the ERP client converts minor units with "
                f"{MINOR_UNIT_EXPONENT} (resources/erp.py), so its amounts would post wrong",
            )
        return config
