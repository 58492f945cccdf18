"""The customer workflow of one region, over the store and the ERP adapter.

Assets call these functions: ``materialize_canonical`` turns stored snapshots into canonical
customers, conflicts and reviews; ``sync_erp`` brings the ERP in line, honouring the
region's mode and the approval checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sync_platform.customers.build import (
    RegionBuild,
    RegionSnapshot,
    build_region,
    source_customers,
)
from sync_platform.customers.erp_parent import PARENT_DIMENSION_VALUES
from sync_platform.customers.erp_sync import (
    ApplyResult,
    ErpPlan,
    ShipToAddress,
    apply_erp_plan,
    erp_number_for,
    fields_owned_by_erp,
    plan_erp_sync,
    record_digest,
    ship_to_code,
)
from sync_platform.customers.identity import XrefLink
from sync_platform.customers.model import CanonicalCustomer, SourceCustomer, System
from sync_platform.customers.ownership import OwnershipRules
from sync_platform.customers.policy import ChangePolicy, decide_change
from sync_platform.settings import Mode, Modes, config_dir
from sync_platform.store import ConflictIn, CustomerXref, Review, Store

SHIP_TO_ADDRESSES = "ship_to_address"  # object type of the ERP's ship-to snapshot
PLATFORM = "sync-platform"  # who closes a new_ship_to review once the ship-to is there
# Countries of each region, for billing customers that carry no region in their metadata.
REGION_OF_COUNTRY = {"US": "na", "CA": "na", "AU": "apac", "NZ": "apac", "JP": "apac", "SG": "apac"}


def billing_region(metadata: Mapping[str, str], country: str | None) -> str | None:
    if metadata.get("region"):
        return metadata["region"]
    if not country:
        return None
    return REGION_OF_COUNTRY.get(country.upper(), "emea")


def contact_company_ids(contact: Mapping[str, Any]) -> set[str]:
    results = ((contact.get("associations") or {}).get("companies") or {}).get("results") or ()
    ids = {str(r["id"]) for r in results}
    associated = (contact.get("properties") or {}).get("associatedcompanyid")
    return ids | ({str(associated)} if associated else set())


# -- canonical -----------------------------------------------------------------------------
@dataclass
class CanonicalOutcome:
    build: RegionBuild
    created: int = 0
    changed: int = 0
    unchanged: int = 0
    conflicts_open: int = 0
    conflicts_resolved: int = 0
    reviews_opened: list[Review] = field(default_factory=list)
    link_errors: list[str] = field(default_factory=list)


def load_snapshot(store: Store, region: str) -> RegionSnapshot:
    def payloads(system: str, object_type: str) -> list[dict[str, Any]]:
        return [r.payload for r in store.source_records(system, object_type, region)]

    terms = payloads("erp", "payment_term")
    return RegionSnapshot(
        region=region,
        crm_companies=payloads("crm", "company"),
        crm_contacts=payloads("crm", "contact"),
        billing_customers=payloads("billing", "customer"),
        erp_customers=payloads("erp", "customer"),
        payment_terms_codes={str(t["id"]): str(t["code"]) for t in terms},
    )


def ownership_rules() -> OwnershipRules:
    return OwnershipRules.load(config_dir() / "ownership.yaml")


def load_build(store: Store, region: str, rules: OwnershipRules | None = None) -> RegionBuild:
    existing = [
        XrefLink(
            canonical_id=x.canonical_id,
            region=x.region,
            match_rule=x.match_rule,
            crm_company_id=x.crm_company_id,
            billing_customer_id=x.billing_customer_id,
            erp_customer_number=x.erp_customer_number,
        )
        for x in store.xrefs(region)
    ]
    return build_region(load_snapshot(store, region), existing, rules or ownership_rules())


def materialize_canonical(store: Store, region: str) -> CanonicalOutcome:
    build = load_build(store, region)
    outcome = CanonicalOutcome(build=build)
    for link in build.links:
        try:
            store.save_xref(
                CustomerXref(
                    canonical_id=link.canonical_id,
                    region=region,
                    match_rule=link.match_rule,
                    crm_company_id=link.crm_company_id,
                    billing_customer_id=link.billing_customer_id,
                    erp_customer_number=link.erp_customer_number,
                )
            )
        except Exception as exc:
            outcome.link_errors.append(str(exc))
    previous = {
        cid: CanonicalCustomer.model_validate(row.record)
        for cid, row in store.canonical_customers(region).items()
    }
    records = {cid: c.model_dump(mode="json") for cid, c in build.customers.items()}
    saved = store.save_canonical(region, records)
    outcome.created, outcome.changed, outcome.unchanged = (
        saved.created,
        saved.changed,
        saved.unchanged,
    )
    counts = store.sync_conflicts(
        region,
        (
            ConflictIn(
                canonical_id=c.canonical_id,
                attribute=c.attribute,
                owner_system=c.owner_system,
                owner_value=_json(c.owner_value),
                other_system=c.other_system,
                other_record_id=c.other_record_id,
                other_value=_json(c.other_value),
            )
            for c in build.conflicts
        ),
    )
    outcome.conflicts_open = counts.opened + counts.still_open
    outcome.conflicts_resolved = counts.resolved
    outcome.reviews_opened.extend(_identity_reviews(store, build))
    outcome.reviews_opened.extend(_policy_reviews(store, build, previous))
    return outcome


def _identity_reviews(store: Store, build: RegionBuild) -> list[Review]:
    opened = []
    for match in build.ambiguous:
        candidates = ", ".join(f"{s} {i}" for s, i in match.candidates)
        opened.append(
            store.open_review(
                region=build.region,
                kind="identity",
                subject=f"{match.subject_system}:{match.subject_id}",
                summary=f"{match.subject_system} record {match.subject_id} could be one of "
                f"{candidates} ({match.reason}); not merged until someone decides.",
                payload={"candidates": [list(c) for c in match.candidates], "reason": match.reason},
                dedupe_key=f"identity:{build.region}:{match.subject_system}:{match.subject_id}:"
                f"{candidates}",
            )
        )
    return opened


def _policy_reviews(
    store: Store, build: RegionBuild, previous: Mapping[str, CanonicalCustomer]
) -> list[Review]:
    policy = ChangePolicy.load(config_dir() / "customer_change_policy.yaml")
    invoiced = {
        r.payload.get("customerNumber")
        for r in store.source_records("erp", "posted_invoice", build.region)
    }
    opened = []
    for cid, customer in sorted(build.customers.items()):
        before = previous.get(cid)
        if before is None:
            continue
        decision = decide_change(
            before, customer, customer.external_ids.get("erp") in invoiced, policy
        )
        if decision.action not in ("finance_review", "new_ship_to"):
            continue
        digest = record_digest(customer)
        payload: dict[str, Any] = {
            "action": decision.action,
            "changed": list(decision.changed),
            "record_hash": digest,
        }
        if decision.action == "new_ship_to" and customer.bill_to is not None:
            payload["ship_to_code"] = ship_to_code(customer)
        opened.append(
            store.open_review(
                region=build.region,
                kind="change_policy",
                subject=cid,
                summary=f"{customer.legal_name or customer.trading_name}: "
                + " ".join(decision.reasons),
                payload=payload,
                dedupe_key=f"change:{cid}:{digest}",
            )
        )
    return opened


def canonical_metadata(outcome: CanonicalOutcome) -> dict[str, Any]:
    build = outcome.build
    preview = [
        {
            "canonical id": cid,
            "name": c.legal_name or c.trading_name or "",
            "systems": ", ".join(sorted(c.external_ids)),
            "currency": c.currency or "",
            "held": build.held.get(cid, ""),
        }
        for cid, c in sorted(build.customers.items())[:20]
    ]
    return {
        "customers": len(build.customers),
        "created": outcome.created,
        "changed": outcome.changed,
        "unchanged": outcome.unchanged,
        "held_from_erp": len(build.held),
        "open_conflicts": outcome.conflicts_open,
        "resolved_conflicts": outcome.conflicts_resolved,
        "ambiguous_identities": len(build.ambiguous),
        "unmapped_records": len(build.unmapped),
        "invalid_customers": len(build.issues),
        "reviews_opened_or_pending": len(outcome.reviews_opened),
        "link_errors": outcome.link_errors[:20],
        "preview": _markdown(preview),
    }


# -- ERP sync ------------------------------------------------------------------------------
@dataclass
class SyncOutcome:
    mode: Mode
    plan: ErpPlan
    result: ApplyResult


def plan_against_erp(store: Store, erp: Any, region: str) -> ErpPlan:
    """What the ERP sync would do now, comparing with the ERP as it is at this moment."""
    company = erp.company_for_region(region)
    live = {
        c.number: c.model_dump(by_alias=True, mode="json")
        for c in erp.list_customers(company.id, with_default_dimensions=True)
    }
    ship_tos = [a.model_dump(mode="json") for a in erp.list_ship_to_addresses(company.id)]
    return plan_only(store, region, erp_records=live, erp_ship_tos=ship_tos)


def plan_only(
    store: Store,
    region: str,
    erp_records: Mapping[str, Mapping[str, Any]] | None = None,
    erp_ship_tos: list[Mapping[str, Any]] | None = None,
) -> ErpPlan:
    """What the ERP sync would do now, from the stored snapshots (or the given ERP records
    and ship-to addresses)."""
    rules = ownership_rules()
    build = load_build(store, region, rules)
    rows = store.canonical_customers(region)
    customers = {cid: CanonicalCustomer.model_validate(row.record) for cid, row in rows.items()}
    revisions = {cid: row.revision for cid, row in rows.items()}
    waiting = dict(build.held)
    waiting.update(_awaiting_decision(store, region, customers))
    ship_to_reviews = [
        r
        for r in store.reviews(region=region, kind="change_policy")
        if r.payload.get("action") == "new_ship_to"
    ]
    keep_address = frozenset(r.subject for r in ship_to_reviews if r.status != "superseded")
    # A rejected decision keeps the ERP's address but makes no ship-to.
    ship_to_customers = frozenset(
        r.subject for r in ship_to_reviews if r.status in ("pending", "approved", "applied")
    )
    if erp_ship_tos is None:
        erp_ship_tos = [r.payload for r in store.source_records("erp", SHIP_TO_ADDRESSES, region)]
    ship_to_codes: dict[str, set[str]] = {}
    for address in erp_ship_tos:
        ship_to_codes.setdefault(str(address["customerNumber"]), set()).add(
            str(address["code"]).upper()
        )
    if erp_records is None:
        erp_records = {
            r.record_id: r.payload for r in store.source_records("erp", "customer", region)
        }
    terms = {
        str(r.payload["code"]): r.record_id
        for r in store.source_records("erp", "payment_term", region)
    }
    return plan_erp_sync(
        customers,
        revisions,
        erp_records,
        terms,
        waiting,
        keep_address,
        fields_owned_by_erp(rules.owner_of),
        frozenset(
            str(r.payload["code"])
            for r in store.source_records("erp", PARENT_DIMENSION_VALUES, region)
        ),
        ship_to_customers,
        {number: frozenset(codes) for number, codes in ship_to_codes.items()},
    )


def sync_erp(
    store: Store,
    erp: Any,
    region: str,
    correlation_id: str,
    precondition_failed: type[Exception],
) -> SyncOutcome:
    mode = Modes.load().mode_for(region, "customers")
    if mode == "read_only":
        return SyncOutcome(mode=mode, plan=ErpPlan(actions=(), in_sync=()), result=ApplyResult())
    plan = plan_only(store, region)
    if mode == "shadow":
        return SyncOutcome(mode=mode, plan=plan, result=ApplyResult())
    company = erp.company_for_region(region)
    result = apply_erp_plan(plan, erp, company.id, store, correlation_id, precondition_failed)
    _close_ship_to_reviews(store, region, plan, result)
    for review in store.reviews(status="approved", region=region, kind="change_policy"):
        # Applied once the ERP holds the approved record: written now, or already in line.
        if review.subject not in result.failed and review.subject not in plan.waiting:
            store.mark_applied(review.id)
    _link_created(store, region, result.created)
    return SyncOutcome(mode=mode, plan=plan, result=result)


def _close_ship_to_reviews(store: Store, region: str, plan: ErpPlan, result: ApplyResult) -> None:
    """A new_ship_to decision needs no person: the policy made it. Its review is the record
    of the decision, and once the ERP holds the address (in a ship-to, or already as the
    customer's own) the platform approves and applies it, saying what it did."""
    for review in store.reviews(region=region, kind="change_policy"):
        cid = review.subject
        if (
            review.payload.get("action") != "new_ship_to"
            or review.status not in ("pending", "approved")
            or cid not in plan.ship_tos
            or cid in result.failed
        ):
            continue
        if review.status == "pending":
            reason = _ship_to_outcome(plan.ship_tos[cid], cid in result.ship_tos_created)
            store.decide(review.id, approve=True, by=PLATFORM, reason=reason)
        store.mark_applied(review.id)


def _ship_to_outcome(ship_to: ShipToAddress | None, created: bool) -> str:
    if ship_to is None:
        return "No ship-to needed: the ERP customer's own address already is the billing address."
    where = ", ".join(
        str(ship_to.fields[k])
        for k in ("addressLine1", "city", "postalCode", "country")
        if ship_to.fields.get(k)
    )
    done = "Created" if created else "Found"
    return (
        f"{done} ERP ship-to {ship_to.code} of customer {ship_to.customer_number} with the "
        f"billing address ({where}); the customer's own address, on its posted invoices, is kept."
    )


def _link_created(store: Store, region: str, created: list[str]) -> None:
    xrefs = {x.canonical_id: x for x in store.xrefs(region)}
    for cid in created:
        xref = xrefs[cid]
        if xref.erp_customer_number is None:
            store.save_xref(
                CustomerXref(
                    canonical_id=cid,
                    region=region,
                    match_rule=xref.match_rule,
                    crm_company_id=xref.crm_company_id,
                    billing_customer_id=xref.billing_customer_id,
                    erp_customer_number=erp_number_for(cid),
                )
            )


def sources_by_record(store: Store, region: str) -> dict[tuple[System, str], SourceCustomer]:
    sources, _ = source_customers(load_snapshot(store, region))
    return {(s.system, s.record_id): s for group in sources.values() for s in group}


def _awaiting_decision(
    store: Store, region: str, customers: Mapping[str, CanonicalCustomer]
) -> dict[str, str]:
    """Customers whose latest finance-review decision is pending, or rejected for the record
    as it stands: the ERP keeps its values until someone approves."""
    latest: dict[str, Review] = {}
    for review in store.reviews(region=region, kind="change_policy"):
        if review.payload.get("action") != "finance_review" or review.status == "superseded":
            continue
        if review.subject not in latest or review.id > latest[review.subject].id:
            latest[review.subject] = review
    waiting = {}
    for cid, review in latest.items():
        if review.status == "pending":
            waiting[cid] = f"pending approval (review {review.id}): {review.summary}"
        elif review.status == "rejected" and cid in customers:
            digest = record_digest(customers[cid])
            if review.payload.get("record_hash") == digest:
                waiting[cid] = f"change rejected by {review.decided_by}: {review.reason}"
    return waiting


def sync_metadata(outcome: SyncOutcome) -> dict[str, Any]:
    plan, result = outcome.plan, outcome.result
    return {
        "mode": outcome.mode,
        "planned_creates": sum(a.kind == "create" for a in plan.actions),
        "planned_updates": sum(a.kind == "update" for a in plan.actions),
        "created": len(result.created),
        "updated": len(result.updated),
        "already_done": len(result.already_done),
        "failed": len(result.failed),
        "ship_tos_created": len(result.ship_tos_created),
        "in_sync": len(plan.in_sync),
        "waiting": len(plan.waiting),
        "failures": _markdown(
            [{"canonical id": k, "error": v} for k, v in sorted(result.failed.items())[:20]]
        ),
        "waiting_preview": _markdown(
            [{"canonical id": k, "why": v} for k, v in sorted(plan.waiting.items())[:20]]
        ),
    }


def _markdown(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(none)"
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(r[h]).replace("|", "/") for h in header) + " |" for r in rows]
    return "\n".join(lines)


def _json(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_json(v) for v in value]
    return value
