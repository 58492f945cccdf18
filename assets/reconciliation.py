"""``reconciliation/daily``: per day and region, billing as the platform landed it against the
ERP as it is now (read live). It only reads, so it runs in every mode (in ``read_only`` and
``shadow`` it shows what live posting would still have to do).

Its check ``reconciliation_drift_free`` is declared on the asset (``check_specs``) and
evaluated from the same reconciliation the body computes, rather than a separate
``@asset_check`` re-reading the latest materialization's metadata: the result is the one just
computed for this partition (no event-log lookup by partition, no stale materialization when
the body failed), and the spec's ``partitions_def`` makes Dagster 1.13 record the evaluation
under the date x region partition, so each partition's drift is its own breach for alerting.
It is a one-asset ``multi_asset`` because ``@asset`` cannot be subset: with ``can_subset`` a run
may select the asset without its check (Dagster refuses such a run otherwise), and the result
is yielded only when the check is selected (Dagster refuses a result for an unselected one).
"""

from collections.abc import Iterator

from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)

from assets.partitions import date_region_partitions
from assets.transactions import FLOWS, partition
from resources.erp import ErpResource
from resources.store import StoreResource
from sync_platform.reconciliation.compare import Reconciliation
from sync_platform.reconciliation.daily import (
    drift_lines,
    drift_table,
    numeric_metadata,
    reconcile_partition,
)
from sync_platform.settings import Modes

DAILY_RECONCILIATION = AssetKey(["reconciliation", "daily"])
DRIFT_FREE = AssetCheckKey(DAILY_RECONCILIATION, "reconciliation_drift_free")
OFFENDERS_SHOWN = 20


@multi_asset(
    name="reconciliation__daily",
    specs=[
        AssetSpec(
            DAILY_RECONCILIATION,
            group_name="reconciliation",
            kinds={"python"},
            # After the ERP postings and the nightly billing re-read of the same day.
            deps=[*(spec.erp for spec in FLOWS), *(spec.billing for spec in FLOWS)],
            description="Invoices generated vs posted, payments settled vs applied, credit "
            "notes issued vs credited: counts and amounts per currency in billing and in the "
            "ERP, the differences, and the drift list naming each document that does not "
            "match.",
        )
    ],
    check_specs=[
        AssetCheckSpec(
            DRIFT_FREE.name,
            asset=DAILY_RECONCILIATION,
            partitions_def=date_region_partitions,
            description="The day's reconciliation found no drift: every document billed is "
            "posted once in the ERP with its amount and currency, and the ERP holds nothing "
            "else. Fails naming the first 20 drift records.",
        )
    ],
    partitions_def=date_region_partitions,
    can_subset=True,  # so a run may select the asset without its check
    pool="erp",
)
def reconciliation_daily(
    context: AssetExecutionContext, erp: ErpResource, store: StoreResource
) -> Iterator[MaterializeResult | AssetCheckResult]:
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
    if DAILY_RECONCILIATION in context.selected_asset_keys:
        yield MaterializeResult(asset_key=DAILY_RECONCILIATION, metadata=metadata)
    if DRIFT_FREE in context.selected_asset_check_keys:
        yield drift_free(result)


def drift_free(result: Reconciliation) -> AssetCheckResult:
    return AssetCheckResult(
        check_name=DRIFT_FREE.name,
        passed=result.drift_count == 0,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "offending": result.drift_count,
            "offenders": drift_lines(result, OFFENDERS_SHOWN),
        },
    )


reconciliation_assets = [reconciliation_daily]
