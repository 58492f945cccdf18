"""What the CRM portal holds: object types, their properties, association types, timestamps.

The property set is what a real HubSpot portal of ours would have: HubSpot's defaults plus the
custom properties the integration relies on (``vat_number``, ``account_key`` ...).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

PORTAL_ID = 62_515_001
APP_ID = 1_160_452
# Ids handed out to records created through the API; above every seeded id so that list order
# (insertion order) stays id order, as on HubSpot.
NEW_ID_BASE = {"companies": 20_000_000_000, "contacts": 30_000_000_000}
LIFECYCLE_STAGES = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)


@dataclass(frozen=True)
class ObjectType:
    name: str  # path name: companies | contacts
    singular: str  # webhook prefix and v3 association type names: company | contact
    type_id: str  # HubSpot's object type id
    kind: str  # SandboxStore kind
    modified_property: str
    properties: dict[str, str]  # name -> type (string, number, datetime, enumeration)
    defaults: tuple[str, ...]  # returned when no properties are requested
    unique: tuple[str, ...]  # properties usable as idProperty (hasUniqueValue)
    searchable: tuple[str, ...]  # properties the free-text ``query`` matches
    label: str  # used in error messages, as HubSpot does (COMPANY, CONTACT)


_SYSTEM = {"hs_object_id": "number", "createdate": "datetime"}
COMPANIES = ObjectType(
    name="companies",
    singular="company",
    type_id="0-2",
    kind="company",
    modified_property="hs_lastmodifieddate",
    properties={
        **_SYSTEM,
        "hs_lastmodifieddate": "datetime",
        "name": "string",
        "domain": "string",
        "country": "string",
        "state": "string",
        "city": "string",
        "zip": "string",
        "address": "string",
        "phone": "string",
        "industry": "enumeration",
        "lifecyclestage": "enumeration",
        "hs_parent_company_id": "number",
        "vat_number": "string",
        "account_key": "string",
        "billing_customer_id": "string",
        "payment_terms": "enumeration",
        "region": "enumeration",
    },
    defaults=("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    # HubSpot's ``domain`` has no unique values; a portal makes a custom property unique.
    unique=("hs_object_id", "account_key"),
    searchable=("name", "domain", "phone", "account_key"),
    label="COMPANY",
)
CONTACTS = ObjectType(
    name="contacts",
    singular="contact",
    type_id="0-1",
    kind="contact",
    modified_property="lastmodifieddate",
    properties={
        **_SYSTEM,
        "lastmodifieddate": "datetime",
        "email": "string",
        "firstname": "string",
        "lastname": "string",
        "phone": "string",
        "jobtitle": "string",
        "company": "string",
        "associatedcompanyid": "number",
        "lifecyclestage": "enumeration",
    },
    defaults=(
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    ),
    unique=("hs_object_id", "email"),
    searchable=("firstname", "lastname", "email", "phone", "company"),
    label="CONTACT",
)
OBJECT_TYPES = {t.name: t for t in (COMPANIES, CONTACTS)}
_ALIASES = {
    "company": "companies",
    "0-2": "companies",
    "contact": "contacts",
    "0-1": "contacts",
}
READ_ONLY = frozenset({"hs_object_id", "hs_lastmodifieddate", "lastmodifieddate"})
PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,99}$")


def object_type(name: str) -> ObjectType | None:
    """HubSpot accepts the plural, the singular and the type id in paths."""
    key = name.lower()
    return OBJECT_TYPES.get(_ALIASES.get(key, key))


@dataclass(frozen=True)
class AssociationType:
    type_id: int
    label: str | None
    v3_name: str  # the ``type`` in v3 ``associations`` blocks


# HUBSPOT_DEFINED types by (from, to). The first is the default (unlabeled) association.
ASSOCIATION_TYPES: dict[tuple[str, str], tuple[AssociationType, ...]] = {
    ("contacts", "companies"): (
        AssociationType(279, None, "contact_to_company_unlabeled"),
        AssociationType(1, "Primary", "contact_to_company"),
    ),
    ("companies", "contacts"): (
        AssociationType(280, None, "company_to_contact_unlabeled"),
        AssociationType(2, "Primary", "company_to_contact"),
    ),
    ("companies", "companies"): (
        AssociationType(13, "Child Company", "parent_to_child_company"),
        AssociationType(14, "Parent Company", "child_to_parent_company"),
    ),
}
# The type each side gets when one side of a pair is written.
INVERSE_TYPE = {279: 280, 280: 279, 1: 2, 2: 1, 13: 14, 14: 13}


def association_type(from_type: str, to_type: str, type_id: int) -> AssociationType | None:
    for spec in ASSOCIATION_TYPES.get((from_type, to_type), ()):
        if spec.type_id == type_id:
            return spec
    return None


# -- timestamps ------------------------------------------------------------------------------
def now_ms() -> int:
    return time.time_ns() // 1_000_000


def iso_ms(ms: int) -> str:
    """HubSpot's timestamp format: ISO-8601 UTC with milliseconds and ``Z``."""
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def datetime_ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def parse_datetime_value(value: str) -> str | None:
    """A filter value for a datetime property (epoch ms or ISO-8601) in the stored format."""
    text = value.strip()
    if text.lstrip("-").isdigit():
        return iso_ms(int(text))
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return iso_ms(datetime_ms(dt))
