"""The finance rules on invoices, payments and credit notes as asset checks, one per day and
region like the assets they guard. Billing and the ERP are read live, so a document edited or
deleted in the ERP outside the platform shows at the next run; such drift is opened as an
exception (``erp_edited_out_of_band``, ``erp_deleted_out_of_band``), never rewritten.

Failure metadata names the offending records (the first 20, as JSON rows and a markdown
table, and the total count) with both amounts, for finance to act on.

Blocking checks sit on the canonical assets, so a failure stops the ERP posting asset of the
same run: ``region_mappings_complete`` and ``posting_reference_data_intact``.

Every check body runs through ``reported``: Dagster 1.13 records no evaluation for a check
that raises, so an error (a bad config file, a missing ERP company) would otherwise alert
nobody. A region not in live mode passes with ``skipped`` in its metadata, which the alert
side reads as no change (neither a breach nor a recovery).
"""

import functools
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Concatenate, ParamSpec

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    MetadataValue,
    asset_check,
)

from assets.inbox_lookups import billing_region_lookup
from assets.partitions import date_region_partitions
from assets.transactions import FLOWS, DocumentFlow
from resources.billing import BillingResource
from resources.erp import ErpResource, in_effect, is_posted
from resources.errors import NotFound
from resources.store import StoreResource
from sync_platform.alerts import SKIPPED
from sync_platform.config_files import ConfigError
from sync_platform.settings import Mode, Modes
from sync_platform.store import Store
from sync_platform.store.columns import utc_now
from sync_platform.transactions import completeness, flow
from sync_platform.transactions.billing_extract import DEFAULT_FINALIZATION_LOOKBACK
from sync_platform.transactions.billing_mapping import invoice_issued_at
from sync_platform.transactions.completeness import Findings, Offender, OpenInvoice
from sync_platform.transactions.erp_gateway import (
    TRANSIENT_ERRORS,
    WORKFLOW_OF,
    ErpPostingGateway,
    company_id_for,
    gateway_for,
)
from sync_platform.transactions.lifecycle import IN_ERP, STAGES
from sync_platform.transactions.mappings import PostingConfig
from sync_platform.transactions.model import (
    CanonicalCreditNote,
    CanonicalPayment,
    CanonicalTransaction,
    TransactionKind,
)
from sync_platform.transactions.posting import (
    ErpDocState,
    PostingReport,
    Reversal,
    reconcile_transactions,
)
from sync_platform.transactions.sla import SlaConfig

FLOW_OF: dict[TransactionKind, DocumentFlow] = {spec.kind: spec for spec in FLOWS}
INVOICES, PAYMENTS, CREDIT_NOTES = (FLOW_OF[k] for k in ("invoice", "payment", "credit_note"))
ERP_DOCUMENTS: dict[TransactionKind, str] = {
    "invoice": "sales invoices",
    "payment": "cash receipts",
    "credit_note": "credit memos",
}
# Stages of a document billing has and the ERP is not expected to hold yet.
NOT_YET_IN_ERP = tuple(s for s in STAGES if s not in IN_ERP and s != "skipped")


P = ParamSpec("P")
CheckBody = Callable[Concatenate[AssetCheckExecutionContext, P], AssetCheckResult]


def reported(body: CheckBody[P]) -> CheckBody[P]:
    """``body``, with any exception it raises turned into a failed ERROR evaluation naming the
    error: Dagster records no evaluation for a check that raises, so nothing would alert."""

    @functools.wraps(body)
    def evaluate(
        context: AssetCheckExecutionContext, *args: P.args, **kwargs: P.kwargs
    ) -> AssetCheckResult:
        try:
            return body(context, *args, **kwargs)
        except Exception as error:
            problem = f"{type(error).__name__}: {error}"
            context.log.exception(f"check {body.__name__} could not evaluate: {problem}")
            return AssetCheckResult(
                passed=False,
                severity=AssetCheckSeverity.ERROR,
                metadata={"check_error": problem, "offending": 0},
            )

    return evaluate


def partition_of(context: AssetCheckExecutionContext) -> tuple[date, str]:
    key = date_region_partitions.get_partition_key_from_str(str(context.partition_key))
    dims = key.keys_by_dimension
    return date.fromisoformat(dims["date"]), dims["region"]


