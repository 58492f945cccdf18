"""Customer assets, one partition per region: extract from each system, build the canonical
set, bring the ERP in line. Each body reads through a resource, calls the core, writes
through the store."""

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    MaterializeResult,
    asset,
)

from assets.partitions import region_partitions
from resources.billing import BillingResource
from resources.crm import CrmResource
from resources.erp import ErpResource
from resources.erp import ODataEntity as ErpEntity
from resources.errors import PreconditionFailed
from resources.store import StoreResource
from sync_platform.customers import region_flow
from sync_platform.customers.erp_parent import PARENT_DIMENSION, PARENT_DIMENSION_VALUES
from sync_platform.inbox_routing import INBOX_RUN_TAG
from sync_platform.store import SourceRecordIn, Store

GROUP = "customers"


def _snapshot(
    store: Store, system: str, object_type: str, region: str, records: Iterable[SourceRecordIn]
) -> dict[str, int]:
    counts = store.upsert_source_records(system, object_type, records)
    return {
        "inserted": counts.inserted,
        "updated": counts.updated,
        "unchanged": counts.unchanged,
        "stale": counts.stale,
    }


def _take_inbox(
    context: AssetExecutionContext, store: StoreResource, source: str
) -> dict[str, int]:
    """In a run of the landing sensor: mark its ``source`` events processed, since the whole
    region was just read again (a customer run is not incremental yet)."""
    run_key = context.run.tags.get(INBOX_RUN_TAG)
    if run_key is None:
        return {}
    ids = [e.id for e in store.store.run_events(run_key) if e.source == source]
    return {"inbox_events": store.store.mark_events(ids, "processed", run_key)}


def _record(
    record_id: str, modified_at: datetime, payload: dict[str, Any], region: str
) -> SourceRecordIn:
    return SourceRecordIn(
        record_id=record_id,
        modified_at=modified_at,
        payload=payload,
        region=region,
        version=modified_at.isoformat(),
    )


@asset(
    key=AssetKey(["crm", "companies"]),
    partitions_def=region_partitions,
    group_name=GROUP,
    kinds={"hubspot"},
    description="CRM companies of the region (HubSpot CRM v3), as last read.",
)
def crm_companies(
    context: AssetExecutionContext, crm: CrmResource, store: StoreResource
) -> MaterializeResult:
    region = context.partition_key
    companies = [c for c in crm.list_objects("companies") if c.prop("region") == region]
    counts = _snapshot(
        store.store,
        "crm",
        "company",
        region,
        (_record(c.id, c.updatedAt, c.model_dump(mode="json"), region) for c in companies),
    )
    return MaterializeResult(metadata={"companies": len(companies), **counts})


@asset(
    key=AssetKey(["crm", "contacts"]),
    partitions_def=region_partitions,
    group_name=GROUP,
    kinds={"hubspot"},
    deps=[AssetKey(["crm", "companies"])],
    description="CRM contacts associated with the region's companies.",
)
def crm_contacts(
    context: AssetExecutionContext, crm: CrmResource, store: StoreResource
) -> MaterializeResult:
    region = context.partition_key
    company_ids = {r.record_id for r in store.store.source_records("crm", "company", region)}
    contacts = [
        c
        for c in crm.list_contacts()
        if region_flow.contact_company_ids(c.model_dump(mode="json")) & company_ids
    ]
    counts = _snapshot(
        store.store,
        "crm",
        "contact",
        region,
        (_record(c.id, c.updatedAt, c.model_dump(mode="json"), region) for c in contacts),
    )
    return MaterializeResult(
        metadata={"contacts": len(contacts), **counts, **_take_inbox(context, store, "crm")}
    )


@asset(
    key=AssetKey(["billing", "customers"]),
    partitions_def=region_partitions,
    group_name=GROUP,
    kinds={"stripe"},
    description="Billing customers of the region (Stripe API v1), as last read.",
)
def billing_customers(
    context: AssetExecutionContext, billing: BillingResource, store: StoreResource
) -> MaterializeResult:
    region = context.partition_key
    customers = [
        c
        for c in billing.list_customers()
        if region_flow.billing_region(c.metadata, c.address.country if c.address else None)
        == region
    ]
    counts = _snapshot(
        store.store,
        "billing",
        "customer",
        region,
        (_record(c.id, c.created, c.model_dump(mode="json"), region) for c in customers),
    )
    return MaterializeResult(
        metadata={"customers": len(customers), **counts, **_take_inbox(context, store, "billing")}
    )


