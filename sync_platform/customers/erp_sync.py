"""Bringing ERP customers in line with the canonical set: plan (pure), then apply.

The plan compares each syncable canonical customer with the ERP record it is linked to and
lists the creates and the field updates, the parent account (``erp_parent``) included: a
customer's action also sets, changes or removes its PARENT default dimension, so one action
per customer still says everything written to it. Applying runs each through the write
ledger with an idempotency key of (canonical id, revision); a create first searches the ERP
by the customer number we derive from the canonical id, so a crash between the ERP write and
our commit cannot create a second customer. Updates carry the ETag read; a 412 re-reads and
re-plans.

When the change policy decided ``new_ship_to`` (the billing address changed after an invoice
was posted), the ERP customer keeps its own address, the one on its posted invoices, and the
new address goes to a ship-to address of that customer instead (``ship_to_for``), created by
the same action: searched first by (customer number, code), where the code is derived from
the address, so a repeat finds it. The ERP owns ship-tos once they exist (``ship_to`` in
``config/ownership.yaml``): we create them, never change them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from sync_platform.customers.compare import comparable
from sync_platform.customers.erp_mapping import erp_changes, erp_customer_fields
from sync_platform.customers.erp_parent import (
    ErpDefaultDimensions,
    ParentChange,
    apply_parent,
    plan_parent,
)
from sync_platform.customers.model import CanonicalCustomer
from sync_platform.hashing import content_hash

Mode = Literal["read_only", "shadow", "live"]
ActionKind = Literal["create", "update"]
ADDRESS_FIELDS = ("addressLine1", "addressLine2", "city", "state", "country", "postalCode")
# ERP fields written from each canonical attribute; where the ERP owns the attribute we only
# ever set the field when we create the customer, never overwrite it afterwards.
ERP_FIELDS_OF = {
    "legal_name": ("displayName",),
    "tax_registrations": ("taxRegistrationNumber",),
    "payment_terms": ("paymentTermsId",),
    "bill_to": ADDRESS_FIELDS,
    "currency": ("currencyCode",),
    "invoice_delivery_email": ("email",),
    "billing_contacts": ("phoneNumber",),
}


def fields_owned_by_erp(owner_of: Callable[[str], str]) -> frozenset[str]:
    return frozenset(
        f
        for attribute, fields in ERP_FIELDS_OF.items()
        if owner_of(attribute) == "erp"
        for f in fields
    )


@dataclass(frozen=True)
class ShipToAddress:
    """A ship-to address an ERP customer must have: ``code`` is derived from the address."""

    customer_number: str
    code: str
    fields: dict[str, Any]  # name and address, as the companion API's shipToAddress names them

    def body(self) -> dict[str, Any]:
        return {"customerNumber": self.customer_number, "code": self.code, **self.fields}


@dataclass(frozen=True)
class ErpAction:
    canonical_id: str
    kind: ActionKind
    number: str
    fields: dict[str, Any]
    revision: int
    parent: ParentChange | None = None  # None: the parent account stays as it is
    ship_to: ShipToAddress | None = None  # a ship-to to create for the customer

    @property
    def idempotency_key(self) -> str:
        return f"erp:customer:{self.kind}:{self.canonical_id}:{self.revision}"

    @property
    def payload_hash(self) -> str:
        if self.parent is None and self.ship_to is None:
            return content_hash(self.fields)
        document: dict[str, Any] = {"fields": self.fields}
        if self.parent is not None:
            document["parent"] = self.parent.number
        if self.ship_to is not None:
            document["ship_to"] = self.ship_to.body()
        return content_hash(document)

    @property
    def changes(self) -> list[str]:
        """What the action writes, by ERP field name, for reports."""
        parent = ["defaultDimensions/PARENT"] if self.parent else []
        ship_to = [f"shipToAddresses/{self.ship_to.code}"] if self.ship_to else []
        return sorted(self.fields) + parent + ship_to


@dataclass(frozen=True)
class ErpPlan:
    actions: tuple[ErpAction, ...]
    in_sync: tuple[str, ...]
    waiting: dict[str, str] = field(default_factory=dict)  # canonical id → why not now
    # Customers whose billing address goes to a ship-to → that ship-to (to create, or there
    # already), or None when none is needed: the ERP customer's own address is that address.
    ship_tos: dict[str, ShipToAddress | None] = field(default_factory=dict)


def erp_number_for(canonical_id: str) -> str:
    """The ERP customer number of a customer we create: stable, short enough (20) for BC."""
    return "SP-" + uuid.UUID(canonical_id.removeprefix("cus-")).hex[:12].upper()


def record_digest(customer: CanonicalCustomer) -> str:
    """What a review or a ledger key refers to: the record's content, lineage aside."""
    return content_hash(customer.model_dump(mode="json", exclude={"lineage"}))