@dataclass(frozen=True)
class PartitionView:
    """One day and region of one kind: billing's documents as billing holds them now, and the
    ERP documents carrying their ids (and the ids of what we posted), as the ERP holds them."""

    kind: TransactionKind
    day: date
    region: str
    documents: list[CanonicalTransaction]
    rejected: list[tuple[str, str]]
    found: dict[str, ErpDocState]
    posted_before: set[str]  # billing ids we posted (stage posted or reconciled)
    held: dict[str, str]  # billing id → reason of its open exception
    drifted: list[dict[str, str]]  # ERP documents edited or deleted outside the platform
    # void in billing after it was posted: billing id → what ERP credit memos credit of it
    reversals: dict[str, Reversal]


def mode_of(kind: TransactionKind, region: str) -> Mode:
    return Modes.load().mode_for(region, WORKFLOW_OF[kind])


def read_partition(
    kind: TransactionKind,
    context: AssetCheckExecutionContext,
    billing: BillingResource,
    erp: ErpResource,
    store: Store,
    *,
    verify: bool,
) -> PartitionView:
    """``verify``: read back every document we posted and open an exception for each one
    changed or removed in the ERP since (``reconcile_transactions``)."""
    day, region = partition_of(context)
    start, end = flow.day_window(day)
    result = FLOW_OF[kind].extract(billing, start, end, billing_region_lookup(billing, store))
    documents = [r for r in result.for_region(region) if r.business_date == day]
    rejected = [
        (r.source_id, r.reason)
        for r in result.rejected_for_region(region)
        if r.business_date == day
    ]
    gateway = gateway_for(erp, PostingConfig.load(), region)
    drifted: list[dict[str, str]] = []
    # Verifying holds the partition's posting lock, so no run posts it meanwhile: what the
    # store says we posted and what the ERP holds are read at one moment.
    lock = store.partition_locks([flow.partition_lock(kind, region, day)])
    with lock if verify else nullcontext():
        ours = [
            (row, doc)
            for row, doc in flow.partition_items(store, kind, region, day)
            if row.stage in IN_ERP
        ]
        wanted = sorted({d.source_id for d in documents} | {doc.source_id for _, doc in ours})
        found = gateway.find(kind, wanted) if wanted else {}
        if verify:
            report = PostingReport(kind)
            reconcile_transactions(kind, ours, store, gateway, report, found=found)
            drifted = [p for p in report.problems if p["reason"].endswith("_out_of_band")]
        reversals = _reversals(kind, documents, found, gateway)
        if verify:
            _close_reversed(kind, reversals, found, store)
    ids = [f"billing:{kind}:{d.source_id}" for d in documents]
    held = {
        e.txn_id.split(":", 2)[2]: e.reason_code
        for e in (store.exceptions(status="open", txn_ids=ids) if ids else [])
    }
    return PartitionView(
        kind,
        day,
        region,
        documents,
        rejected,
        found,
        {doc.source_id for _, doc in ours},
        held,
        drifted,
        reversals,
    )


def _reversals(
    kind: TransactionKind,
    documents: list[CanonicalTransaction],
    found: dict[str, ErpDocState],
    gateway: ErpPostingGateway,
) -> dict[str, Reversal]:
    """Invoices void in billing but posted in the ERP: billing id → what posted credit
    memos in the ERP (finance's corrective ones or ours) credit of each."""
    if kind != "invoice":
        return {}
    void_posted = {
        state.id: (doc, state)
        for doc in documents
        if completeness.not_expected(doc) is not None
        and (state := found.get(doc.source_id)) is not None
        and state.posted
    }
    reversals = gateway.reversals([state for _, state in void_posted.values()])
    return {void_posted[erp_id][0].source_id: r for erp_id, r in reversals.items()}


def _close_reversed(
    kind: TransactionKind,
    reversals: dict[str, Reversal],
    found: dict[str, ErpDocState],
    store: Store,
) -> None:
    """A void-after-posting exception is done once the ERP credits exactly the total."""
    done = {
        f"billing:{kind}:{source_id}": r
        for source_id, r in reversals.items()
        if r.credited == found[source_id].total
    }
    if not done:
        return
    for exception in store.exceptions(
        status="open", reason_code="voided_after_posting", txn_ids=list(done)
    ):
        memos = ", ".join(done[exception.txn_id].credit_memos)
        store.close_exceptions(exception.txn_id, f"reversed in the ERP by credit memo {memos}")


def _live_view(
    kind: TransactionKind,
    context: AssetCheckExecutionContext,
    billing: BillingResource,
    erp: ErpResource,
    store: Store,
    *,
    verify: bool,
) -> PartitionView | AssetCheckResult:
    """The partition as both systems hold it, or the skipped result of a region whose
    workflow is not live."""
    skipped = _not_live(kind, partition_of(context)[1])
    if skipped is not None:
        return skipped
    return read_partition(kind, context, billing, erp, store, verify=verify)


