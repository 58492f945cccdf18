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

from assets.partitions import date_region_partitions
from resources.billing import BillingResource
from resources.erp import ErpResource
from resources.store import StoreResource
from sync_platform.customers.region_flow import billing_region
from sync_platform.settings import Workflow
from sync_platform.transactions import flow
from sync_platform.transactions.billing_extract import (
    extract_credit_notes,
    extract_invoices,
    extract_payments,
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


def _region_lookup(billing: BillingResource, store: StoreResource) -> flow.RegionLookup:
    def fetch(customer_id: str) -> str | None:
        customer = billing.get_customer(customer_id)
        country = customer.address.country if customer.address else None
        return billing_region(customer.metadata, country)

    return flow.RegionLookup(flow.billing_regions(store.store), fetch)


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
        day, region = partition(context)
        start, end = flow.day_window(day)
        result = spec.extract(billing, start, end, _region_lookup(billing, store))
        metadata = flow.land(store.store, spec.kind, region, day, result)
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
        return MaterializeResult(metadata=report)

    return erp_documents


transaction_assets: list[AssetsDefinition] = [
    make(spec) for spec in FLOWS for make in (_billing_asset, _canonical_asset, _erp_asset)
]
