"""Invoice, payment and credit-note assets, one partition per day and region: land what
billing holds, make it canonical, post it to the ERP. Each body reads through a resource,
calls the core (``sync_platform.transactions.flow``), writes through the store."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from dagster import (
    AssetDep,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    MaterializeResult,
    MultiPartitionKey,
    MultiToSingleDimensionPartitionMapping,
    asset,
)

from assets.inbox_lookups import billing_region_lookup, inbox_lookups
from assets.partitions import date_region_partitions
from resources.billing import BillingResource
from resources.erp import ErpResource
from resources.store import StoreResource
from sync_platform.inbox_routing import (
    INBOX_RUN_TAG,
    TransactionTarget,
    objects_of_kind,
    route,
    transaction_kind_of,
)
from sync_platform.settings import Workflow
from sync_platform.store.columns import utc_now
from sync_platform.transactions import flow
from sync_platform.transactions.billing_extract import (
    extract_credit_notes,
    extract_credit_notes_by_id,
    extract_invoices,
    extract_invoices_by_id,
    extract_payments,
    extract_payments_by_id,
)
from sync_platform.transactions.erp_gateway import post_documents
from sync_platform.transactions.model import TransactionKind

GROUP = "transactions"
CUSTOMER_SYNC = AssetKey(["erp", "customer_sync"])
BY_REGION = MultiToSingleDimensionPartitionMapping(partition_dimension_name="region")


@dataclass(frozen=True)
class DocumentFlow:
    kind: TransactionKind
    workflow: Workflow
    billing: AssetKey
    canonical: AssetKey
    erp: AssetKey
    extract: Callable[..., Any]
    what: str  # plural, for descriptions
    erp_what: str


FLOWS = (
    DocumentFlow(
        "invoice",
        "invoices",
        AssetKey(["billing", "invoices"]),
        AssetKey(["canonical", "invoices"]),
        AssetKey(["erp", "invoice_postings"]),
        extract_invoices,
        "finalized invoices",
        "posted ERP sales invoices",
    ),
    DocumentFlow(
        "payment",
        "payments",
        AssetKey(["billing", "payments"]),
        AssetKey(["canonical", "payments"]),
        AssetKey(["erp", "cash_applications"]),
        extract_payments,
        "payments (charges) received",
        "ERP cash receipts applied to their invoices",
    ),
    DocumentFlow(
        "credit_note",
        "credit_notes",
        AssetKey(["billing", "credit_notes"]),
        AssetKey(["canonical", "credit_notes"]),
        AssetKey(["erp", "credit_memos"]),
        extract_credit_notes,
        "credit notes and the refunds they paid out",
        "posted ERP credit memos reversing their invoices",
    ),
)
INVOICE_POSTINGS = FLOWS[0].erp


def partition(context: AssetExecutionContext) -> tuple[date, str]:
    key = context.partition_key
    assert isinstance(key, MultiPartitionKey)
    dims = key.keys_by_dimension
    return date.fromisoformat(dims["date"]), dims["region"]


EXTRACT_BY_ID: dict[TransactionKind, Callable[..., Any]] = {
    "invoice": extract_invoices_by_id,
    "payment": extract_payments_by_id,
    "credit_note": extract_credit_notes_by_id,
}


def inbox_run_key(context: AssetExecutionContext) -> str | None:
    """The inbox run key of a run the landing sensor requested; None for any other run."""
    return context.run.tags.get(INBOX_RUN_TAG)


def _land_inbox_objects(
    context: AssetExecutionContext,
    spec: DocumentFlow,
    run_key: str,
    billing: BillingResource,
    store: StoreResource,
) -> dict[str, Any]:
    """Land only the documents this run's inbox events name, as billing holds them now (so
    a stale, duplicate or reordered event cannot bring back an old state). The ERP asset
    marks the events processed once the documents are through."""
    day, region = partition(context)
    start, end = flow.day_window(day)
    events = store.store.run_events(run_key)
    lookups = inbox_lookups(store.store, billing)
    routed = [(event, route(event, lookups)) for event in events]
    mine = [(e, r) for e, r in routed if isinstance(r, TransactionTarget) and r.kind == spec.kind]
    object_ids = objects_of_kind((r for _, r in mine), spec.kind)
    read_at = utc_now()
    result = EXTRACT_BY_ID[spec.kind](
        billing, object_ids, start, end, lookups.billing_customer_region
    )
    metadata = flow.land(store.store, spec.kind, region, day, result, read_at)
    return {**metadata, "inbox_run_key": run_key, "inbox_events": len(mine), "objects": object_ids}


def _billing_asset(spec: DocumentFlow) -> AssetsDefinition:
    @asset(
        key=spec.billing,
        partitions_def=date_region_partitions,
        group_name=GROUP,
        kinds={"stripe"},
        description=f"Billing {spec.what} of the day and region (Stripe API v1), as read; "
        "records that could not be read are kept with the reason.",
    )
    def billing_documents(
        context: AssetExecutionContext, billing: BillingResource, store: StoreResource
    ) -> MaterializeResult:
        run_key = inbox_run_key(context)
        if run_key is not None:
            return MaterializeResult(
                metadata=_land_inbox_objects(context, spec, run_key, billing, store)
            )
        day, region = partition(context)
        start, end = flow.day_window(day)
        read_at = utc_now()
        result = spec.extract(billing, start, end, billing_region_lookup(billing, store.store))
        metadata = flow.land(store.store, spec.kind, region, day, result, read_at)
        return MaterializeResult(metadata=metadata)

    return billing_documents


def _canonical_asset(spec: DocumentFlow) -> AssetsDefinition:
    @asset(
        key=spec.canonical,
        partitions_def=date_region_partitions,
        group_name=GROUP,
        kinds={"python"},
        deps=[spec.billing],
        description=f"Canonical {spec.what}: one business transaction each, with its "
        "lifecycle stage and correlation id; a change after posting opens an exception.",
    )
    def canonical_documents(
        context: AssetExecutionContext, store: StoreResource
    ) -> MaterializeResult:
        day, region = partition(context)
        return MaterializeResult(metadata=flow.receive(store.store, spec.kind, region, day))

    return canonical_documents


def _erp_asset(spec: DocumentFlow) -> AssetsDefinition:
    deps: list[AssetKey | AssetDep] = [
        spec.canonical,
        AssetDep(CUSTOMER_SYNC, partition_mapping=BY_REGION),
    ]
    if spec.kind != "invoice":
        deps.append(INVOICE_POSTINGS)

    @asset(
        key=spec.erp,
        partitions_def=date_region_partitions,
        group_name=GROUP,
        kinds={"dynamics365"},
        deps=deps,
        pool="erp",
        description=f"{spec.erp_what.capitalize()}: validated first, each created once "
        "(ledger key + search by external document number), failures as exceptions.",
    )
    def erp_documents(
        context: AssetExecutionContext, erp: ErpResource, store: StoreResource
    ) -> MaterializeResult:
        day, region = partition(context)
        items = flow.partition_items(store.store, spec.kind, region, day)
        report = post_documents(erp, store.store, spec.kind, region, items, log=context.log.info)
        run_key = inbox_run_key(context)
        if run_key is not None:
            # Only now, with the documents posted or held as exceptions, are the events
            # processed: a run that fails earlier leaves them for the sensor to retry.
            taken = [
                e.id for e in store.store.run_events(run_key) if transaction_kind_of(e) == spec.kind
            ]
            report["inbox_events"] = store.store.mark_events(taken, "processed", run_key)
        return MaterializeResult(metadata=report)

    return erp_documents


transaction_assets: list[AssetsDefinition] = [
    make(spec) for spec in FLOWS for make in (_billing_asset, _canonical_asset, _erp_asset)
]
