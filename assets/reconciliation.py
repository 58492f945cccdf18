"""``reconciliation/daily``: per day and region, billing as the platform landed it against the
ERP as it is now (read live). It only reads, so it runs in every mode (in ``read_only`` and
``shadow`` it shows what live posting would still have to do)."""

from dagster import (
    AssetExecutionContext,
    AssetKey,
    MaterializeResult,
    MetadataValue,
    asset,
)

from assets.partitions import date_region_partitions
from assets.transactions import FLOWS, partition
from resources.erp import ErpResource
from resources.store import StoreResource
from sync_platform.reconciliation.daily import drift_table, numeric_metadata, reconcile_partition
from sync_platform.settings import Modes

DAILY_RECONCILIATION = AssetKey(["reconciliation", "daily"])


@asset(
    key=DAILY_RECONCILIATION,
    partitions_def=date_region_partitions,
    group_name="reconciliation",
    kinds={"python"},
    deps=[spec.erp for spec in FLOWS],
    pool="erp",
    description="Invoices generated vs posted, payments settled vs applied, credit notes "
    "issued vs credited: counts and amounts per currency in billing and in the ERP, the "
    "differences, and the drift list naming each document that does not match.",
)
def reconciliation_daily(
    context: AssetExecutionContext, erp: ErpResource, store: StoreResource
) -> MaterializeResult:
    day, region = partition(context)
    result = reconcile_partition(store.store, erp, region, day)
    modes = Modes.load()
    metadata: dict[str, MetadataValue] = {
        key: MetadataValue.int(value) for key, value in numeric_metadata(result).items()
    }
    metadata["clean"] = MetadataValue.bool(result.clean)
    metadata["drift"] = MetadataValue.md(drift_table(result))
    metadata["modes"] = MetadataValue.text(
        ", ".join(
            f"{workflow} {modes.mode_for(region, workflow)}"
            for workflow in ("invoices", "payments", "credit_notes")
        )
    )
    if result.drift_count:
        context.log.warning(f"{day} {region}: {result.drift_count} documents drift")
    return MaterializeResult(metadata=metadata)


reconciliation_assets = [reconciliation_daily]
