"""Customer assets, one partition per region: extract from each system, build the canonical
set, bring the ERP in line. Each body reads through a resource, calls the core, writes
through the store."""

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any, TypeVar

from dagster import (
    AssetExecutionContext,
    AssetKey,
    MaterializeResult,
    asset,
)

from assets.partitions import region_partitions
from resources.billing import BillingResource
from resources.billing_models import StripeCustomer
from resources.crm import (
    CONTACT_ASSOCIATIONS,
    CrmResource,
    HubSpotObject,
)
from resources.erp import ErpResource
from resources.erp import ODataEntity as ErpEntity
from resources.errors import NotFound, PreconditionFailed
from resources.store import StoreResource
from sync_platform.customers import region_flow
from sync_platform.customers.erp_parent import PARENT_DIMENSION, PARENT_DIMENSION_VALUES
from sync_platform.inbox_routing import INBOX_RUN_TAG, CustomerObject, changed_customer_records
from sync_platform.store import SourceRecordIn, Store

GROUP = "customers"
# An incremental ERP read starts this long before the newest change already stored: records
# sharing a timestamp, or committed late, are read again (an unchanged one is not rewritten).
ERP_REREAD_MARGIN = timedelta(minutes=5)
Fetched = TypeVar("Fetched")


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


def inbox_run_key(context: AssetExecutionContext) -> str | None:
    """The inbox run key of a run the landing sensor requested; None for any other run."""
    return context.run.tags.get(INBOX_RUN_TAG)


def _changed(store: Store, run_key: str, object_type: CustomerObject) -> list[str]:
    """The records of ``object_type`` this inbox run's events say changed."""
    return changed_customer_records(store.run_events(run_key), object_type)


def _fetch_each(ids: Iterable[str], fetch: Callable[[str], Fetched]) -> Iterator[Fetched]:
    """Each record as its system holds it now; one deleted since its event is skipped (its
    snapshot stays until a full read of the region)."""
    for record_id in ids:
        try:
            yield fetch(record_id)
        except NotFound:
            continue


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
    run_key = inbox_run_key(context)
    if run_key is None:
        read: Iterable[HubSpotObject] = crm.list_objects("companies")
    else:
        read = _fetch_each(
            _changed(store.store, run_key, "crm_company"),
            lambda i: crm.get_object("companies", i),
        )
    companies = [c for c in read if c.prop("region") == region]
    counts = _snapshot(
        store.store,
        "crm",
        "company",
        region,
        (_record(c.id, c.updatedAt, c.model_dump(mode="json"), region) for c in companies),
    )
    return MaterializeResult(
        metadata={"companies": len(companies), **counts, **_read_mode(run_key)}
    )


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
    company_ids = {
        i for i, r in store.store.source_regions("crm", "company").items() if r == region
    }
    run_key = inbox_run_key(context)
    if run_key is None:
        read: Iterable[HubSpotObject] = crm.list_contacts()
    else:
        read = _fetch_each(
            _changed(store.store, run_key, "crm_contact"),
            lambda i: crm.get_object("contacts", i, CONTACT_ASSOCIATIONS),
        )
    contacts = [
        c for c in read if region_flow.contact_company_ids(c.model_dump(mode="json")) & company_ids
    ]
    counts = _snapshot(
        store.store,
        "crm",
        "contact",
        region,
        (_record(c.id, c.updatedAt, c.model_dump(mode="json"), region) for c in contacts),
    )
    return MaterializeResult(metadata={"contacts": len(contacts), **counts, **_read_mode(run_key)})


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
    run_key = inbox_run_key(context)
    if run_key is None:
        read: Iterable[StripeCustomer] = billing.list_customers()
    else:
        read = _fetch_each(_changed(store.store, run_key, "billing_customer"), billing.get_customer)
    customers = [
        c
        for c in read
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
        metadata={"customers": len(customers), **counts, **_read_mode(run_key)}
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
    s = store.store
    run_key = inbox_run_key(context)
    # A landing-sensor run reads the customers and invoices changed since the last read; the
    # reference lists (terms, PARENT values, ship-tos) are small and read whole.
    customers_since = None if run_key is None else _reread_from(s, "customer", region)
    invoices_since = None if run_key is None else _reread_from(s, "posted_invoice", region)
    customers = list(
        erp.list_customers(company.id, modified_since=customers_since, with_default_dimensions=True)
    )
    terms = erp.list_payment_terms(company.id)
    parent_values = erp.list_dimension_values(company.id, PARENT_DIMENSION)
    posted = [
        i
        for i in erp.list_sales_invoices(company.id, modified_since=invoices_since)
        if i.status not in (None, "Draft")
    ]
    ship_tos = erp.list_ship_to_addresses(company.id)

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
            "modified_since": str(customers_since) if customers_since else "(full read)",
            **counts,
        }
    )


def _reread_from(store: Store, object_type: str, region: str) -> datetime | None:
    newest = store.latest_modified("erp", object_type, region)
    return None if newest is None else newest - ERP_REREAD_MARGIN


def _read_mode(run_key: str | None) -> dict[str, str]:
    if run_key is None:
        return {"read": "full region"}
    return {"read": "records named by the inbox events", "inbox_run_key": run_key}


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
    run_key = inbox_run_key(context)
    if run_key is not None:
        # The run has taken its events through to the ERP: only now are they processed, so
        # a run that fails before this point leaves them pending for the sensor to retry.
        taken = [e.id for e in store.store.run_events(run_key)]
        metadata["inbox_events"] = store.store.mark_events(taken, "processed", run_key)
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
