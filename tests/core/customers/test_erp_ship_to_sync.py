"""A billing address that the change policy sends to a new ship-to: what the plan decides (pure)
and what applying writes, against an in-memory ERP and ledger. The ERP customer keeps its own
address, the one on its posted invoices; the new one goes to a ship-to whose code comes from
the address, so a repeat finds it instead of making a second."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from customer_factories import Conflict, FakeLedger, Record, berlin_customer

from sync_platform.customers.erp_mapping import erp_customer_fields
from sync_platform.customers.erp_sync import (
    ErpAction,
    ErpPlan,
    ShipToAddress,
    apply_erp_plan,
    plan_erp_sync,
    ship_to_code,
)
from sync_platform.customers.model import Address, CanonicalCustomer
from sync_platform.hashing import content_hash

TERMS = {"NET30": "6f1b-net30"}
CID = "cus-1"
NUMBER = "C00010"
INVOICED = berlin_customer()  # the address on the posted invoices, and the ERP's
MOVED = Address(
    line1="Friedrichstr. 10", city="Berlin", postal_code="10117", subdivision="DE-BE", country="DE"
)


def erp_record(customer: CanonicalCustomer) -> dict[str, Any]:
    return {"number": NUMBER, **erp_customer_fields(customer, TERMS)}


def plan(
    customer: CanonicalCustomer,
    erp: CanonicalCustomer = INVOICED,
    codes: frozenset[str] = frozenset(),
    decided: bool = True,
) -> ErpPlan:
    """The plan for ``customer`` against an ERP holding ``erp``; ``decided``: the policy chose
    new_ship_to for it (its address is kept and goes to a ship-to)."""
    chosen = frozenset({CID}) if decided else frozenset()
    return plan_erp_sync(
        {CID: customer},
        {CID: 4},
        {NUMBER: erp_record(erp)},
        TERMS,
        {},
        keep_address=chosen,
        ship_to_customers=chosen,
        erp_ship_to_codes={NUMBER: codes},
    )


# -- planning -----------------------------------------------------------------------------------
def test_the_new_billing_address_goes_to_a_ship_to_and_the_customer_keeps_its_own() -> None:
    moved = berlin_customer(bill_to=MOVED)

    result = plan(moved)

    (action,) = result.actions
    assert (action.kind, action.number, action.fields, action.parent) == (
        "update",
        NUMBER,
        {},
        None,
    )
    assert action.ship_to == ShipToAddress(
        NUMBER,
        ship_to_code(moved),
        {
            "name": "Nordwind Analytics GmbH",
            "addressLine1": "Friedrichstr. 10",
            "city": "Berlin",
            "state": "BE",
            "country": "DE",
            "postalCode": "10117",
        },
    )
    assert action.changes == [f"shipToAddresses/{ship_to_code(moved)}"]
    assert result.ship_tos == {CID: action.ship_to}


def test_a_ship_to_the_erp_has_is_not_created_again() -> None:
    moved = berlin_customer(bill_to=MOVED)

    result = plan(moved, codes=frozenset({"MAIN", ship_to_code(moved)}))

    assert result.actions == ()
    assert result.in_sync == (CID,)
    assert result.ship_tos[CID] is not None and result.ship_tos[CID].code == ship_to_code(moved)


def test_no_ship_to_is_needed_when_the_erp_customer_already_has_the_address() -> None:
    moved = berlin_customer(bill_to=MOVED)

    result = plan(moved, erp=moved)

    assert result.actions == () and result.in_sync == (CID,)
    assert result.ship_tos == {CID: None}


def test_other_changes_are_still_written_beside_the_ship_to() -> None:
    moved = berlin_customer(bill_to=MOVED, invoice_delivery_email="ap@nordwind.de")

    (action,) = plan(moved).actions

    assert action.fields == {"email": "ap@nordwind.de"}
    assert action.changes == ["email", f"shipToAddresses/{ship_to_code(moved)}"]


def test_without_a_new_ship_to_decision_the_address_is_written_to_the_customer() -> None:
    (action,) = plan(berlin_customer(bill_to=MOVED), decided=False).actions

    assert action.ship_to is None
    assert action.fields["addressLine1"] == "Friedrichstr. 10"


def test_the_code_names_the_address_whatever_its_case_or_spacing() -> None:
    code = ship_to_code(berlin_customer(bill_to=MOVED))
    shouted = MOVED.model_copy(update={"line1": "FRIEDRICHSTR.  10", "city": "BERLIN"})
    elsewhere = MOVED.model_copy(update={"line1": "Friedrichstr. 12"})

    assert re.fullmatch(r"SP[0-9A-F]{6}", code)  # fits Business Central's Code[10]
    assert ship_to_code(berlin_customer(bill_to=shouted)) == code
    assert ship_to_code(berlin_customer(bill_to=elsewhere)) != code
    assert ship_to_code(berlin_customer(bill_to=MOVED, legal_name="Renamed GmbH")) == code


def test_the_ship_to_is_part_of_the_idempotency_payload() -> None:
    site = ShipToAddress(NUMBER, "SP000001", {"city": "Berlin"})
    plain = ErpAction(CID, "update", NUMBER, {"email": "a@b.de"}, 4)
    with_site = ErpAction(CID, "update", NUMBER, {"email": "a@b.de"}, 4, ship_to=site)

    assert plain.payload_hash == content_hash({"email": "a@b.de"})  # unchanged for old rows
    assert with_site.payload_hash != plain.payload_hash
    assert with_site.idempotency_key == plain.idempotency_key


# -- applying -----------------------------------------------------------------------------------
@dataclass
class Site:
    customerNumber: str
    code: str


@dataclass
class FakeErp:
    """Business Central as the ship-to step sees it: customers by number, ship-tos."""

    customers: dict[str, Record]
    sites: list[Site] = field(default_factory=list)
    writes: list[tuple[str, str]] = field(default_factory=list)

    def find_customer_by_number(self, company_id: str, number: str) -> Record | None:
        return self.customers.get(number)

    def update_customer(self, company_id: str, customer: Any, changes: Mapping[str, Any]) -> Any:
        customer.fields.update(changes)
        self.writes.append(("update customer", customer.fields["number"]))
        return customer

    def list_ship_to_addresses(self, company_id: str, customer_number: str | None) -> list[Site]:
        return [s for s in self.sites if s.customerNumber == customer_number]

    def create_ship_to_address(self, company_id: str, fields: Mapping[str, Any]) -> Site:
        site = Site(fields["customerNumber"], fields["code"])
        self.sites.append(site)
        self.writes.append(("create ship-to", fields["code"]))
        return site


def apply(action_plan: ErpPlan, erp: FakeErp, ledger: FakeLedger) -> Any:
    return apply_erp_plan(action_plan, erp, "company", ledger, "corr-1", Conflict)


def invoiced_erp() -> FakeErp:
    return FakeErp({NUMBER: Record("id-C00010", erp_record(INVOICED))})


def test_applying_creates_the_ship_to_once_and_leaves_the_customer_alone() -> None:
    moved_plan = plan(berlin_customer(bill_to=MOVED))
    erp, ledger = invoiced_erp(), FakeLedger()

    first = apply(moved_plan, erp, ledger)
    again = apply(moved_plan, erp, ledger)  # the next run, before the ERP is read again

    code = ship_to_code(berlin_customer(bill_to=MOVED))
    assert (first.updated, first.ship_tos_created, first.writes) == ([CID], [CID], 1)
    assert (again.already_done, again.writes) == ([CID], 0)
    assert erp.writes == [("create ship-to", code)]
    assert erp.customers[NUMBER].fields["addressLine1"] == "Unter den Linden 1"
    assert [e.status for e in ledger.entries.values()] == ["succeeded"]


def test_a_ship_to_made_before_a_crash_is_found_not_made_twice() -> None:
    moved_plan = plan(berlin_customer(bill_to=MOVED))
    erp = invoiced_erp()
    apply(moved_plan, erp, FakeLedger())

    repeat = apply(moved_plan, erp, FakeLedger())  # the ledger row was lost with the crash

    assert (repeat.already_done, repeat.ship_tos_created) == ([CID], [])
    assert len(erp.sites) == 1
