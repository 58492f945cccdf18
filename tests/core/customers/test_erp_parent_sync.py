"""The parent account reaches the ERP as the customer's PARENT default dimension: what the
plan decides (pure) and what applying writes, against an in-memory ERP and ledger."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from customer_factories import Conflict, FakeLedger, Record, berlin_customer

from sync_platform.customers.erp_mapping import erp_customer_fields
from sync_platform.customers.erp_parent import ParentChange
from sync_platform.customers.erp_sync import (
    ErpAction,
    ErpPlan,
    apply_erp_plan,
    erp_number_for,
    plan_erp_sync,
)
from sync_platform.customers.model import CanonicalCustomer

TERMS = {"NET30": "6f1b-net30"}
PARENT_ID = "cus-00000000-0000-4000-8000-000000000001"
CHILD_ID = "cus-00000000-0000-4000-8000-000000000002"


def parent(**changes: Any) -> CanonicalCustomer:
    fields: dict[str, Any] = {
        "canonical_id": PARENT_ID,
        "external_ids": {"crm": "5001", "billing": "cus_P", "erp": "C00010"},
        **changes,
    }
    return berlin_customer(**fields)


def child(**changes: Any) -> CanonicalCustomer:
    fields: dict[str, Any] = {
        "canonical_id": CHILD_ID,
        "external_ids": {"crm": "5002", "billing": "cus_C", "erp": "C00020"},
        "legal_name": "Nordwind Tochter GmbH",
        "parent_crm_company_id": "5001",
        **changes,
    }
    return berlin_customer(**fields)


def erp_record(customer: CanonicalCustomer, parent_number: str | None) -> dict[str, Any]:
    """The ERP's customer in line with ``customer``, with the PARENT dimension given."""
    dimensions = [{"dimensionCode": "REGION", "dimensionValueCode": "EMEA"}]
    if parent_number:
        dimensions.append({"dimensionCode": "PARENT", "dimensionValueCode": parent_number})
    return {
        "number": customer.external_ids["erp"],
        **erp_customer_fields(customer, TERMS),
        "defaultDimensions": dimensions,
    }


def plan(
    customers: list[CanonicalCustomer],
    erp: Mapping[str, Mapping[str, Any]],
    values: frozenset[str] = frozenset({"C00010", "C00099"}),
) -> ErpPlan:
    return plan_erp_sync(
        {c.canonical_id: c for c in customers},
        {c.canonical_id: 3 for c in customers},
        erp,
        TERMS,
        {},
        parent_values=values,
    )


def in_erp(*pairs: tuple[CanonicalCustomer, str | None]) -> dict[str, dict[str, Any]]:
    return {c.external_ids["erp"]: erp_record(c, number) for c, number in pairs}


# -- planning -----------------------------------------------------------------------------------
def test_a_customer_in_line_with_its_parent_needs_no_write() -> None:
    result = plan([parent(), child()], in_erp((parent(), None), (child(), "C00010")))

    assert result.actions == ()
    assert sorted(result.in_sync) == [PARENT_ID, CHILD_ID]


def test_a_new_parent_is_written_as_the_parents_erp_number() -> None:
    result = plan([parent(), child()], in_erp((parent(), None), (child(), "C00099")))

    assert result.actions == (
        ErpAction(CHILD_ID, "update", "C00020", {}, 3, ParentChange("C00010")),
    )
    assert result.actions[0].changes == ["defaultDimensions/PARENT"]


def test_a_created_customer_gets_its_parent_with_the_create() -> None:
    new_child = child(external_ids={"crm": "5002", "billing": "cus_C"})

    result = plan([parent(), new_child], in_erp((parent(), None)))

    (create,) = result.actions
    assert (create.kind, create.number) == ("create", erp_number_for(CHILD_ID))
    assert create.parent == ParentChange("C00010")


