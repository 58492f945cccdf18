"""One canonical customer from the records the three systems hold of one account.

Each attribute takes its owner's value; other systems only fill gaps, and where they
disagree with the owner the disagreement is returned as a ``Conflict``, never applied.
The result depends only on the set of records, not on their order or on repeats.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from sync_platform.customers.compare import has_value, same_value
from sync_platform.customers.model import (
    CANONICAL_ATTRIBUTES,
    CanonicalCustomer,
    Lineage,
    SourceCustomer,
    System,
)
from sync_platform.customers.ownership import OwnershipRules


class Conflict(BaseModel):
    """A non-owner states a value for ``attribute`` that differs from the owner's."""

    model_config = ConfigDict(frozen=True)

    canonical_id: str
    attribute: str
    owner_system: System
    owner_value: Any
    other_system: System
    other_record_id: str
    other_value: Any


class MergeResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    customer: CanonicalCustomer
    conflicts: tuple[Conflict, ...]


def merge_customer(
    canonical_id: str,
    region: str,
    sources: Sequence[SourceCustomer],
    rules: OwnershipRules,
) -> MergeResult:
    current = current_records(sources)
    values: dict[str, Any] = {}
    lineage: dict[str, Lineage] = {}
    conflicts: list[Conflict] = []
    for attribute in CANONICAL_ATTRIBUTES:
        supplier = _supplier(attribute, current, rules)
        if supplier is None:
            continue
        values[attribute] = supplier.attributes[attribute]
        lineage[attribute] = _lineage(supplier)
        if supplier.system == rules.owner_of(attribute):
            conflicts.extend(_conflicts(canonical_id, attribute, supplier, current.values()))
    customer = CanonicalCustomer(
        canonical_id=canonical_id,
        region=region,
        external_ids={system: record.record_id for system, record in current.items()},
        lineage=lineage,
        **values,
    )
    return MergeResult(customer=customer, conflicts=tuple(conflicts))


def current_records(sources: Iterable[SourceCustomer]) -> dict[System, SourceCustomer]:
    """Per system, the record that counts: highest version, then highest record id."""
    current: dict[System, SourceCustomer] = {}
    for record in sources:
        held = current.get(record.system)
        if held is None or record.recency() > held.recency():
            current[record.system] = record
    return current


def _supplier(
    attribute: str, current: dict[System, SourceCustomer], rules: OwnershipRules
) -> SourceCustomer | None:
    for system in rules.sources_for(attribute):
        record = current.get(system)
        if record is not None and has_value(record.attributes.get(attribute)):
            return record
    return None


def _conflicts(
    canonical_id: str,
    attribute: str,
    owner: SourceCustomer,
    records: Iterable[SourceCustomer],
) -> Iterable[Conflict]:
    owner_value = owner.attributes[attribute]
    for other in sorted(records, key=lambda record: record.system):
        other_value = other.attributes.get(attribute)
        if other is owner or not has_value(other_value) or same_value(owner_value, other_value):
            continue
        yield Conflict(
            canonical_id=canonical_id,
            attribute=attribute,
            owner_system=owner.system,
            owner_value=owner_value,
            other_system=other.system,
            other_record_id=other.record_id,
            other_value=other_value,
        )


def _lineage(record: SourceCustomer) -> Lineage:
    return Lineage(
        system=record.system,
        record_id=record.record_id,
        version=record.version,
        observed_at=record.modified_at,
    )
