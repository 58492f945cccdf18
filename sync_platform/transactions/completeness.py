"""What the transaction checks compare: billing's documents of one day and region against what
the ERP holds for them, as plain functions over records already read (no I/O here).

Every finding names the billing document (or customer) and both amounts, so finance can act
on it without reading logs. Amounts are minor units of the document's currency.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sync_platform.transactions.model import (
    CanonicalCreditNote,
    CanonicalInvoice,
    CanonicalPayment,
    CanonicalTransaction,
)
from sync_platform.transactions.posting import ErpDocState, Reversal

SHOWN = 20  # offending records listed in a check's metadata; the count covers them all


@dataclass(frozen=True)
class Offender:
    """One billing document (or customer) that is not in the ERP as it should be."""

    record: str  # billing id (a customer id for balances)
    customer: str
    currency: str
    billing_amount: int | None
    erp_document: str | None
    erp_amount: int | None
    problem: str

    def line(self) -> str:
        amounts = (
            f" (billing {_cell(self.billing_amount)}, ERP {_cell(self.erp_amount)} {self.currency})"
            if self.currency
            else ""
        )
        return f"{self.record}: {self.problem}{amounts}"


@dataclass
class Findings:
    offenders: list[Offender] = field(default_factory=list)
    in_flight: list[str] = field(default_factory=list)  # not in the ERP yet, within the SLA
    # void in billing, posted, then reversed in full in the ERP: billing id → credit memos
    reversed_in_erp: dict[str, list[str]] = field(default_factory=dict)
    billing_count: Counter[str] = field(default_factory=Counter)  # per currency
    billing_amount: Counter[str] = field(default_factory=Counter)
    erp_count: Counter[str] = field(default_factory=Counter)
    erp_amount: Counter[str] = field(default_factory=Counter)

    @property
    def passed(self) -> bool:
        return not self.offenders

    def metadata(self) -> dict[str, Any]:
        currencies = sorted(set(self.billing_amount) | set(self.erp_amount))
        return {
            **offender_metadata(self.offenders),
            "in_flight_count": len(self.in_flight),
            "in_flight": self.in_flight[:SHOWN],
            "reversed_in_erp_count": len(self.reversed_in_erp),
            "reversed_in_erp": [
                f"{source_id}: credit memo {', '.join(memos)}"
                for source_id, memos in sorted(self.reversed_in_erp.items())[:SHOWN]
            ],
            "billing_count_by_currency": dict(sorted(self.billing_count.items())),
            "erp_count_by_currency": dict(sorted(self.erp_count.items())),
            "billing_amount_by_currency": dict(sorted(self.billing_amount.items())),
            "erp_amount_by_currency": dict(sorted(self.erp_amount.items())),
            "difference_by_currency": {
                c: self.billing_amount[c] - self.erp_amount[c] for c in currencies
            },
        }


def offender_metadata(offenders: Sequence[Offender]) -> dict[str, Any]:
    """The count (``offending``, as the alert sensor reads it) and the first ``SHOWN``: one
    line each (``offenders``), JSON rows (``offender_rows``) and a markdown table."""
    shown = offenders[:SHOWN]
    return {
        "offending": len(offenders),
        "offenders": [o.line() for o in shown],
        "offender_rows": [asdict(o) for o in shown],
        "offenders_table": markdown_table(shown),
    }


def markdown_table(offenders: Sequence[Offender]) -> str:
    if not offenders:
        return "No offending records."
    head = "| record | customer | currency | billing | ERP document | ERP | problem |"
    rows = [
        f"| {o.record} | {o.customer} | {o.currency} | {_cell(o.billing_amount)} | "
        f"{o.erp_document or '-'} | {_cell(o.erp_amount)} | {o.problem} |"
        for o in offenders
    ]
    return "\n".join([head, "| --- | --- | --- | ---: | --- | ---: | --- |", *rows])


def _cell(amount: int | None) -> str:
    return "-" if amount is None else str(amount)


def amount_of(doc: CanonicalTransaction) -> int:
    return doc.amount if isinstance(doc, CanonicalPayment) else doc.total


def not_expected(doc: CanonicalTransaction) -> str | None:
    """Why ``doc`` must not be in the ERP (void, not settled yet); None when it must be."""
    if isinstance(doc, (CanonicalInvoice, CanonicalCreditNote)) and doc.status == "void":
        return "void in billing"
    if isinstance(doc, CanonicalPayment) and not doc.settled:
        return "not settled in billing"
    return None


def compare_with_erp(
    documents: Iterable[CanonicalTransaction],
    found: Mapping[str, ErpDocState],
    *,
    due: Callable[[CanonicalTransaction], bool],
    posted_before: Collection[str] = (),
    held: Mapping[str, str] | None = None,
    rejected: Iterable[tuple[str, str]] = (),
    reversals: Mapping[str, Reversal] | None = None,
) -> Findings:
    """Each billing document that must be in the ERP against the ERP document carrying its id:
    posted once with billing's amount. ``due``: past its SLA, so missing means missing (a
    younger one is in flight); ``posted_before``: billing ids we posted, so missing means
    removed; ``held``: billing id → the reason of its open exception; ``rejected``: (billing
    id, reason) of billing records that could not be read as documents at all;
    ``reversals``: billing id → what posted ERP credit memos credit of its posted invoice (a
    document void in billing is as it should be once they credit exactly its total)."""
    held = held or {}
    reversals = reversals or {}
    out = Findings()
    for doc in documents:
        state = found.get(doc.source_id)
        posted = state is not None and state.posted
        why_not = not_expected(doc)
        if why_not is not None and posted and state is not None:
            reversal = reversals.get(doc.source_id)
            if reversal is not None and reversal.credited == state.total:
                out.reversed_in_erp[doc.source_id] = list(reversal.credit_memos)
                continue
            problem = f"{why_not} but posted in the ERP"
            if reversal is not None:
                memos = ", ".join(reversal.credit_memos)
                beyond = state.total is not None and reversal.credited > state.total
                problem += (
                    f"; credit memo {memos} credit {reversal.credited} of its {state.total}"
                    + (", beyond its total" if beyond else "")
                )
            out.offenders.append(_offender(doc, state, problem))
            continue
        if why_not is not None and doc.source_id not in posted_before:
            continue  # nothing to post, and nothing of ours to miss
        out.billing_count[doc.currency] += 1
        out.billing_amount[doc.currency] += amount_of(doc)
        if posted and state is not None:
            erp_currency = state.currency or doc.currency  # payments: the ERP does not say
            out.erp_count[erp_currency] += 1
            out.erp_amount[erp_currency] += state.total or 0
            if erp_currency != doc.currency:
                problem = f"in {erp_currency} in the ERP, billing's is in {doc.currency}"
                out.offenders.append(_offender(doc, state, problem))
            elif state.total is not None and state.total != amount_of(doc):
                out.offenders.append(_offender(doc, state, "amount differs from billing"))
            continue
        if doc.source_id in posted_before:
            problem = "posted, then removed from the ERP outside the platform"
        elif due(doc):
            problem = "not in the ERP" if state is None else "only a draft in the ERP"
            if doc.source_id in held:
                problem += f" (exception: {held[doc.source_id]})"
        else:
            out.in_flight.append(doc.source_id)
            continue
        out.offenders.append(_offender(doc, state, problem))
    for source_id, reason in rejected:
        out.offenders.append(
            Offender(source_id, "", "", None, None, None, f"billing record unusable: {reason}")
        )
    return out


def _offender(doc: CanonicalTransaction, state: ErpDocState | None, problem: str) -> Offender:
    return Offender(
        record=doc.source_id,
        customer=doc.billing_customer_id,
        currency=doc.currency,
        billing_amount=amount_of(doc),
        erp_document=(state.number or state.id) if state is not None else None,
        erp_amount=state.total if state is not None else None,
        problem=problem,
    )


def overdue(
    documents: Iterable[CanonicalTransaction],
    found: Mapping[str, ErpDocState],
    *,
    since: Callable[[CanonicalTransaction], datetime | None],
    within: timedelta,
    now: datetime,
    what: str,
) -> list[Offender]:
    """Documents that must be in the ERP and are not, ``within`` after ``since`` (None: the
    clock has not started, e.g. not settled)."""
    late: list[Offender] = []
    for doc in documents:
        state = found.get(doc.source_id)
        if not_expected(doc) is not None or (state is not None and state.posted):
            continue
        start = since(doc)
        if start is None or now - start <= within:
            continue
        minutes = int((now - start).total_seconds() // 60)
        problem = f"{what} {minutes} min ago, not in the ERP (SLA {_minutes(within)} min)"
        late.append(_offender(doc, state, problem))
    return late


def _minutes(span: timedelta) -> int:
    return int(span.total_seconds() // 60)


def credit_lineage(
    notes: Iterable[CanonicalCreditNote],
    memo_invoice: Mapping[str, str | None],
    invoice_postings: Mapping[str, str],
    invoice_credit: Mapping[str, tuple[int, int]],
) -> list[Offender]:
    """A posted credit memo must reverse the ERP invoice its credit note's invoice was posted
    as, and no invoice may be credited beyond its total. ``memo_invoice``: billing credit note
    id → the ERP invoice id its posted memo names; ``invoice_postings``: billing invoice id →
    ERP invoice id; ``invoice_credit``: billing invoice id → (total, posted credit)."""
    out: list[Offender] = []
    for note in notes:
        if note.source_id not in memo_invoice:
            continue
        names, expected = memo_invoice[note.source_id], invoice_postings.get(note.invoice_id)
        problems: list[tuple[int | None, str]] = []
        if names != expected:
            problems.append(
                (
                    None,
                    f"reverses ERP invoice {names or 'none'}, not {expected or 'an unposted one'} "
                    f"(billing invoice {note.invoice_id})",
                )
            )
        total, credited = invoice_credit.get(note.invoice_id, (None, 0))
        if total is not None and credited > total:
            problems.append(
                (
                    credited,
                    f"invoice {note.invoice_id} of {total} is credited {credited} in the ERP",
                )
            )
        out += [
            Offender(
                note.source_id,
                note.billing_customer_id,
                note.currency,
                note.total,
                names,
                erp_amount,
                problem,
            )
            for erp_amount, problem in problems
        ]
    return out


@dataclass(frozen=True)
class OpenInvoice:
    """One invoice's open amount on both sides; ``in_flight``: billing's payments and credit
    notes against it that the ERP is not expected to hold yet (unsettled, not yet posted)."""

    invoice_id: str
    customer: str
    currency: str
    billing_open: int
    erp_open: int
    in_flight: int = 0


def ar_differences(invoices: Iterable[OpenInvoice]) -> list[Offender]:
    """Customers (per currency) whose open receivables differ: billing's open amount plus
    what is in flight must be the ERP's. The offender names the invoices that differ."""
    billing: Counter[tuple[str, str]] = Counter()
    erp: Counter[tuple[str, str]] = Counter()
    differing: dict[tuple[str, str], list[str]] = {}
    for inv in invoices:
        key = (inv.customer, inv.currency)
        billing[key] += inv.billing_open + inv.in_flight
        erp[key] += inv.erp_open
        if inv.billing_open + inv.in_flight != inv.erp_open:
            differing.setdefault(key, []).append(inv.invoice_id)
    out: list[Offender] = []
    for key in sorted(set(billing) | set(erp)):
        if billing[key] == erp[key]:
            continue
        customer, currency = key
        out.append(
            Offender(
                record=customer,
                customer=customer,
                currency=currency,
                billing_amount=billing[key],
                erp_document=", ".join(differing.get(key, [])) or None,
                erp_amount=erp[key],
                problem=f"open receivables differ by {billing[key] - erp[key]} (billing - ERP)",
            )
        )
    return out