@asset(
    key=AssetKey(["erp", "customers"]),
    partitions_def=region_partitions,
    group_name=GROUP,
    kinds={"dynamics365"},
    description="ERP customers of the region's company (Business Central API v2.0) with "
    "their default dimensions (the parent account), its payment terms, the PARENT dimension "
    "values, which customers already have posted invoices, and the customers' ship-to "
    "addresses (companion extension API).",
)
def erp_customers(
    context: AssetExecutionContext, erp: ErpResource, store: StoreResource
) -> MaterializeResult:
    region = context.partition_key
    company = erp.company_for_region(region)
    customers = list(erp.list_customers(company.id, with_default_dimensions=True))
    terms = erp.list_payment_terms(company.id)
    parent_values = erp.list_dimension_values(company.id, PARENT_DIMENSION)
    posted = [i for i in erp.list_sales_invoices(company.id) if i.status not in (None, "Draft")]
    ship_tos = erp.list_ship_to_addresses(company.id)
    s = store.store

    def dump(entity: ErpEntity) -> dict[str, Any]:
        return entity.model_dump(by_alias=True, mode="json")

    counts = _snapshot(
        s,
        "erp",
        "customer",
        region,
        (_record(c.number, _modified(c), dump(c), region) for c in customers),
    )
    _snapshot(
        s,
        "erp",
        "payment_term",
        region,
        (_record(t.id, _modified(t), dump(t), region) for t in terms),
    )
    _snapshot(
        s,
        "erp",
        PARENT_DIMENSION_VALUES,
        region,
        (_record(v.id, _modified(v), dump(v), region) for v in parent_values),
    )
    _snapshot(
        s,
        "erp",
        "posted_invoice",
        region,
        (_record(i.id, _modified(i), dump(i), region) for i in posted),
    )
    _snapshot(
        s,
        "erp",
        region_flow.SHIP_TO_ADDRESSES,
        region,
        (_record(a.id, _modified(a), dump(a), region) for a in ship_tos),
    )
    return MaterializeResult(
        metadata={
            "customers": len(customers),
            "posted_invoices": len(posted),
            "ship_to_addresses": len(ship_tos),
            "erp_company": company.name,
            **counts,
        }
    )


def _modified(entity: ErpEntity) -> datetime:
    if entity.lastModifiedDateTime is None:
        raise ValueError(f"ERP record {entity.id} has no lastModifiedDateTime")
    return entity.lastModifiedDateTime


@asset(
    key=AssetKey(["canonical", "customers"]),
    partitions_def=region_partitions,
    group_name=GROUP,
    kinds={"python"},
    deps=[
        AssetKey(["crm", "companies"]),
        AssetKey(["crm", "contacts"]),
        AssetKey(["billing", "customers"]),
        AssetKey(["erp", "customers"]),
    ],
    description="One canonical customer per account: identities resolved, each attribute "
    "from its owning system, conflicts and reviews recorded.",
)
def canonical_customers(context: AssetExecutionContext, store: StoreResource) -> MaterializeResult:
    outcome = region_flow.materialize_canonical(store.store, context.partition_key)
    return MaterializeResult(metadata=region_flow.canonical_metadata(outcome))


@asset(
    key=AssetKey(["erp", "customer_sync"]),
    partitions_def=region_partitions,
    group_name=GROUP,
    kinds={"dynamics365"},
    deps=[AssetKey(["canonical", "customers"])],
    description="ERP customers brought in line with the canonical set (creates, updates "
    "under If-Match), honouring the region's mode and pending approvals.",
)
def erp_customer_sync(
    context: AssetExecutionContext, erp: ErpResource, store: StoreResource
) -> MaterializeResult:
    region = context.partition_key
    outcome = region_flow.sync_erp(
        store.store,
        erp,
        region,
        correlation_id=context.run.run_id,
        precondition_failed=PreconditionFailed,
    )
    context.log.info(
        f"{region} ({outcome.mode}): {outcome.result.writes} ERP writes, "
        f"{len(outcome.plan.in_sync)} in sync, {len(outcome.plan.waiting)} waiting, "
        f"{len(outcome.result.failed)} failed"
    )
    metadata = region_flow.sync_metadata(outcome)
    return MaterializeResult(metadata={**metadata, **_mode_metadata(metadata)})


def _mode_metadata(sync: dict[str, Any]) -> dict[str, Any]:
    """What a shadow or read_only run means, said where the UI shows its zero writes."""
    if sync["mode"] == "shadow":
        creates, updates = sync["planned_creates"], sync["planned_updates"]
        return {
            "would_create": creates,
            "would_update": updates,
            "mode_note": f"shadow: the sync would create {creates} and update {updates} ERP "
            "customers; nothing was written. Switch the region to live in modes.yaml to apply.",
        }
    if sync["mode"] == "read_only":
        return {
            "mode_note": "read_only: customers extracted and validated; no ERP plan computed, "
            "nothing written. The asset checks still reconcile against the ERP."
        }
    return {}


customer_assets = [
    crm_companies,
    crm_contacts,
    billing_customers,
    erp_customers,
    canonical_customers,
    erp_customer_sync,
]