def ship_to_code(customer: CanonicalCustomer) -> str:
    """The ship-to code (BC Code[10]) of the customer's billing address: ``SP`` and six hex
    digits of the address's content, so the same address always gets the same code and a
    search finds a ship-to made before; case and spacing do not count."""
    return "SP" + content_hash(comparable(customer.bill_to))[:6].upper()


def ship_to_for(
    customer: CanonicalCustomer,
    number: str,
    desired: Mapping[str, Any],
    erp_record: Mapping[str, Any],
) -> ShipToAddress | None:
    """The ship-to that holds the customer's billing address, or None when none is needed:
    there is no address, or the ERP customer's own address already is this one."""
    address = {k: desired[k] for k in ADDRESS_FIELDS if k in desired}
    if not address or not erp_changes(erp_record, address):
        return None
    name = {"name": desired["displayName"]} if desired.get("displayName") else {}
    return ShipToAddress(number, ship_to_code(customer), {**name, **address})


def plan_erp_sync(
    customers: Mapping[str, CanonicalCustomer],
    revisions: Mapping[str, int],
    erp_records: Mapping[str, Mapping[str, Any]],
    payment_terms_ids: Mapping[str, str],
    waiting: Mapping[str, str],
    keep_address: frozenset[str] = frozenset(),
    erp_owned_fields: frozenset[str] = frozenset(),
    parent_values: frozenset[str] = frozenset(),
    ship_to_customers: frozenset[str] = frozenset(),
    erp_ship_to_codes: Mapping[str, frozenset[str]] | None = None,
) -> ErpPlan:
    """``erp_records`` by customer number, read with their default dimensions; ``waiting``
    lists customers held back and why; ``keep_address`` customers keep the ERP's address (a
    new ship-to was decided instead); ``parent_values`` are the ERP's PARENT dimension values;
    ``ship_to_customers`` get a ship-to holding their billing address unless
    ``erp_ship_to_codes`` (customer number → codes of its ship-tos) shows it is there.

    A customer whose parent cannot be written yet still gets its other fields, and waits."""
    actions: list[ErpAction] = []
    in_sync: list[str] = []
    ship_tos: dict[str, ShipToAddress | None] = {}
    held = dict(waiting)
    parents = {c.external_ids["crm"]: c for c in customers.values() if "crm" in c.external_ids}
    for cid in sorted(customers):
        if cid in held:
            continue
        customer = customers[cid]
        try:
            desired = erp_customer_fields(customer, payment_terms_ids)
        except LookupError as exc:
            held[cid] = str(exc)
            continue
        # A customer we created carries the number we derived, until the ERP is read again.
        number = customer.external_ids.get("erp") or erp_number_for(cid)
        current = erp_records.get(number)
        parent = _parent_step(customer, parents, current, parent_values)
        if isinstance(parent, str):
            held[cid], parent = parent, None
        revision = revisions.get(cid, 0)
        if current is None:
            fields = {"number": number, **desired}
            actions.append(ErpAction(cid, "create", number, fields, revision, parent))
            continue
        changes = {
            k: v for k, v in erp_changes(current, desired).items() if k not in erp_owned_fields
        }
        if cid in keep_address:
            changes = {k: v for k, v in changes.items() if k not in ADDRESS_FIELDS}
        new_ship_to = None
        if cid in ship_to_customers:
            wanted = ship_tos[cid] = ship_to_for(customer, number, desired, current)
            existing = (erp_ship_to_codes or {}).get(number, frozenset())
            if wanted is not None and wanted.code not in existing:
                new_ship_to = wanted
        if changes or parent is not None or new_ship_to is not None:
            actions.append(ErpAction(cid, "update", number, changes, revision, parent, new_ship_to))
        elif cid not in held:
            in_sync.append(cid)
    return ErpPlan(actions=tuple(actions), in_sync=tuple(in_sync), waiting=held, ship_tos=ship_tos)


def _parent_step(
    customer: CanonicalCustomer,
    parents: Mapping[str, CanonicalCustomer],
    erp_record: Mapping[str, Any] | None,
    parent_values: frozenset[str],
) -> ParentChange | str | None:
    """The parent change to write, why it must wait, or None. The CRM owns the hierarchy, so
    a customer the CRM does not know keeps whatever parent the ERP holds."""
    if "crm" not in customer.external_ids:
        return None
    wanted = None
    if customer.parent_crm_company_id:
        parent = parents.get(customer.parent_crm_company_id)
        if parent is None:
            return (
                f"its parent account (CRM company {customer.parent_crm_company_id}) is not a "
                f"customer of region {customer.region}"
            )
        wanted = parent.external_ids.get("erp") or erp_number_for(parent.canonical_id)
    return plan_parent(wanted, erp_record, parent_values)


class ErpShipTos(Protocol):
    """What creating a ship-to needs (``resources.erp.ErpResource``, companion extension API)."""

    def list_ship_to_addresses(self, company_id: str, customer_number: str | None) -> Any: ...

    def create_ship_to_address(self, company_id: str, fields: Mapping[str, Any]) -> Any: ...