def _not_live(kind: TransactionKind, region: str) -> AssetCheckResult | None:
    mode = mode_of(kind, region)
    if mode == "live":
        return None
    why = f"{WORKFLOW_OF[kind]} of {region} are in {mode} mode and write nothing"
    return AssetCheckResult(passed=True, metadata={"mode": mode, SKIPPED: why})


def _result(
    findings: Findings | Sequence[Offender],
    severity: AssetCheckSeverity,
    **extra: Any,
) -> AssetCheckResult:
    if isinstance(findings, Findings):
        offenders, metadata = findings.offenders, findings.metadata()
    else:
        offenders, metadata = list(findings), completeness.offender_metadata(findings)
    metadata["offenders_table"] = MetadataValue.md(metadata["offenders_table"])
    return AssetCheckResult(passed=not offenders, severity=severity, metadata={**metadata, **extra})


def _settled_at(billing: BillingResource) -> Callable[[CanonicalTransaction], datetime | None]:
    """When billing settled a payment (its balance transaction became available); read only
    for the payments a rule asks about."""

    def settled_at(doc: CanonicalTransaction) -> datetime | None:
        if not isinstance(doc, CanonicalPayment) or not doc.settled:
            return None
        if doc.balance_transaction_id is None:
            return doc.occurred_at
        return billing.get_balance_transaction(doc.balance_transaction_id).available_on

    return settled_at


def _posted_once(view: PartitionView, due: Callable[[CanonicalTransaction], bool]) -> Findings:
    return completeness.compare_with_erp(
        view.documents,
        view.found,
        due=due,
        posted_before=view.posted_before,
        held=view.held,
        rejected=view.rejected,
        reversals=view.reversals,
    )


# -- completeness, with out-of-band drift ------------------------------------------------------
@asset_check(
    asset=INVOICES.erp,
    partitions_def=date_region_partitions,
    description="Every finalized billing invoice of the day is posted in the ERP exactly once "
    "with billing's total (count and amount per currency on both sides). Invoices younger "
    "than the posting SLA count as in flight; a posted invoice edited or deleted in the ERP "
    "opens an exception. (A second ERP document for one invoice: no_duplicate_erp_documents.)",
)
@reported
def every_finalized_invoice_posted_once(
    context: AssetCheckExecutionContext,
    billing: BillingResource,
    erp: ErpResource,
    store: StoreResource,
) -> AssetCheckResult:
    view = _live_view("invoice", context, billing, erp, store.store, verify=True)
    if isinstance(view, AssetCheckResult):
        return view
    sla, now = SlaConfig.load(), utc_now()
    findings = _posted_once(view, lambda d: now - d.occurred_at > sla.invoice_posted_within)
    return _result(findings, AssetCheckSeverity.ERROR, drifted=view.drifted)


@asset_check(
    asset=PAYMENTS.erp,
    partitions_def=date_region_partitions,
    description="Every settled billing payment of the day is applied in the ERP once with "
    "its amount (per currency on both sides). Payments settled within the SLA count as in "
    "flight; a cash receipt deleted in the ERP opens an exception.",
)
@reported
def every_settled_payment_applied(
    context: AssetCheckExecutionContext,
    billing: BillingResource,
    erp: ErpResource,
    store: StoreResource,
) -> AssetCheckResult:
    view = _live_view("payment", context, billing, erp, store.store, verify=True)
    if isinstance(view, AssetCheckResult):
        return view
    sla, now, settled_at = SlaConfig.load(), utc_now(), _settled_at(billing)

    def due(doc: CanonicalTransaction) -> bool:
        settled = settled_at(doc)
        return settled is not None and now - settled > sla.payment_applied_within

    findings = _posted_once(view, due)
    unsettled = sum(1 for d in view.documents if completeness.not_expected(d) is not None)
    return _result(
        findings, AssetCheckSeverity.ERROR, drifted=view.drifted, awaiting_settlement=unsettled
    )


