"""The parent account in the ERP: the customer's ``PARENT`` default dimension.

A Business Central customer has no parent field, so the hierarchy the CRM owns travels as a
default dimension whose value is the parent's ERP customer number. Dimension values are master
data that BC's API cannot create (``dimensionValues`` is read-only), so a parent whose number
has no value yet is not written: the customer waits with a reason that tells finance which
value to create, and the rest of its record is still synced.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

PARENT_DIMENSION = "PARENT"
PARENT_DIMENSION_VALUES = "parent_dimension_value"  # object type of their ERP snapshot


@dataclass(frozen=True)
class ParentChange:
    """The PARENT default dimension as it must be: a parent's ERP number, or None for none."""

    number: str | None


def current_parent(erp_record: Mapping[str, Any] | None) -> str | None:
    """The parent an ERP customer record (read with its default dimensions) names."""
    for dimension in (erp_record or {}).get("defaultDimensions") or ():
        if dimension.get("dimensionCode") == PARENT_DIMENSION:
            return dimension.get("dimensionValueCode") or None
    return None


def missing_value(number: str) -> str:
    return (
        f"dimension value {PARENT_DIMENSION}={number} missing in the ERP; create it so the "
        "parent account can be set"
    )


def plan_parent(
    wanted: str | None, erp_record: Mapping[str, Any] | None, parent_values: frozenset[str]
) -> ParentChange | str | None:
    """The change to make, a reason it cannot be made yet, or None when the ERP agrees.

    ``erp_record`` is None for a customer we are about to create."""
    if wanted == current_parent(erp_record):
        return None
    if wanted is not None and wanted not in parent_values:
        return missing_value(wanted)
    return ParentChange(wanted)


class ErpDefaultDimensions(Protocol):
    """What writing the parent needs from the ERP system API (``resources.erp.ErpResource``)."""

    def list_customer_default_dimensions(self, company_id: str, customer_id: str) -> Any: ...

    def find_dimension_value(
        self, company_id: str, dimension_code: str, value_code: str
    ) -> Any: ...

    def create_customer_default_dimension(
        self, company_id: str, customer_id: str, fields: Mapping[str, Any]
    ) -> Any: ...

    def update_customer_default_dimension(
        self, company_id: str, customer_id: str, dimension: Any, changes: Mapping[str, Any]
    ) -> Any: ...

    def delete_customer_default_dimension(
        self, company_id: str, customer_id: str, dimension: Any
    ) -> Any: ...


def apply_parent(
    erp: ErpDefaultDimensions,
    company_id: str,
    customer_id: str,
    change: ParentChange,
    precondition_failed: type[Exception],
) -> bool:
    """Bring the customer's PARENT default dimension in line; True if it wrote.

    It reads the customer's default dimensions before writing, so a repeat after a crash finds
    its own earlier write; a 412 means someone else changed it, so it reads and decides again.
    """
    for _ in range(2):
        try:
            return _write_parent(erp, company_id, customer_id, change)
        except precondition_failed:
            continue
    raise RuntimeError(
        f"the {PARENT_DIMENSION} default dimension of ERP customer {customer_id} kept changing "
        "under us (HTTP 412 twice)"
    )


def _write_parent(
    erp: ErpDefaultDimensions, company_id: str, customer_id: str, change: ParentChange
) -> bool:
    current = next(
        (
            d
            for d in erp.list_customer_default_dimensions(company_id, customer_id)
            if d.dimensionCode == PARENT_DIMENSION
        ),
        None,
    )
    have = (current.dimensionValueCode or None) if current is not None else None
    if have == change.number:
        return False
    if change.number is None:
        erp.delete_customer_default_dimension(company_id, customer_id, current)
        return True
    value = erp.find_dimension_value(company_id, PARENT_DIMENSION, change.number)
    if value is None:
        raise LookupError(missing_value(change.number))
    if current is None:
        fields = {"dimensionId": value.dimensionId, "dimensionValueId": value.id}
        erp.create_customer_default_dimension(company_id, customer_id, fields)
    else:
        changes = {"dimensionValueId": value.id}
        erp.update_customer_default_dimension(company_id, customer_id, current, changes)
    return True
