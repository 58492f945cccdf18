"""The customer rules as asset checks, per region; failure metadata names the records."""

from collections import Counter

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    asset_check,
)

from assets.partitions import region_partitions
from resources.erp import ErpResource
from resources.store import StoreResource
from sync_platform.customers import region_flow
from sync_platform.customers.model import CanonicalCustomer

CANONICAL = AssetKey(["canonical", "customers"])
ERP_SYNC = AssetKey(["erp", "customer_sync"])
SHOWN = 20


def _customers(store: StoreResource, region: str) -> dict[str, CanonicalCustomer]:
    return {
        cid: CanonicalCustomer.model_validate(row.record)
        for cid, row in store.store.canonical_customers(region).items()
    }


@asset_check(
    asset=CANONICAL,
    partitions_def=region_partitions,
    blocking=True,
    description="Each attribute comes from its owning system whenever that system "
    "has a value; a non-owner's value never wins.",
)
def ownership_respected(
    context: AssetCheckExecutionContext, store: StoreResource
) -> AssetCheckResult:
    rules = region_flow.ownership_rules()
    sources = region_flow.sources_by_record(store.store, context.partition_key)
    offenders = []
    for cid, customer in _customers(store, context.partition_key).items():
        for attribute, lineage in customer.lineage.items():
            owner = rules.owner_of(attribute)
            record = sources.get((owner, customer.external_ids.get(owner, "")))
            if record is None or record.attributes.get(attribute) in (None, [], ""):
                continue  # the owner says nothing: a fallback system may supply the value
            if lineage.system != owner:
                offenders.append(f"{cid}.{attribute} from {lineage.system}, owner {owner}")
    return AssetCheckResult(
        passed=not offenders,
        metadata={"violations": len(offenders), "offenders": offenders[:SHOWN]},
    )


@asset_check(
    asset=CANONICAL,
    partitions_def=region_partitions,
    blocking=True,
    description="No system record belongs to two canonical customers.",
)
def no_duplicate_external_ids(
    context: AssetCheckExecutionContext, store: StoreResource
) -> AssetCheckResult:
    counts = Counter(
        (system, record_id)
        for customer in _customers(store, context.partition_key).values()
        for system, record_id in customer.external_ids.items()
    )
    duplicates = [f"{system} {rid} x{n}" for (system, rid), n in counts.items() if n > 1]
    return AssetCheckResult(
        passed=not duplicates,
        metadata={"duplicates": len(duplicates), "offenders": duplicates[:SHOWN]},
    )


@asset_check(
    asset=CANONICAL,
    partitions_def=region_partitions,
    description="Required fields are present and valid (names, ISO codes, tax "
    "registrations); invalid customers are held from the ERP until fixed.",
)
def required_fields_valid(
    context: AssetCheckExecutionContext, store: StoreResource
) -> AssetCheckResult:
    build = region_flow.load_build(store.store, context.partition_key)
    offenders = [
        f"{cid}: {'; '.join(i.message for i in issues)}"
        for cid, issues in sorted(build.issues.items())
    ]
    return AssetCheckResult(
        passed=not offenders,
        severity=AssetCheckSeverity.WARN,
        metadata={"invalid_customers": len(offenders), "offenders": offenders[:SHOWN]},
    )


@asset_check(
    asset=ERP_SYNC,
    partitions_def=region_partitions,
    description="Every active canonical customer is in the ERP with the attributes "
    "we send equal, its parent account (PARENT default dimension) included, unless it waits "
    "for an approval or a fix. A billing address the change policy sent to a new ship-to "
    "must be in that ship-to, while the customer keeps its invoiced address.",
)
def every_active_customer_in_erp(
    context: AssetCheckExecutionContext, store: StoreResource, erp: ErpResource
) -> AssetCheckResult:
    plan = region_flow.plan_against_erp(store.store, erp, context.partition_key)
    missing = [f"{a.canonical_id}: {a.kind} {a.number} {a.changes}" for a in plan.actions]
    return AssetCheckResult(
        passed=not missing,
        metadata={
            "out_of_line": len(missing),
            "offenders": missing[:SHOWN],
            "in_sync": len(plan.in_sync),
            "waiting_for_approval_or_fix": len(plan.waiting),
        },
    )


customer_checks = [
    ownership_respected,
    no_duplicate_external_ids,
    required_fields_valid,
    every_active_customer_in_erp,
]