@asset_check(
    asset=CREDIT_NOTES.erp,
    partitions_def=date_region_partitions,
    description="Every issued billing credit note of the day is a posted ERP credit memo "
    "with its total, naming the ERP invoice its billing invoice was posted as, and no invoice "
    "is credited beyond its total. Notes younger than the invoice posting SLA count as in "
    "flight; a credit memo deleted or edited in the ERP opens an exception.",
)
@reported
def every_credit_note_reverses_its_invoice_once(
    context: AssetCheckExecutionContext,
    billing: BillingResource,
    erp: ErpResource,
    store: StoreResource,
) -> AssetCheckResult:
    view = _live_view("credit_note", context, billing, erp, store.store, verify=True)
    if isinstance(view, AssetCheckResult):
        return view
    sla, now = SlaConfig.load(), utc_now()
    findings = _posted_once(view, lambda d: now - d.occurred_at > sla.invoice_posted_within)
    notes = [d for d in view.documents if isinstance(d, CanonicalCreditNote)]
    company = company_id_for(erp, PostingConfig.load(), view.region)
    posted_memos = {
        source_id: memo.invoiceId
        for source_id, memo in erp.find_sales_credit_memos(
            company, [n.source_id for n in notes if view.found.get(n.source_id)]
        ).items()
        if in_effect(memo.status)
    }
    invoices = {n.invoice_id for n in notes}
    findings.offenders += completeness.credit_lineage(
        notes,
        posted_memos,
        flow.invoice_postings(store.store, invoices),
        flow.invoice_credit(store.store, invoices),
    )
    return _result(findings, AssetCheckSeverity.ERROR, drifted=view.drifted)


# -- balances and duplicates -------------------------------------------------------------------
@asset_check(
    asset=PAYMENTS.erp,
    partitions_def=date_region_partitions,
    description="Open receivables per customer and currency over the invoices finalized that "
    "day: billing's open amount (plus payments and credit notes the ERP is not expected to "
    "hold yet) equals the ERP's. It sits on the cash applications because payments move open "
    "balances; a later payment is seen when the day is checked again (nightly, backfills).",
)
@reported
def ar_balance_per_customer_matches(
    context: AssetCheckExecutionContext,
    billing: BillingResource,
    erp: ErpResource,
    store: StoreResource,
) -> AssetCheckResult:
    day, region = partition_of(context)
    if (skipped := _not_live("invoice", region)) is not None:
        return skipped
    start, end = flow.day_window(day)
    region_of = billing_region_lookup(billing, store.store)
    invoices = [
        i
        for i in billing.list_invoices(
            created_gte=start - DEFAULT_FINALIZATION_LOOKBACK, created_lt=end
        )
        if i.status in ("open", "paid", "uncollectible")
        and start <= invoice_issued_at(i) < end
        and region_of(str(i.customer)) == region
    ]
    company = company_id_for(erp, PostingConfig.load(), region)
    in_erp = {
        number: invoice
        for number, invoice in erp.find_sales_invoices(company, [i.id for i in invoices]).items()
        if is_posted(invoice.status)
    }
    pending = _in_flight_against(store.store, region, day, set(in_erp))
    compared = [
        OpenInvoice(
            invoice_id=i.id,
            customer=str(i.customer),
            currency=i.currency.upper(),
            billing_open=i.amount_remaining,
            erp_open=int(in_erp[i.id].remainingAmount or 0),
            in_flight=pending[i.id],
        )
        for i in invoices
        if i.id in in_erp
    ]
    offenders = completeness.ar_differences(compared)
    return _result(
        offenders,
        AssetCheckSeverity.ERROR,
        invoices_compared=len(compared),
        customers_compared=len({(c.customer, c.currency) for c in compared}),
    )


def _in_flight_against(store: Store, region: str, day: date, invoice_ids: set[str]) -> Counter[str]:
    """Billing invoice id → what billing's payments and credit notes took off it that the ERP
    does not hold yet (not posted: unsettled, waiting or held)."""
    pending: Counter[str] = Counter()
    for kind, amount_key in (("payment", "amount"), ("credit_note", "total")):
        for row in store.iter_transactions(kind=kind, region=region, stages=NOT_YET_IN_ERP):
            invoice_id = row.payload.get("invoice_id")
            if invoice_id in invoice_ids and row.business_date >= day:
                pending[invoice_id] += int(row.payload[amount_key])
    return pending