def test_a_parent_removed_in_the_crm_is_removed_in_the_erp() -> None:
    alone = child(parent_crm_company_id=None)

    result = plan([parent(), alone], in_erp((parent(), None), (alone, "C00010")))

    assert [(a.canonical_id, a.parent) for a in result.actions] == [(CHILD_ID, ParentChange(None))]


def test_a_customer_the_crm_does_not_know_keeps_the_erps_parent() -> None:
    billing_only = child(external_ids={"billing": "cus_C", "erp": "C00020"})

    result = plan([parent(), billing_only], in_erp((parent(), None), (billing_only, "C00099")))

    assert result.actions == ()


def test_a_parent_without_a_dimension_value_waits_and_the_rest_is_still_written() -> None:
    unlinked_parent = parent(external_ids={"crm": "5001", "billing": "cus_P"})
    renamed = child(invoice_delivery_email="ap@tochter.de")

    result = plan([unlinked_parent, renamed], in_erp((child(), None)), frozenset({"C00010"}))

    wanted = erp_number_for(PARENT_ID)
    assert f"dimension value PARENT={wanted} missing in the ERP" in result.waiting[CHILD_ID]
    update = next(a for a in result.actions if a.canonical_id == CHILD_ID)
    assert (update.fields, update.parent) == ({"email": "ap@tochter.de"}, None)
    assert CHILD_ID not in result.in_sync


def test_a_parent_outside_the_region_waits_with_its_crm_id() -> None:
    orphan = child(parent_crm_company_id="9999")

    result = plan([orphan], in_erp((orphan, None)))

    assert result.actions == ()
    assert "CRM company 9999" in result.waiting[CHILD_ID]


def test_the_parent_is_part_of_the_idempotency_payload() -> None:
    plain = ErpAction(CHILD_ID, "update", "C00020", {"email": "a@b.de"}, 3)
    with_parent = ErpAction(CHILD_ID, "update", "C00020", {"email": "a@b.de"}, 3, ParentChange("X"))
    removed = ErpAction(CHILD_ID, "update", "C00020", {"email": "a@b.de"}, 3, ParentChange(None))

    assert len({plain.payload_hash, with_parent.payload_hash, removed.payload_hash}) == 3
    assert plain.idempotency_key == with_parent.idempotency_key


# -- applying -----------------------------------------------------------------------------------
@dataclass
class Dimension:
    id: str
    dimensionId: str
    dimensionCode: str
    dimensionValueCode: str
    etag: str = "W/1"


@dataclass
class Value:
    id: str
    dimensionId: str
    code: str


@dataclass
class FakeErp:
    """Business Central as the sync sees it: customers by number, default dimensions by
    customer id, PARENT values; ``interleaved`` writers change a dimension before our PATCH."""

    values: dict[str, Value]
    customers: dict[str, Record] = field(default_factory=dict)
    dimensions: dict[str, list[Dimension]] = field(default_factory=dict)
    writes: list[tuple[str, str]] = field(default_factory=list)
    interleaved: int = 0

    def find_customer_by_number(self, company_id: str, number: str) -> Record | None:
        return self.customers.get(number)

    def create_customer(self, company_id: str, fields: Mapping[str, Any]) -> Record:
        record = Record(f"id-{fields['number']}", dict(fields))
        self.customers[fields["number"]] = record
        self.writes.append(("create customer", fields["number"]))
        return record

    def update_customer(self, company_id: str, customer: Any, changes: Mapping[str, Any]) -> Any:
        customer.fields.update(changes)
        self.writes.append(("update customer", customer.fields["number"]))
        return customer

    def list_customer_default_dimensions(self, company_id: str, customer_id: str) -> list[Any]:
        return [Dimension(**vars(d)) for d in self.dimensions.get(customer_id, [])]

    def find_dimension_value(self, company_id: str, code: str, value: str) -> Value | None:
        return self.values.get(value) if code == "PARENT" else None

    def create_customer_default_dimension(
        self, company_id: str, customer_id: str, fields: Mapping[str, Any]
    ) -> None:
        value = next(v for v in self.values.values() if v.id == fields["dimensionValueId"])
        dimension = Dimension(f"dd-{customer_id}", fields["dimensionId"], "PARENT", value.code)
        self.dimensions.setdefault(customer_id, []).append(dimension)
        self.writes.append(("create PARENT", value.code))

    def update_customer_default_dimension(
        self, company_id: str, customer_id: str, dimension: Any, changes: Mapping[str, Any]
    ) -> None:
        stored = self._stored(customer_id, dimension)
        if self.interleaved:
            self.interleaved -= 1
            stored.etag += "'"
        if stored.etag != dimension.etag:
            raise Conflict
        value = next(v for v in self.values.values() if v.id == changes["dimensionValueId"])
        stored.dimensionValueCode, stored.etag = value.code, stored.etag + "+"
        self.writes.append(("update PARENT", value.code))

    def delete_customer_default_dimension(
        self, company_id: str, customer_id: str, dimension: Any
    ) -> None:
        stored = self._stored(customer_id, dimension)
        if stored.etag != dimension.etag:
            raise Conflict
        self.dimensions[customer_id].remove(stored)
        self.writes.append(("delete PARENT", stored.dimensionValueCode))

    def _stored(self, customer_id: str, dimension: Any) -> Dimension:
        return next(d for d in self.dimensions[customer_id] if d.id == dimension.id)


