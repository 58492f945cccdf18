"""Which system owns each canonical attribute, as ``config/ownership.yaml`` says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, create_model, field_validator

from sync_platform.config_files import load_config
from sync_platform.customers.model import CANONICAL_ATTRIBUTES, SYSTEMS, System

# One required field per canonical attribute: a missing or unknown attribute is then an error
# that names the attribute, instead of a silent default.
_OWNER_FIELDS: dict[str, Any] = {name: (System, ...) for name in CANONICAL_ATTRIBUTES}
_Owners = create_model(
    "Owners", __config__=ConfigDict(extra="forbid", frozen=True), **_OWNER_FIELDS
)


class OwnershipRules(BaseModel):
    """``owners``: attribute → owning system; ``fallback_order``: who speaks when it is silent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    owners: _Owners
    fallback_order: tuple[System, ...]

    @field_validator("fallback_order")
    @classmethod
    def _every_system_once(cls, order: tuple[System, ...]) -> tuple[System, ...]:
        if sorted(order) != sorted(SYSTEMS):
            raise ValueError(f"must list each of {list(SYSTEMS)} exactly once")
        return order

    @classmethod
    def load(cls, path: Path | str) -> OwnershipRules:
        return load_config(path, cls)

    def owner_of(self, attribute: str) -> System:
        if attribute not in CANONICAL_ATTRIBUTES:
            raise KeyError(f"{attribute!r} is not a canonical attribute")
        owner: System = getattr(self.owners, attribute)
        return owner

    def sources_for(self, attribute: str) -> tuple[System, ...]:
        """The systems asked for ``attribute``, in order: its owner, then the fallback order."""
        owner = self.owner_of(attribute)
        return (owner, *(system for system in self.fallback_order if system != owner))