def _duplicates_check(spec: DocumentFlow) -> AssetChecksDefinition:
    @asset_check(
        asset=spec.erp,
        name="no_duplicate_erp_documents",
        partitions_def=date_region_partitions,
        description=f"No billing id is on two posted {ERP_DOCUMENTS[spec.kind]} dated that "
        "day in the region's ERP company: each billing document is one ERP document.",
    )
    @reported
    def no_duplicate_erp_documents(
        context: AssetCheckExecutionContext, erp: ErpResource
    ) -> AssetCheckResult:
        day, region = partition_of(context)
        company = company_id_for(erp, PostingConfig.load(), region)
        counts = _erp_numbers_of_day(erp, company, spec.kind, day)
        offenders = [
            Offender(number, "", "", None, f"{n} documents", None, "duplicated in the ERP")
            for number, n in sorted(counts.items())
            if n > 1
        ]
        return _result(offenders, AssetCheckSeverity.ERROR, documents_read=sum(counts.values()))

    return no_duplicate_erp_documents


def _erp_numbers_of_day(
    erp: ErpResource, company: str, kind: TransactionKind, day: date
) -> Counter[str]:
    """External number (a payment: document number) → how many posted ERP documents carry
    it; a draft books nothing (and posting re-finds our own)."""
    if kind in ("invoice", "credit_note"):
        listed = (
            erp.list_sales_invoices(company, posting_date=day)
            if kind == "invoice"
            else erp.list_sales_credit_memos(company, posting_date=day)
        )
        return Counter(
            d.externalDocumentNumber.upper()
            for d in listed
            if d.externalDocumentNumber and is_posted(d.status)
        )
    # A posted payment debits the bank once under its document number: twice is two receipts.
    entries = erp.list_general_ledger_entries(company, document_type="Payment", posting_date=day)
    return Counter(e.documentNumber for e in entries if e.debitAmount)


# -- SLAs -----------------------------------------------------------------------------------------
@asset_check(
    asset=INVOICES.erp,
    partitions_def=date_region_partitions,
    description="No finalized invoice is missing from the ERP longer than "
    "invoice_posted_within_minutes (config/sla.yaml, 15 by default) after finalization.",
)
@reported
def no_invoice_unposted_after_sla(
    context: AssetCheckExecutionContext,
    billing: BillingResource,
    erp: ErpResource,
    store: StoreResource,
) -> AssetCheckResult:
    sla = SlaConfig.load()
    return _late(
        "invoice",
        context,
        billing,
        erp,
        store.store,
        since=lambda d: d.occurred_at,
        within=sla.invoice_posted_within,
        what="finalized",
    )


@asset_check(
    asset=PAYMENTS.erp,
    partitions_def=date_region_partitions,
    description="No settled payment is unapplied in the ERP longer than "
    "payment_applied_within_minutes (config/sla.yaml, 60 by default) after settlement.",
)
@reported
def no_payment_unapplied_after_sla(
    context: AssetCheckExecutionContext,
    billing: BillingResource,
    erp: ErpResource,
    store: StoreResource,
) -> AssetCheckResult:
    sla = SlaConfig.load()
    return _late(
        "payment",
        context,
        billing,
        erp,
        store.store,
        since=_settled_at(billing),
        within=sla.payment_applied_within,
        what="settled",
    )