class ErpCustomers(ErpDefaultDimensions, ErpShipTos, Protocol):
    """What applying needs from the ERP system API (``resources.erp.ErpResource``)."""

    def find_customer_by_number(self, company_id: str, number: str) -> Any: ...

    def create_customer(self, company_id: str, fields: Mapping[str, Any]) -> Any: ...

    def update_customer(
        self, company_id: str, customer: Any, changes: Mapping[str, Any]
    ) -> Any: ...


class Ledger(Protocol):
    """The write ledger (``sync_platform.store.Store``)."""

    def begin_write(
        self,
        key: str,
        system: str,
        object_type: str,
        operation: str,
        source_version: str,
        correlation_id: str,
        payload_hash: str,
    ) -> Any: ...

    def complete_write(self, key: str, object_id: str | None, response: Any) -> Any: ...

    def fail_write(self, key: str, error: str) -> Any: ...


@dataclass
class ApplyResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    already_done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    ship_tos_created: list[str] = field(default_factory=list)  # canonical ids

    @property
    def writes(self) -> int:
        return len(self.created) + len(self.updated)


def apply_erp_plan(
    plan: ErpPlan,
    erp: ErpCustomers,
    company_id: str,
    ledger: Ledger,
    correlation_id: str,
    precondition_failed: type[Exception],
) -> ApplyResult:
    """Apply every action once; each outcome is in the ledger, failures do not stop others."""
    result = ApplyResult()
    for action in plan.actions:
        key = f"{action.idempotency_key}:{action.payload_hash[:16]}"
        entry = ledger.begin_write(
            key,
            "erp",
            "customer",
            action.kind,
            str(action.revision),
            correlation_id,
            action.payload_hash,
        )
        if entry.status == "succeeded":
            result.already_done.append(action.canonical_id)
            continue
        try:
            outcome, ship_to_created = _apply_one(action, erp, company_id, precondition_failed)
        except Exception as exc:
            ledger.fail_write(key, f"{type(exc).__name__}: {exc}")
            result.failed[action.canonical_id] = str(exc)
            continue
        response: dict[str, Any] = {"outcome": outcome, "fields": action.fields}
        if action.parent is not None:
            response["parent"] = action.parent.number
        if action.ship_to is not None:
            response["ship_to"] = {**action.ship_to.body(), "created": ship_to_created}
        if ship_to_created:
            result.ship_tos_created.append(action.canonical_id)
        ledger.complete_write(key, action.number, response)
        if outcome == "created":
            result.created.append(action.canonical_id)
        elif outcome == "updated":
            result.updated.append(action.canonical_id)
        else:
            result.already_done.append(action.canonical_id)
    return result


def _apply_one(
    action: ErpAction, erp: ErpCustomers, company_id: str, precondition_failed: type[Exception]
) -> tuple[str, bool]:
    """The outcome for the customer, and whether a ship-to was created."""
    customer, outcome = _write_customer(action, erp, company_id, precondition_failed)
    wrote = False
    if action.parent is not None:
        wrote = apply_parent(erp, company_id, customer.id, action.parent, precondition_failed)
    created = action.ship_to is not None and _create_ship_to(erp, company_id, action.ship_to)
    wrote = wrote or created
    return ("updated" if wrote and outcome == "in_sync" else outcome), created


def _create_ship_to(erp: ErpShipTos, company_id: str, ship_to: ShipToAddress) -> bool:
    """Search by (customer number, code), then create; False if it was there already (a
    repeat after a crash, or someone made it)."""
    existing = erp.list_ship_to_addresses(company_id, ship_to.customer_number)
    if any(str(a.code).upper() == ship_to.code for a in existing):
        return False
    erp.create_ship_to_address(company_id, ship_to.body())
    return True


def _write_customer(
    action: ErpAction, erp: ErpCustomers, company_id: str, precondition_failed: type[Exception]
) -> tuple[Any, str]:
    """The ERP customer after the write, and the outcome."""
    for _ in range(2):  # a 412 means someone else wrote: read again and decide again, once
        existing = erp.find_customer_by_number(company_id, action.number)
        if existing is None:
            if action.kind == "update":
                raise LookupError(
                    f"ERP customer {action.number} no longer exists; it was deleted outside "
                    "the platform"
                )
            return erp.create_customer(company_id, action.fields), "created"
        current = existing.model_dump(by_alias=True, mode="json")
        changes = erp_changes(current, {k: v for k, v in action.fields.items() if k != "number"})
        if not changes:
            return existing, "in_sync"
        try:
            return erp.update_customer(company_id, existing, changes), "updated"
        except precondition_failed:
            continue
    raise RuntimeError(f"ERP customer {action.number} kept changing under us (HTTP 412 twice)")
