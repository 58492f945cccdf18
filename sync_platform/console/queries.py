"""What the console shows, read from the store: plain functions returning plain values."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote, urlencode

from sync_platform.money import format_amount
from sync_platform.reconciliation.daily import expected_in_erp
from sync_platform.settings import REGIONS
from sync_platform.store import Store, Transaction, TransactionException
from sync_platform.transactions.flow import MODEL_OF
from sync_platform.transactions.lifecycle import STAGES
from sync_platform.transactions.model import TRANSACTION_KINDS

BUSINESS_OBJECTS = ("customer", *TRANSACTION_KINDS)
CUSTOMER_STAGES = ("pending_sync", "in_erp")
IN_ERP = ("posted", "reconciled")
LIST_LIMIT = 200

# The Dagster assets a transaction goes through, billing → canonical → ERP.
ASSETS_OF: dict[str, tuple[str, str, str]] = {
    "invoice": ("billing/invoices", "canonical/invoices", "erp/invoice_postings"),
    "payment": ("billing/payments", "canonical/payments", "erp/cash_applications"),
    "credit_note": ("billing/credit_notes", "canonical/credit_notes", "erp/credit_memos"),
}


def amount_of(txn: Transaction) -> str:
    """The document's amount as a person reads it, from its canonical payload."""
    payload = txn.payload
    minor = payload.get("amount") if txn.kind == "payment" else payload.get("total")
    currency = payload.get("currency")
    if not isinstance(minor, int) or not isinstance(currency, str):
        return ""
    return format_amount(minor, currency)


def age(since: datetime, now: datetime) -> str:
    span = max(now - since, timedelta(0))
    days, seconds = span.days, span.seconds
    if days:
        return f"{days} d {seconds // 3600} h"
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 60} min"


@dataclass(frozen=True)
class CustomerRow:
    canonical_id: str
    name: str
    region: str
    stage: str
    billing_id: str | None
    erp_number: str | None


def customers(store: Store, region: str | None, stage: str | None) -> list[CustomerRow]:
    """Canonical customers with their sync stage: in the ERP once the sync linked one."""
    rows = store.canonical_customers(region)
    xrefs = {x.canonical_id: x for x in store.xrefs(region)}
    out: list[CustomerRow] = []
    for cid, row in sorted(rows.items()):
        xref = xrefs.get(cid)
        erp_number = xref.erp_customer_number if xref else None
        row_stage = "in_erp" if erp_number else "pending_sync"
        if stage and stage != row_stage:
            continue
        name = row.record.get("legal_name") or row.record.get("name") or ""
        billing_id = xref.billing_customer_id if xref else None
        out.append(CustomerRow(cid, str(name), row.region, row_stage, billing_id, erp_number))
    return out


def stage_matrix(store: Store, region: str | None, day: date | None) -> dict[str, dict[str, int]]:
    """Business object → stage → count (customers by sync stage, ignoring the day)."""
    matrix: dict[str, dict[str, int]] = {
        kind: store.stage_counts(kind=kind, region=region, business_date=day)
        for kind in TRANSACTION_KINDS
    }
    matrix["customer"] = dict(Counter(c.stage for c in customers(store, region, None)))
    return matrix


@dataclass(frozen=True)
class ExceptionFilter:
    """Which open exceptions the exceptions page lists and its replay takes: the same
    fields, read the same way, so the replay takes exactly the set the page listed."""

    reason: str | None = None
    region: str | None = None
    kind: str | None = None
    source: str | None = None
    since: date | None = None  # opened on or after this day (UTC)

    @classmethod
    def parse(cls, values: Mapping[str, str]) -> ExceptionFilter:
        """From a query string or a form; ValueError naming a kind, region or day that is
        not one (a mistyped filter must not widen a replay to everything)."""

        def text(name: str) -> str | None:
            return (values.get(name) or "").strip() or None

        kind, region, since = text("kind"), text("region"), text("since")
        if kind is not None and kind not in TRANSACTION_KINDS:
            raise ValueError(f"unknown kind {kind!r} (one of {', '.join(TRANSACTION_KINDS)})")
        if region is not None and region not in REGIONS:
            raise ValueError(f"unknown region {region!r} (one of {', '.join(REGIONS)})")
        try:
            day = date.fromisoformat(since) if since else None
        except ValueError:
            raise ValueError(f"since must be a date, YYYY-MM-DD (got {since!r})") from None
        return cls(text("reason"), region, kind, text("source"), day)

    @property
    def opened_since(self) -> datetime | None:
        return datetime.combine(self.since, datetime.min.time(), UTC) if self.since else None

    def as_form(self) -> dict[str, str]:
        """The fields that are set, as a form or query string carries them."""
        return {name: str(value) for name, value in asdict(self).items() if value is not None}


def open_exceptions(
    store: Store, chosen: ExceptionFilter, txn_ids: Sequence[str] | None = None
) -> list[TransactionException]:
    """The open exceptions ``chosen`` names (of ``txn_ids`` only, when given), oldest first."""
    found = store.exceptions(
        status="open",
        reason_code=chosen.reason,
        region=chosen.region,
        kind=chosen.kind,
        opened_since=chosen.opened_since,
        txn_ids=txn_ids,
    )
    return [e for e in found if chosen.source is None or e.source_system == chosen.source]