def _late(
    kind: TransactionKind,
    context: AssetCheckExecutionContext,
    billing: BillingResource,
    erp: ErpResource,
    store: Store,
    *,
    since: Callable[[CanonicalTransaction], datetime | None],
    within: timedelta,
    what: str,
) -> AssetCheckResult:
    view = _live_view(kind, context, billing, erp, store, verify=False)
    if isinstance(view, AssetCheckResult):
        return view
    late = completeness.overdue(
        view.documents, view.found, since=since, within=within, now=utc_now(), what=what
    )
    minutes = int(within.total_seconds() // 60)
    return _result(late, AssetCheckSeverity.WARN, sla_minutes=minutes)


# -- blocking: what posting needs ----------------------------------------------------------------
def _config_failure(error: ConfigError) -> AssetCheckResult:
    return AssetCheckResult(
        passed=False,
        severity=AssetCheckSeverity.ERROR,
        metadata={"file": str(error.path), "key": error.key, "problem": str(error)},
    )


def _mappings_check(spec: DocumentFlow) -> AssetChecksDefinition:
    @asset_check(
        asset=spec.canonical,
        name="region_mappings_complete",
        partitions_def=date_region_partitions,
        blocking=True,
        description="config/posting.yaml maps the region (ERP company, currencies) and at "
        "least one billing tax rate to its ERP tax groups; otherwise nothing of the region "
        "can post, so the ERP asset does not run.",
    )
    @reported
    def region_mappings_complete(context: AssetCheckExecutionContext) -> AssetCheckResult:
        region = partition_of(context)[1]
        try:
            config = PostingConfig.load()
        except ConfigError as error:
            return _config_failure(error)
        missing: list[str] = []
        if region not in config.regions:
            missing.append(f"regions.{region} (ERP company, currencies, dimensions)")
        taxed = sorted(rate for rate, groups in config.tax_rates.items() if region in groups)
        if not taxed:
            missing.append(f"tax_rates.*.{region} (no billing tax rate maps to an ERP tax group)")
        if not config.products:
            missing.append("products (no billing product maps to an ERP item or account)")
        return AssetCheckResult(
            passed=not missing,
            severity=AssetCheckSeverity.ERROR,
            metadata={
                "missing": missing,
                "tax_rates_mapped": len(taxed),
                "products_mapped": len(config.products),
            },
        )

    return region_mappings_complete


def _reference_check(spec: DocumentFlow) -> AssetChecksDefinition:
    @asset_check(
        asset=spec.canonical,
        name="posting_reference_data_intact",
        partitions_def=date_region_partitions,
        blocking=True,
        description="The ERP company of the region holds, live, what the mapping names: tax "
        "groups, items (not blocked) and G/L accounts, foreign currencies, dimension values, "
        "and an accounting period for the day (a closed one is not a block: its documents "
        "become period_closed exceptions). An unreachable ERP is a warning (posting then "
        "records erp_unavailable per document), not a block.",
    )
    @reported
    def posting_reference_data_intact(
        context: AssetCheckExecutionContext, erp: ErpResource
    ) -> AssetCheckResult:
        day, region = partition_of(context)
        try:
            config = PostingConfig.load()
            mapping = config.region(region)
        except ConfigError as error:
            return _config_failure(error)
        except KeyError as error:
            return AssetCheckResult(
                passed=False, severity=AssetCheckSeverity.ERROR, metadata={"problem": str(error)}
            )
        try:
            company = company_id_for(erp, config, region)
            missing = _missing_reference(erp, company, config, region, day)
            journal = _journal_state(erp, company, config)
        except LookupError as error:
            missing, journal = [str(error)], "unknown"
        except TRANSIENT_ERRORS as error:
            return AssetCheckResult(
                passed=False,
                severity=AssetCheckSeverity.WARN,
                metadata={"erp_unreachable": f"{type(error).__name__}: {error}"},
            )
        return AssetCheckResult(
            passed=not missing,
            severity=AssetCheckSeverity.ERROR,
            metadata={
                "erp_company": mapping.erp_company,
                "missing": missing[: completeness.SHOWN],
                "missing_count": len(missing),
                "payment_journal": journal,
            },
        )

    return posting_reference_data_intact


def _missing_reference(
    erp: ErpResource, company: str, config: PostingConfig, region: str, day: date
) -> list[str]:
    mapping = config.region(region)
    gateway = ErpPostingGateway(erp, company, config.payment_journal, mapping.local_currency)
    reference = gateway.reference()
    missing = [
        f"tax group {groups[region]} (tax rate {rate})"
        for rate, groups in sorted(config.tax_rates.items())
        if region in groups and groups[region] not in reference.tax_groups
    ]
    for product, target in sorted(config.products.items()):
        known = reference.items if target.item is not None else reference.accounts
        if target.number not in known:
            what = "item (or blocked)" if target.item is not None else "G/L account"
            missing.append(f"{what} {target.number} (product {product})")
    missing += [
        f"currency {code}"
        for code in mapping.currencies
        if code != mapping.local_currency and code not in reference.currencies
    ]
    # A closed period is not broken reference data: each document dated in it becomes a
    # period_closed exception finance can act on, so the posting still runs.
    if reference.period_of(day) is None:
        missing.append(f"an accounting period for {day}")
    missing += [
        f"dimension value {code}={value}"
        for code, value in sorted(mapping.dimensions.items())
        if erp.find_dimension_value(company, code, value) is None
    ]
    return missing


def _journal_state(erp: ErpResource, company: str, config: PostingConfig) -> str:
    try:
        erp.payment_journal(company, config.payment_journal)
    except NotFound:
        return f"{config.payment_journal}: created on first use"
    return f"{config.payment_journal}: present"


transaction_checks: list[AssetChecksDefinition] = [
    every_finalized_invoice_posted_once,
    every_settled_payment_applied,
    every_credit_note_reverses_its_invoice_once,
    ar_balance_per_customer_matches,
    no_invoice_unposted_after_sla,
    no_payment_unapplied_after_sla,
    *(
        make(spec)
        for spec in FLOWS
        for make in (_duplicates_check, _mappings_check, _reference_check)
    ),
]
