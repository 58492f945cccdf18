"""Building blocks for the customer core tests: records, the repository's config files, and
hypothesis strategies that produce records which agree, disagree and repeat."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from sync_platform.customers.model import (
    CANONICAL_ATTRIBUTES,
    SYSTEMS,
    Address,
    CanonicalCustomer,
    Contact,
    SourceCustomer,
    System,
    TaxRegistration,
    tax_registration,
)

CONFIG_DIR = Path(__file__).resolve().parents[3] / "config"
OWNERSHIP_FILE = CONFIG_DIR / "ownership.yaml"
POLICY_FILE = CONFIG_DIR / "customer_change_policy.yaml"

MODIFIED = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

# Valid numbers (python-stdnum accepts them); the ERP tests use them as real customers would.
DE_VAT = "DE136695976"
GB_VAT = "GB980780684"
AU_ABN = "51 824 753 556"


def source(
    system: System,
    record_id: str,
    *,
    version: str = "2025-03-01T12:00:00Z",
    region: str = "emea",
    links: dict[System, str] | None = None,
    domain: str | None = None,
    **attributes: Any,
) -> SourceCustomer:
    return SourceCustomer(
        system=system,
        record_id=record_id,
        region=region,
        version=version,
        modified_at=MODIFIED,
        links=links or {},
        domain=domain,
        attributes=attributes,
    )


def berlin_customer(**changes: Any) -> CanonicalCustomer:
    """A German customer that passes validation; ``changes`` override its fields."""
    fields: dict[str, Any] = {
        "canonical_id": "cus-1",
        "region": "emea",
        "external_ids": {"billing": "cus_B1", "erp": "C00010"},
        "legal_name": "Nordwind Analytics GmbH",
        "trading_name": "Nordwind",
        "billing_contacts": [Contact(name="Ada Ap", email="ap@nordwind.de", phone="+49 30 1234")],
        "invoice_delivery_email": "invoices@nordwind.de",
        "bill_to": Address(
            line1="Unter den Linden 1",
            city="Berlin",
            postal_code="10117",
            subdivision="DE-BE",
            country="DE",
        ),
        "tax_registrations": [tax_registration("DE", DE_VAT)],
        "payment_terms": "NET30",
        "currency": "EUR",
        "status": "active",
    }
    return CanonicalCustomer(**{**fields, **changes})


# --- in-memory stand-ins for applying an ERP plan ----------------------------------------


class Conflict(Exception):
    """Stands in for ``resources.errors.PreconditionFailed`` (HTTP 412)."""


@dataclass
class Record:
    """An ERP customer as applying reads it: an id and its fields."""

    id: str
    fields: dict[str, Any]

    def model_dump(self, **_: Any) -> dict[str, Any]:
        return dict(self.fields)


@dataclass
class Entry:
    status: str = "pending"


@dataclass
class FakeLedger:
    """The write ledger: one entry per idempotency key."""

    entries: dict[str, Entry] = field(default_factory=dict)

    def begin_write(self, key: str, *args: Any) -> Entry:
        return self.entries.setdefault(key, Entry())

    def complete_write(self, key: str, object_id: str | None, response: Any) -> None:
        self.entries[key].status = "succeeded"

    def fail_write(self, key: str, error: str) -> None:
        self.entries[key].status = "failed"


# --- hypothesis strategies --------------------------------------------------------------

_NAMES = st.sampled_from(["Acme GmbH", "ACME  GmbH", "acme gmbh ", "Globex Ltd", None, ""])
_CONTACTS = st.lists(
    st.sampled_from(
        [
            Contact(name="Ada", email="ada@acme.com"),
            Contact(name="ADA", email="Ada@Acme.com"),
            Contact(name="Bob", email="bob@acme.com", phone="+1 415 555 0100"),
        ]
    ),
    max_size=2,
)
_ADDRESSES = st.sampled_from(
    [
        None,
        Address(line1="1 Main St", city="Springfield", country="US", subdivision="US-OR"),
        Address(line1="1 MAIN ST", city="springfield", country="US", subdivision="US-OR"),
        Address(line1="2 High St", city="London", country="GB", subdivision="GB-ENG"),
    ]
)
_TAX = st.lists(
    st.sampled_from(
        [
            tax_registration("DE", DE_VAT),
            tax_registration("DE", "DE 136 695 976"),
            tax_registration("GB", GB_VAT),
            TaxRegistration(country="DE", scheme="eu_vat", number="DE000000000", valid=False),
        ]
    ),
    max_size=2,
)
_CODES = {
    "payment_terms": st.sampled_from(["NET30", "net30", "NET14", None]),
    "currency": st.sampled_from(["EUR", "eur", "USD"]),
}

ATTRIBUTE_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "legal_name": _NAMES,
    "trading_name": _NAMES,
    "parent_crm_company_id": st.sampled_from(["p1", "p2", None]),
    "sales_contacts": _CONTACTS,
    "billing_contacts": _CONTACTS,
    "invoice_delivery_email": st.sampled_from(["ap@acme.com", "AP@acme.com", "x@globex.com"]),
    "subscription_state": st.sampled_from(["active", "past_due", "canceled"]),
    "bill_to": _ADDRESSES,
    "ship_to": _ADDRESSES,
    "tax_registrations": _TAX,
    "status": st.sampled_from(["active", "inactive", "prospect"]),
    **_CODES,
}
assert set(ATTRIBUTE_VALUES) == set(CANONICAL_ATTRIBUTES)


@st.composite
def source_customers(draw: st.DrawFn) -> SourceCustomer:
    """A record whose id, version and values come from small pools, so records collide."""
    system = draw(st.sampled_from(SYSTEMS))
    return SourceCustomer(
        system=system,
        record_id=f"{system}-{draw(st.sampled_from('ab'))}",
        region="emea",
        version=f"2025-03-0{draw(st.integers(1, 3))}",
        modified_at=MODIFIED + timedelta(hours=draw(st.integers(0, 2))),
        attributes=draw(st.fixed_dictionaries({}, optional=ATTRIBUTE_VALUES)),
    )