def selection_digest(exceptions: Iterable[TransactionException]) -> str:
    """Names a set of exceptions, so a replay can tell the set changed since it was shown."""
    ids = "\n".join(str(i) for i in sorted({e.id for e in exceptions}))
    return hashlib.sha256(ids.encode()).hexdigest()


@dataclass(frozen=True)
class ExceptionGroup:
    reason: str
    region: str
    source_system: str
    count: int
    oldest: str
    newest: str


def exception_groups(
    exceptions: Sequence[TransactionException], now: datetime
) -> list[ExceptionGroup]:
    """Open exceptions by (reason, region, source system), the oldest group first."""
    grouped: dict[tuple[str, str, str], list[TransactionException]] = {}
    for e in exceptions:
        grouped.setdefault((e.reason_code, e.region, e.source_system), []).append(e)
    groups = [
        (
            min(e.opened_at for e in members),
            ExceptionGroup(
                reason,
                region,
                source,
                len(members),
                age(min(e.opened_at for e in members), now),
                age(max(e.opened_at for e in members), now),
            ),
        )
        for (reason, region, source), members in grouped.items()
    ]
    return [group for _, group in sorted(groups, key=lambda g: (g[0], g[1].reason))]


@dataclass(frozen=True)
class LineageStep:
    system: str
    label: str
    value: str | None


def lineage(txn: Transaction) -> list[LineageStep]:
    """Billing id → canonical transaction → ERP document number."""
    return [
        LineageStep("billing", f"{txn.kind.replace('_', ' ')} id", txn.source_id),
        LineageStep("sync-platform", "canonical transaction", txn.txn_id),
        LineageStep("ERP", "document number", txn.erp_document_number),
    ]


@dataclass(frozen=True)
class DagsterLink:
    label: str
    url: str


def dagster_links(base: str, txn: Transaction) -> list[DagsterLink]:
    """The assets of the transaction's partition and the runs of that partition."""
    partition = f"{txn.business_date.isoformat()}|{txn.region}"
    query = urlencode({"view": "partitions", "partition": partition})
    links = [
        DagsterLink(f"asset {key} ({partition})", f"{base}/assets/{quote(key)}?{query}")
        for key in ASSETS_OF[txn.kind]
    ]
    runs = urlencode({"q[]": f"tag:dagster/partition={partition}"})
    links.append(DagsterLink(f"runs of partition {partition}", f"{base}/runs?{runs}"))
    return links


@dataclass
class Figure:
    label: str
    expected: int = 0
    done: int = 0
    expected_amounts: Counter[str] = field(default_factory=Counter)
    done_amounts: Counter[str] = field(default_factory=Counter)

    def amounts(self, which: Counter[str]) -> str:
        return ", ".join(format_amount(v, c) for c, v in sorted(which.items())) or "-"


@dataclass(frozen=True)
class Figures:
    day: date
    region: str | None
    documents: list[Figure]
    customers_pending_sync: int
    exceptions_by_source: dict[str, dict[str, int]]


FIGURE_LABELS = {
    "invoice": ("invoices posted / generated", "generated", "posted"),
    "payment": ("payments applied / settled", "settled", "applied"),
    "credit_note": ("credit notes credited / issued", "issued", "credited"),
}


def figures(store: Store, day: date, region: str | None) -> Figures:
    """The seed design's business figures for one day (and region, or all): what billing
    produced that the ERP must hold (``reconciliation.daily.expected_in_erp``) against what
    the platform got into it; customers waiting for their ERP sync; open exceptions of the
    day's documents by source system and reason."""
    documents: list[Figure] = []
    day_ids: list[str] = []
    for kind in TRANSACTION_KINDS:
        figure = Figure(FIGURE_LABELS[kind][0])
        for txn in store.iter_transactions(kind=kind, region=region, business_date=day):
            day_ids.append(txn.txn_id)
            doc = MODEL_OF[kind].model_validate(txn.payload)
            if not expected_in_erp(doc):
                continue
            minor = txn.payload["amount"] if kind == "payment" else txn.payload["total"]
            figure.expected += 1
            figure.expected_amounts[doc.currency] += minor
            if txn.stage in IN_ERP:
                figure.done += 1
                figure.done_amounts[doc.currency] += minor
        documents.append(figure)
    by_source: dict[str, Counter[str]] = {}
    for e in store.exceptions(status="open", region=region, txn_ids=day_ids):
        by_source.setdefault(e.source_system, Counter())[e.reason_code] += 1
    pending = sum(1 for c in customers(store, region, "pending_sync"))
    return Figures(
        day, region, documents, pending, {s: dict(c) for s, c in sorted(by_source.items())}
    )


def stage_options(kind: str | None) -> Iterable[str]:
    return CUSTOMER_STAGES if kind == "customer" else STAGES
