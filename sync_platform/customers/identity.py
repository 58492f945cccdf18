"""Which CRM company, billing customer and ERP customer are one account.

Rules, strongest first: cross-references we already hold, links a record states, a shared
valid tax registration, a shared web/email domain. A rule links two records only when each is
the other's single candidate; anything else is reported as ``AmbiguousMatch`` and left apart,
because a wrong merge sends one company's invoices to another. The outcome depends only on the
records, not on their order, and canonical ids never change once assigned.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Hashable, Sequence

from pydantic import BaseModel, ConfigDict

from sync_platform.customers.accounts import Account, Accounts, RecordKey
from sync_platform.customers.model import SourceCustomer, System

# Fixed forever: canonical ids are derived from it and must be the same on every run.
CUSTOMER_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:sync-platform:canonical-customer")

# Pairs of systems matched per rule; billing first, as it is the anchor of an account.
_SYSTEM_PAIRS: tuple[tuple[System, System], ...] = (
    ("billing", "crm"),
    ("billing", "erp"),
    ("crm", "erp"),
)


class XrefLink(BaseModel):
    """One canonical customer and its record id in each system (None: not there yet).

    ``match_rule`` names the rules that joined the records (``explicit``, ``tax_id``,
    ``domain``, joined by ``+``), or ``single`` for a record on its own.
    """

    model_config = ConfigDict(frozen=True)

    canonical_id: str
    region: str
    crm_company_id: str | None = None
    billing_customer_id: str | None = None
    erp_customer_number: str | None = None
    match_rule: str

    def members(self) -> dict[System, str]:
        ids: dict[System, str | None] = {
            "crm": self.crm_company_id,
            "billing": self.billing_customer_id,
            "erp": self.erp_customer_number,
        }
        return {system: record_id for system, record_id in ids.items() if record_id}


class AmbiguousMatch(BaseModel):
    """A record that could belong to more than one account; someone must decide which."""

    model_config = ConfigDict(frozen=True)

    region: str
    subject_system: System
    subject_id: str
    candidates: tuple[tuple[System, str], ...]
    reason: str


class IdentityResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    links: tuple[XrefLink, ...]
    ambiguous: tuple[AmbiguousMatch, ...]


def canonical_id_for(system: System, record_id: str) -> str:
    return "cus-" + str(uuid.uuid5(CUSTOMER_NAMESPACE, f"{system}:{record_id}"))


def resolve_identities(
    region: str,
    crm: Sequence[SourceCustomer],
    billing: Sequence[SourceCustomer],
    erp: Sequence[SourceCustomer],
    existing: Sequence[XrefLink],
) -> IdentityResult:
    records = _latest_records(region, {"crm": crm, "billing": billing, "erp": erp})
    accounts = Accounts()
    for link in sorted(existing, key=lambda link: link.canonical_id):
        if link.region == region:
            accounts.add_existing(link.canonical_id, link.members(), link.match_rule)
    for key in sorted(records):
        accounts.add_record(key)
    _explicit_contradictions(accounts, records)
    for rule, pairs in _RULES:
        for subject_system, other_system in _SYSTEM_PAIRS:
            found = pairs(records, subject_system, other_system)
            accounts.link_unique(rule, subject_system, other_system, found)
    links = (_xref(region, account) for account in accounts.all())
    ambiguous = {AmbiguousMatch(region=region, **finding) for finding in accounts.findings}
    return IdentityResult(
        links=tuple(sorted(links, key=lambda link: link.canonical_id)),
        ambiguous=tuple(sorted(ambiguous, key=_ambiguity_order)),
    )


def _xref(region: str, account: Account) -> XrefLink:
    return XrefLink(
        canonical_id=account.canonical_id or canonical_id_for(*account.anchor()),
        region=region,
        crm_company_id=account.members.get("crm"),
        billing_customer_id=account.members.get("billing"),
        erp_customer_number=account.members.get("erp"),
        match_rule=account.match_rule(),
    )


Records = dict[RecordKey, SourceCustomer]
PairFinder = Callable[[Records, System, System], set[tuple[str, str]]]


def _latest_records(region: str, by_system: dict[System, Sequence[SourceCustomer]]) -> Records:
    records: Records = {}
    for system, given in by_system.items():
        for record in given:
            if record.system != system or record.region != region:
                raise ValueError(
                    f"{record.system} record {record.record_id} (region {record.region}) "
                    f"was passed as a {system} record of region {region}"
                )
            held = records.get((system, record.record_id))
            if held is None or record.recency() > held.recency():
                records[(system, record.record_id)] = record
    return records


def _stated_pairs(records: Records, left: System, right: System) -> set[tuple[str, str]]:
    """Links in either direction: a billing customer naming its CRM company, or vice versa."""
    pairs = set()
    for (system, record_id), record in records.items():
        if system == left and right in record.links:
            pairs.add((record_id, record.links[right]))
        elif system == right and left in record.links:
            pairs.add((record.links[left], record_id))
    return pairs


def _explicit_contradictions(accounts: Accounts, records: Records) -> None:
    """A stated link that disagrees with a cross-reference we hold is reported, not followed."""
    for key in sorted(records):
        for other_system, other_id in sorted(records[key].links.items()):
            linked = accounts.account_of(key).members.get(other_system)
            if linked is not None and linked != other_id:
                accounts.report(
                    key,
                    [(other_system, other_id)],
                    f"states {other_system} record {other_id} but is already linked "
                    f"to {other_system} record {linked}",
                )


def _shared_key_pairs(keys: Callable[[SourceCustomer], set[Hashable]]) -> PairFinder:
    def find(records: Records, left: System, right: System) -> set[tuple[str, str]]:
        right_ids_by_key: dict[Hashable, set[str]] = {}
        for (system, record_id), record in records.items():
            if system == right:
                for key in keys(record):
                    right_ids_by_key.setdefault(key, set()).add(record_id)
        return {
            (record_id, right_id)
            for (system, record_id), record in records.items()
            if system == left
            for key in keys(record)
            for right_id in right_ids_by_key.get(key, ())
        }

    return find


def _tax_keys(record: SourceCustomer) -> set[Hashable]:
    registrations = record.attributes.get("tax_registrations") or []
    return {(reg.country, reg.number) for reg in registrations if reg.valid}


def _domain_keys(record: SourceCustomer) -> set[Hashable]:
    domain = normalize_domain(record.domain or "")
    return {domain} if domain else set()


def normalize_domain(value: str) -> str | None:
    """``acme.com`` from ``https://www.Acme.com/about``, ``www.acme.com`` or ``ap@acme.com``."""
    host = value.strip().lower().rpartition("@")[2]
    host = host.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0].strip(".")
    host = host.removeprefix("www.")
    return host or None


_RULES: tuple[tuple[str, PairFinder], ...] = (
    ("explicit", _stated_pairs),
    ("tax_id", _shared_key_pairs(_tax_keys)),
    ("domain", _shared_key_pairs(_domain_keys)),
)


def _ambiguity_order(match: AmbiguousMatch) -> tuple[str, str, tuple[tuple[str, str], ...], str]:
    return (match.subject_system, match.subject_id, match.candidates, match.reason)
