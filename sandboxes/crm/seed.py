"""The portal's first state, derived from the shared deterministic world.

Everything here depends on (seed, customers, anchor) only, never on the clock, so two fresh
state directories hold identical records. Rows go in with ``insert_many`` in id order so that
list order is id order, as on HubSpot.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sandboxes.crm.model import COMPANIES, CONTACTS, ObjectType, datetime_ms, iso_ms
from sandboxes.kit.store import SandboxStore
from sandboxes.kit.world import Company, World

_INDUSTRY = {
    "Analytics": "INFORMATION_TECHNOLOGY_AND_SERVICES",
    "Logistics": "LOGISTICS_AND_SUPPLY_CHAIN",
    "Software": "COMPUTER_SOFTWARE",
    "Systems": "COMPUTER_HARDWARE",
    "Foods": "FOOD_PRODUCTION",
    "Energy": "OIL_ENERGY",
    "Robotics": "MACHINERY",
    "Media": "MEDIA_PRODUCTION",
    "Health": "HOSPITAL_HEALTH_CARE",
    "Capital": "FINANCIAL_SERVICES",
    "Labs": "RESEARCH",
    "Networks": "TELECOMMUNICATIONS",
    "Studios": "ENTERTAINMENT",
    "Textiles": "TEXTILES",
    "Mining": "MINING_METALS",
}
_JOB_TITLES = {"billing": "Accounts Payable Manager", "sales": "Head of Procurement"}
Row = tuple[str, dict[str, Any]]


def contact_id(company: Company, n: int) -> str:
    return str(7_000_000_000 + company.index * 10 + n)


def seed_world(store: SandboxStore, world: World) -> dict[str, int]:
    """Write the world's CRM share in one transaction; returns what was written."""
    anchor_ms = datetime_ms(datetime(*world.anchor.timetuple()[:3], tzinfo=UTC))
    crm = [c for c in world.companies if c.in_crm]
    companies = [_company(c, world, anchor_ms) for c in crm]
    duplicates = [_duplicate(c, anchor_ms) for c in crm if c.crm_duplicate]
    contacts = [row for c in crm for row in _contacts(c, anchor_ms)]
    links = list(_associations(crm, world))
    with store.transaction():
        store.insert_many(COMPANIES.kind, companies + duplicates)
        store.insert_many(CONTACTS.kind, contacts)
        store.insert_many("assoc", links)
    return {
        "companies": len(companies) + len(duplicates),
        "contacts": len(contacts),
        "associations": len(links),
    }


def _doc(otype: ObjectType, object_id: str, props: dict[str, Any], created: int, mod: int) -> Row:
    properties: dict[str, Any] = dict.fromkeys(otype.properties)
    properties.update(props)
    properties.update(
        {
            "hs_object_id": object_id,
            "createdate": iso_ms(created),
            otype.modified_property: iso_ms(mod),
        }
    )
    doc = {
        "id": object_id,
        "properties": properties,
        "createdAt": iso_ms(created),
        "updatedAt": iso_ms(mod),
        "archived": False,
    }
    return object_id, doc


def _modified(index: int, created: int, anchor_ms: int) -> int:
    """A deterministic last edit between creation and the anchor."""
    span = max(anchor_ms - created, 1)
    return created + (index * 2_654_435_761) % span


def _company(c: Company, world: World, anchor_ms: int) -> Row:
    created = datetime_ms(c.created)
    parent = world.companies[c.parent_index] if c.parent_index is not None else None
    props = {
        "name": c.name,
        "domain": c.domain,
        "country": c.country,
        "state": c.state,
        "city": c.city,
        "zip": c.postal_code,
        "address": c.line1,
        "phone": c.contacts[0].phone,
        "industry": _INDUSTRY.get(c.name.split()[-2]),
        "lifecyclestage": "customer" if c.in_billing else ("lead", "opportunity")[c.index % 2],
        "hs_parent_company_id": parent.crm_company_id if parent and parent.in_crm else None,
        "vat_number": c.tax_id,  # invalid ids kept as typed; missing ones stay null
        "account_key": c.key,
        "billing_customer_id": c.billing_customer_id if c.billing_links_crm else None,
        "payment_terms": c.payment_terms,
        "region": c.region,
    }
    return _doc(COMPANIES, c.crm_company_id, props, created, _modified(c.index, created, anchor_ms))


def _duplicate(c: Company, anchor_ms: int) -> Row:
    """A rep's hand-made second record: other casing or a trailing space, ``www.`` domain."""
    created = min(datetime_ms(c.created) + 3 * 86_400_000, anchor_ms - 1)
    name = c.name.lower() if c.index % 2 == 0 else c.name + " "
    props = {
        "name": name,
        "domain": "www." + c.domain,
        "country": c.country,
        "city": c.city,
        "phone": c.contacts[0].phone,
        "lifecyclestage": "lead",
        "region": c.region,
    }
    modified = _modified(c.index + 7, created, anchor_ms)
    return _doc(COMPANIES, c.crm_duplicate_id, props, created, modified)


def _contacts(c: Company, anchor_ms: int) -> Iterator[Row]:
    for n, person in enumerate(c.contacts):
        created = datetime_ms(c.created) + (n + 1) * 60_000
        props = {
            "email": person.email.lower(),
            "firstname": person.first_name,
            "lastname": person.last_name,
            "phone": person.phone,
            "jobtitle": _JOB_TITLES.get(person.role, person.role),
            "company": c.name,
            "associatedcompanyid": c.crm_company_id,
            "lifecyclestage": "customer" if c.in_billing else "lead",
        }
        modified = _modified(c.index * 3 + n, created, anchor_ms)
        yield _doc(CONTACTS, contact_id(c, n), props, created, modified)


def _associations(crm: list[Company], world: World) -> Iterator[Row]:
    for c in crm:
        for n in range(len(c.contacts)):
            person = contact_id(c, n)
            yield _assoc("contacts", person, "companies", c.crm_company_id, [1, 279])
            yield _assoc("companies", c.crm_company_id, "contacts", person, [2, 280])
        if c.parent_index is not None and world.companies[c.parent_index].in_crm:
            parent = world.companies[c.parent_index].crm_company_id
            yield _assoc("companies", parent, "companies", c.crm_company_id, [13])
            yield _assoc("companies", c.crm_company_id, "companies", parent, [14])


def _assoc(from_name: str, from_id: str, to_name: str, to_id: str, types: list[int]) -> Row:
    return f"{from_name}:{from_id}:{to_name}:{to_id}", {"to": to_id, "types": types}
