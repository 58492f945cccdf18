"""One region's canonical customers from the three systems' snapshots (pure).

``build_region`` maps the vendor payloads, resolves identities against the links we already
hold, merges each account by the ownership rules, validates the result and decides, per
customer, whether the ERP may receive it: every step's outcome is data the caller stores.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from sync_platform.customers import vendors
from sync_platform.customers.identity import (
    AmbiguousMatch,
    XrefLink,
    resolve_identities,
)
from sync_platform.customers.merge import Conflict, merge_customer
from sync_platform.customers.model import CanonicalCustomer, SourceCustomer, System
from sync_platform.customers.ownership import OwnershipRules
from sync_platform.customers.validation import Issue, validate_customer

Payload = Mapping[str, Any]


@dataclass(frozen=True)
class RegionSnapshot:
    """What the three systems hold for one region, as their APIs returned it."""

    region: str
    crm_companies: Sequence[Payload] = ()
    crm_contacts: Sequence[Payload] = ()
    billing_customers: Sequence[Payload] = ()
    erp_customers: Sequence[Payload] = ()
    payment_terms_codes: Mapping[str, str] = field(default_factory=dict)  # ERP id → code


@dataclass(frozen=True)
class Unmapped:
    """A vendor record we could not read as a customer, and why."""

    system: System
    record_id: str
    reason: str


@dataclass(frozen=True)
class RegionBuild:
    region: str
    links: tuple[XrefLink, ...]
    customers: dict[str, CanonicalCustomer]
    conflicts: tuple[Conflict, ...]
    ambiguous: tuple[AmbiguousMatch, ...]
    issues: dict[str, tuple[Issue, ...]]
    unmapped: tuple[Unmapped, ...]
    held: dict[str, str]  # canonical id → why the ERP must not receive it (yet)

    def syncable(self) -> dict[str, CanonicalCustomer]:
        return {cid: c for cid, c in self.customers.items() if cid not in self.held}


def build_region(
    snapshot: RegionSnapshot, existing: Sequence[XrefLink], rules: OwnershipRules
) -> RegionBuild:
    sources, unmapped = source_customers(snapshot)
    identity = resolve_identities(
        snapshot.region, sources["crm"], sources["billing"], sources["erp"], existing
    )
    by_record = {(s.system, s.record_id): s for group in sources.values() for s in group}
    customers: dict[str, CanonicalCustomer] = {}
    conflicts: list[Conflict] = []
    for link in identity.links:
        members = [
            by_record[(system, rid)]
            for system, rid in link.members().items()
            if (system, rid) in by_record
        ]
        if not members:
            continue  # every record of this account has gone from its system
        merged = merge_customer(link.canonical_id, snapshot.region, members, rules)
        customers[link.canonical_id] = merged.customer
        conflicts.extend(merged.conflicts)
    issues = {cid: validate_customer(c) for cid, c in customers.items()}
    held = _held(customers, issues, identity.ambiguous, identity.links)
    return RegionBuild(
        region=snapshot.region,
        links=identity.links,
        customers=customers,
        conflicts=tuple(conflicts),
        ambiguous=identity.ambiguous,
        issues={cid: found for cid, found in issues.items() if found},
        unmapped=tuple(unmapped),
        held=held,
    )


def source_customers(
    snapshot: RegionSnapshot,
) -> tuple[dict[System, list[SourceCustomer]], list[Unmapped]]:
    """Every vendor record of the snapshot as a SourceCustomer, or why it could not be."""
    sources: dict[System, list[SourceCustomer]] = {"crm": [], "billing": [], "erp": []}
    unmapped: list[Unmapped] = []
    contacts = _contacts_by_company(snapshot.crm_contacts)

    def add(system: System, payload: Payload, build: Any) -> None:
        try:
            sources[system].append(build())
        except (ValidationError, ValueError, KeyError, TypeError) as exc:
            unmapped.append(
                Unmapped(system, str(payload.get("id") or payload.get("number")), _reason(exc))
            )

    for company in snapshot.crm_companies:
        add(
            "crm", company, lambda c=company: vendors.crm_company(c, contacts.get(str(c["id"]), ()))
        )
    for customer in snapshot.billing_customers:
        add("billing", customer, lambda c=customer: vendors.billing_customer(c, snapshot.region))
    for customer in snapshot.erp_customers:
        add(
            "erp",
            customer,
            lambda c=customer: vendors.erp_customer(
                c, snapshot.region, snapshot.payment_terms_codes
            ),
        )
    return sources, unmapped


def _contacts_by_company(contacts: Iterable[Payload]) -> dict[str, list[Payload]]:
    out: dict[str, list[Payload]] = defaultdict(list)
    for contact in contacts:
        results = ((contact.get("associations") or {}).get("companies") or {}).get("results")
        company_ids = {str(r["id"]) for r in results or ()}
        if not company_ids and (contact.get("properties") or {}).get("associatedcompanyid"):
            company_ids = {str(contact["properties"]["associatedcompanyid"])}
        for company_id in sorted(company_ids):
            out[company_id].append(contact)
    for company_contacts in out.values():
        company_contacts.sort(key=lambda c: str(c["id"]))
    return out


def _held(
    customers: Mapping[str, CanonicalCustomer],
    issues: Mapping[str, tuple[Issue, ...]],
    ambiguous: Sequence[AmbiguousMatch],
    links: Sequence[XrefLink],
) -> dict[str, str]:
    """Customers the ERP must not receive: not billed, unresolved identity, invalid data."""
    held: dict[str, str] = {}
    account_of = {
        (system, rid): link.canonical_id for link in links for system, rid in link.members().items()
    }
    for match in ambiguous:
        for key in ((match.subject_system, match.subject_id), *match.candidates):
            cid = account_of.get(key)
            if cid is not None:
                held[cid] = f"identity under review: {match.reason}"
    for cid, customer in customers.items():
        if cid in held:
            continue
        if "billing" not in customer.external_ids and "erp" not in customer.external_ids:
            held[cid] = "not a billing customer (CRM prospect): nothing to post yet"
        elif customer.status != "active" and "erp" not in customer.external_ids:
            held[cid] = f"billing status is {customer.status or 'unknown'}"
        elif issues.get(cid):
            held[cid] = "; ".join(issue.message for issue in issues[cid])
    return held


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"{where}: {first.get('msg')}"
    return f"{type(exc).__name__}: {exc}"