@pytest.fixture
def erp() -> FakeErp:
    values = {code: Value(f"v-{code}", "d-parent", code) for code in ("C00010", "C00099")}
    return FakeErp(values, customers={"C00020": Record("id-C00020", {"number": "C00020"})})


def apply(action: ErpAction, erp: FakeErp, ledger: FakeLedger | None = None) -> Any:
    plan = ErpPlan(actions=(action,), in_sync=())
    return apply_erp_plan(plan, erp, "company", ledger or FakeLedger(), "corr-1", Conflict)


def set_parent(number: str | None) -> ErpAction:
    return ErpAction(CHILD_ID, "update", "C00020", {}, 3, ParentChange(number))


def test_a_parent_is_created_once_even_when_the_action_is_repeated(erp: FakeErp) -> None:
    first = apply(set_parent("C00010"), erp)
    again = apply(set_parent("C00010"), erp)  # a crash lost the ledger entry: read, then decide

    assert (first.updated, again.already_done) == ([CHILD_ID], [CHILD_ID])
    assert erp.writes == [("create PARENT", "C00010")]
    assert [d.dimensionValueCode for d in erp.dimensions["id-C00020"]] == ["C00010"]


def test_a_new_customer_is_created_then_given_its_parent(erp: FakeErp) -> None:
    create = ErpAction(CHILD_ID, "create", "SP-1", {"number": "SP-1"}, 3, ParentChange("C00010"))

    result = apply(create, erp)

    assert result.created == [CHILD_ID] and result.writes == 1
    assert erp.writes == [("create customer", "SP-1"), ("create PARENT", "C00010")]


def test_a_changed_parent_rereads_after_a_412_and_wins(erp: FakeErp) -> None:
    apply(set_parent("C00099"), erp)
    erp.interleaved = 1

    result = apply(set_parent("C00010"), erp)

    assert result.updated == [CHILD_ID]
    assert erp.writes[-1] == ("update PARENT", "C00010")
    assert erp.dimensions["id-C00020"][0].dimensionValueCode == "C00010"


def test_a_removed_parent_deletes_the_default_dimension(erp: FakeErp) -> None:
    apply(set_parent("C00010"), erp)

    result = apply(set_parent(None), erp)

    assert result.updated == [CHILD_ID]
    assert erp.dimensions["id-C00020"] == []


def test_a_value_deleted_since_the_plan_fails_with_the_reason(erp: FakeErp) -> None:
    ledger = FakeLedger()

    result = apply(set_parent("C00077"), erp, ledger)

    assert "dimension value PARENT=C00077 missing" in result.failed[CHILD_ID]
    assert [e.status for e in ledger.entries.values()] == ["failed"]
    assert erp.writes == []
