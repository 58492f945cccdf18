"""One date-and-region partition of financial documents: land, make canonical, post.

The assets call these in turn; each step reads its input from the integration store, so a
step can be re-run on its own and every run of a partition does the same thing again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sync_platform.customers.erp_sync import erp_number_for
from sync_platform.store import SourceRecordIn, Store, Transaction, TransactionIn
from sync_platform.transactions.billing_extract import ExtractResult
from sync_platform.transactions.lifecycle import IN_ERP
from sync_platform.transactions.model import (
    CanonicalCreditNote,
    CanonicalInvoice,
    CanonicalPayment,
    CanonicalTransaction,
    TransactionKind,
)
from sync_platform.transactions.posting import (
    ErpPoster,
    PostingContext,
    PostingReport,
    post_transactions,
    reconcile_transactions,
)
from sync_platform.transactions.validation import ErpCustomerRef

MODEL_OF: dict[TransactionKind, type[CanonicalTransaction]] = {
    "invoice": CanonicalInvoice,
    "payment": CanonicalPayment,
    "credit_note": CanonicalCreditNote,
}
REJECTED = "rejected_"  # object type prefix of billing records we could not read
UNASSIGNED = "unassigned_"  # ... and of those whose customer has no known region


def day_window(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), tzinfo=UTC)
    return start, start + timedelta(days=1)


def billing_regions(store: Store) -> dict[str, str]:
    """Billing customer id → region, from the customer snapshots the customer assets keep."""
    return store.source_regions("billing", "customer")


def land(
    store: Store,
    kind: TransactionKind,
    region: str,
    day: date,
    result: ExtractResult[Any],
    read_at: datetime,
) -> dict[str, Any]:
    """Keep what billing holds for the partition, and every record we could not read.

    ``read_at`` is when the reading began: each record is stamped with it, so a run that
    read billing earlier can never replace what a run that read later has landed (the store
    keeps the newer stamp). Out-of-order and overlapping runs are harmless that way.
    """
    records = [r for r in result.for_region(region) if r.business_date == day]
    counts = store.upsert_source_records(
        "billing",
        kind,
        (
            SourceRecordIn(
                record_id=r.source_id,
                modified_at=read_at,
                payload=r.model_dump(mode="json"),
                region=region,
                version=r.source_version,
                business_date=day,
            )
            for r in records
        ),
    )
    rejected = [r for r in result.rejected_for_region(region) if r.business_date == day]
    store.upsert_source_records(
        "billing",
        REJECTED + kind,
        (
            SourceRecordIn(
                record_id=r.source_id,
                modified_at=datetime.combine(day, time(), tzinfo=UTC),
                payload={"reason": r.reason},
                region=region,
                business_date=day,
            )
            for r in rejected
        ),
    )
    unassigned = [u for u in result.unassigned if u.business_date == day]
    store.upsert_source_records(
        "billing",
        UNASSIGNED + kind,
        (
            SourceRecordIn(
                record_id=u.source_id,
                modified_at=datetime.combine(day, time(), tzinfo=UTC),
                payload={"reason": u.reason, "billing_customer_id": u.billing_customer_id},
                business_date=day,
            )
            for u in unassigned
        ),
    )
    return {
        "documents": len(records),
        "inserted": counts.inserted,
        "updated": counts.updated,
        "unchanged": counts.unchanged,
        "rejected": len(rejected),
        "rejected_preview": [{"id": r.source_id, "reason": r.reason} for r in rejected[:10]],
        "unassigned": len(unassigned),
        "unassigned_preview": [
            {"id": u.source_id, "customer": u.billing_customer_id, "reason": u.reason}
            for u in unassigned[:10]
        ],
        "totals_by_currency": _totals(records),
    }


def receive(store: Store, kind: TransactionKind, region: str, day: date) -> dict[str, Any]:
    """Turn the landed documents into transactions; a change after posting is an exception."""
    model = MODEL_OF[kind]
    # The partition's posting lock: a new version must not land while a run posts the old,
    # and what is received is what the store holds once the lock is ours.
    with store.partition_locks([partition_lock(kind, region, day)]):
        documents = [
            model.model_validate(r.payload)
            for r in store.source_records("billing", kind, region, business_date=day)
        ]
        counts = store.receive_transactions(TransactionIn.from_canonical(d) for d in documents)
    by_id = {d.txn_id: d for d in documents}
    for txn_id in counts.changed_after_posting:
        changed = by_id[txn_id]
        voided = (
            isinstance(changed, (CanonicalInvoice, CanonicalCreditNote))
            and changed.status == "void"
        )
        store.open_exception(
            txn_id,
            "voided_after_posting" if voided else "changed_after_posting",
            f"{kind.replace('_', ' ').capitalize()} {changed.source_id} was "
            + (
                "voided in billing after it was posted to the ERP; reverse it in the ERP "
                + ("with a credit memo." if kind == "invoice" else "by hand (a new invoice).")
                if voided
                else "changed in billing after it was posted to the ERP; the ERP document was "
                "left as posted. Compare both and correct one of them."
            ),
        )
    return {
        "documents": len(documents),
        "new": counts.new,
        "changed": counts.changed,
        "unchanged": counts.unchanged,
        "changed_after_posting": list(counts.changed_after_posting)[:20],
        "stages": store.stage_counts(kind=kind, region=region, business_date=day),
    }


def partition_items(
    store: Store, kind: TransactionKind, region: str, day: date
) -> list[tuple[Transaction, CanonicalTransaction]]:
    model = MODEL_OF[kind]
    return [
        (row, model.model_validate(row.payload))
        for row in store.transactions(kind=kind, region=region, business_date=day)
    ]


def invoice_postings(store: Store, invoice_ids: Iterable[str]) -> dict[str, str]:
    """Billing invoice id → ERP invoice id, for the invoices that are posted."""
    wanted = sorted({f"billing:invoice:{i}" for i in invoice_ids})
    if not wanted:
        return {}
    return {
        row.source_id: row.erp_document_id
        for row in store.transactions(kind="invoice", txn_ids=wanted, stages=IN_ERP)
        if row.erp_document_id
    }


def invoice_credit(store: Store, invoice_ids: Iterable[str]) -> dict[str, tuple[int, int]]:
    """Billing invoice id → (its total, the total of credit notes already posted against it),
    so that no invoice is reversed for more than it was."""
    wanted = {str(i) for i in invoice_ids}
    if not wanted:
        return {}
    invoice_rows = store.transactions(
        kind="invoice", txn_ids=sorted(f"billing:invoice:{i}" for i in wanted)
    )
    credited: dict[str, int] = {}
    for row in store.iter_transactions(kind="credit_note", stages=IN_ERP):
        invoice_id = row.payload.get("invoice_id")
        if invoice_id in wanted:
            credited[invoice_id] = credited.get(invoice_id, 0) + int(row.payload["total"])
    return {
        row.source_id: (int(row.payload["total"]), credited.get(row.source_id, 0))
        for row in invoice_rows
    }


def invoice_products(store: Store, invoice_ids: Iterable[str]) -> dict[str, str]:
    """Billing invoice id → its product, for invoices that sell exactly one product."""
    wanted = sorted({f"billing:invoice:{i}" for i in invoice_ids})
    out: dict[str, str] = {}
    for row in store.transactions(kind="invoice", txn_ids=wanted) if wanted else ():
        products = {line.get("product_id") for line in row.payload.get("lines", ())}
        if len(products) == 1 and None not in products:
            out[row.source_id] = str(products.pop())
    return out


def post(
    store: Store,
    kind: TransactionKind,
    items: Sequence[tuple[Transaction, CanonicalTransaction]],
    erp: ErpPoster | None,
    context: Callable[[Mapping[str, str]], PostingContext],
    *,
    replay: bool = False,
    replay_note: str = "replay requested",
    progress: Callable[[int, int], None] | None = None,
) -> PostingReport:
    """Post ``items``; ``context`` is given the postings of the invoices they refer to.

    The partitions of ``items`` are locked for the duration, and the transactions read again
    once the locks are held: a run that had to wait sees what the other run posted.
    """
    with store.partition_locks(lock_name(row) for row, _ in items):
        fresh = {r.txn_id: r for r in store.transactions(txn_ids=[row.txn_id for row, _ in items])}
        model = {row.txn_id: MODEL_OF[row.kind] for row, _ in items}  # type: ignore[index]
        current = [(fresh[t], model[t].model_validate(fresh[t].payload)) for t in fresh]
        return _post_locked(store, kind, current, erp, context, replay, replay_note, progress)


def partition_lock(kind: str, region: str, day: date) -> str:
    """One lock per kind, region and day: what one partition of one ERP asset posts."""
    return f"post:{kind}:{region}:{day.isoformat()}"


def lock_name(row: Transaction) -> str:
    return partition_lock(row.kind, row.region, row.business_date)


def _post_locked(
    store: Store,
    kind: TransactionKind,
    items: Sequence[tuple[Transaction, CanonicalTransaction]],
    erp: ErpPoster | None,
    context: Callable[[Mapping[str, str]], PostingContext],
    replay: bool,
    replay_note: str,
    progress: Callable[[int, int], None] | None,
) -> PostingReport:
    referred = [
        doc.invoice_id
        for _, doc in items
        if isinstance(doc, (CanonicalPayment, CanonicalCreditNote)) and doc.invoice_id
    ]
    ctx = replace(
        context(invoice_postings(store, referred)),
        invoice_products=invoice_products(store, referred),
        invoice_credit=invoice_credit(store, referred) if kind == "credit_note" else {},
    )
    report = post_transactions(
        kind, items, store, erp, ctx, replay=replay, replay_note=replay_note, progress=progress
    )
    if erp is not None and ctx.mode == "live":
        ids = [row.txn_id for row, _ in items]
        posted = [
            (row, MODEL_OF[kind].model_validate(row.payload))
            for row in store.transactions(txn_ids=ids, stages=("posted",))
        ]
        reconcile_transactions(kind, posted, store, erp, report)
    return report


def report_metadata(report: PostingReport) -> dict[str, Any]:
    return {
        "mode_outcomes": dict(report.outcomes),
        "erp_writes": report.erp_writes,
        "reconciled": report.reconciled,
        "exceptions_by_reason": dict(report.reasons),
        "posted_by_currency": dict(report.posted_totals),
        "problems": report.problems,
    }


def _totals(records: Sequence[CanonicalTransaction]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for r in records:
        amount = r.amount if isinstance(r, CanonicalPayment) else r.total
        totals[r.currency] = totals.get(r.currency, 0) + amount
    return totals


@dataclass(frozen=True)
class ReplaySelection:
    reason: str | None = None
    region: str | None = None
    since: datetime | None = None
    # Only these transactions' exceptions (the console's "replay this one"); None: any.
    txn_ids: tuple[str, ...] | None = None


def replay_candidates(
    store: Store, selection: ReplaySelection
) -> dict[tuple[TransactionKind, str], list[str]]:
    """The transactions of the open exceptions matching the selection, by kind and region
    (ids only: a replay loads them a chunk at a time)."""
    groups: dict[tuple[TransactionKind, str], list[str]] = {}
    for exception in store.exceptions(
        status="open",
        reason_code=selection.reason,
        region=selection.region,
        opened_since=selection.since,
        txn_ids=selection.txn_ids,
    ):
        kind: TransactionKind = exception.kind  # type: ignore[assignment]
        groups.setdefault((kind, exception.region), []).append(exception.txn_id)
    return groups


def load_items(
    store: Store, txn_ids: Sequence[str]
) -> list[tuple[Transaction, CanonicalTransaction]]:
    return [
        (row, MODEL_OF[row.kind].model_validate(row.payload))  # type: ignore[index]
        for row in store.transactions(txn_ids=txn_ids)
    ]


def customer_refs(
    store: Store, region: str, erp_customers: Mapping[str, ErpCustomerRef]
) -> dict[str, ErpCustomerRef]:
    """Billing customer id → the ERP customer it is linked to, for those the ERP holds."""
    refs: dict[str, ErpCustomerRef] = {}
    for xref in store.xrefs(region):
        if xref.billing_customer_id is None:
            continue
        number = xref.erp_customer_number or erp_number_for(xref.canonical_id)
        found = erp_customers.get(number)
        if found is not None:
            refs[xref.billing_customer_id] = found
    return refs


class RegionLookup:
    """Billing customer id → region: from the customer snapshots, else asked of billing once."""

    def __init__(self, known: Mapping[str, str], fetch: Callable[[str], str | None]) -> None:
        self._known = dict(known)
        self._fetch = fetch
        self._asked: dict[str, str | None] = {}

    def __call__(self, customer_id: str) -> str | None:
        if customer_id in self._known:
            return self._known[customer_id]
        if customer_id not in self._asked:
            self._asked[customer_id] = self._fetch(customer_id)
        return self._asked[customer_id]
