"""Posting billing documents to the ERP: validate, then create and post each exactly once.

Per transaction the lifecycle in the store moves received → validated → posted, or to failed
(retried on later runs) / dead_lettered (waits for a fix and a replay), each move an attempt
row. A write goes through the write ledger under a key of (source, object, operation, source
version), and before creating a document we look it up in the ERP by its external document
number, so a run killed between the ERP write and our commit never creates a duplicate: the
re-run finds the draft (and posts it) or the posted document (and records it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sync_platform.customers.erp_sync import Ledger
from sync_platform.hashing import content_hash
from sync_platform.settings import Mode
from sync_platform.transactions import erp_documents
from sync_platform.transactions.erp_documents import ErpDocument
from sync_platform.transactions.mappings import PostingConfig
from sync_platform.transactions.model import (
    CanonicalCreditNote,
    CanonicalInvoice,
    CanonicalPayment,
    CanonicalTransaction,
    TransactionKind,
)
from sync_platform.transactions.validation import (
    ErpCustomerRef,
    ErpReference,
    Failure,
    ReasonCode,
    validate_credit_note,
    validate_invoice,
    validate_payment,
)

ERP_OBJECT = {
    "invoice": "salesInvoice",
    "payment": "customerPayment",
    "credit_note": "salesCreditMemo",
}
DONE_STAGES = frozenset({"posted", "reconciled", "skipped"})


@dataclass(frozen=True)
class ErpDocState:
    """What we need to know of an ERP document we made."""

    id: str
    number: str
    posted: bool
    total: int | None = None  # amount including tax, minor units
    line_count: int | None = None
    external_number: str = ""
    # ISO code of the currency the ERP keeps it in (a blank code read as the company's own);
    # None where the ERP does not say (payments).
    currency: str | None = None


@dataclass(frozen=True)
class Reversal:
    """What posted credit memos in the ERP credit of one posted invoice."""

    credit_memos: tuple[str, ...]  # their numbers
    credited: int  # their total including tax, minor units


def same_content(state: ErpDocState, doc: CanonicalTransaction) -> bool:
    """The ERP document says what billing says, as far as the ERP tells: amount and currency."""
    return state.total in (None, _amount(doc)) and state.currency in (None, doc.currency)


def erp_content(state: ErpDocState) -> str:
    """The ERP document's amount (and currency, where known) for a message."""
    return f"{state.total}" + (f" {state.currency}" if state.currency else "")


class ErpPoster(Protocol):
    """The ERP operations posting needs, for one ERP company (see resources/erp_posting.py)."""

    def find(
        self, kind: TransactionKind, external_numbers: Sequence[str]
    ) -> dict[str, ErpDocState]:
        """Documents already in the ERP, by external document number."""
        ...

    def create(self, kind: TransactionKind, document: ErpDocument) -> ErpDocState: ...

    def post(self, kind: TransactionKind, state: ErpDocState) -> ErpDocState: ...

    def delete(self, kind: TransactionKind, state: ErpDocState) -> None: ...


class TransactionRow(Protocol):
    """A stored transaction (``sync_platform.store.Transaction``)."""

    @property
    def txn_id(self) -> str: ...

    @property
    def stage(self) -> str: ...

    @property
    def attempts(self) -> int: ...

    @property
    def source_version(self) -> str: ...

    @property
    def correlation_id(self) -> str: ...

    @property
    def erp_document_id(self) -> str | None: ...

    @property
    def erp_document_number(self) -> str | None: ...


class LifecycleStore(Ledger, Protocol):
    """The store operations posting needs (``sync_platform.store.Store``): the write ledger
    and the transaction lifecycle."""

    def record_attempt(
        self,
        txn_id: str,
        to_stage: str,
        outcome: str,
        *,
        reason_code: str | None = None,
        message: str | None = None,
        erp_response: Any = None,
        erp_document_id: str | None = None,
        erp_document_number: str | None = None,
    ) -> Any: ...

    def open_exception(self, txn_id: str, reason_code: str, message: str) -> Any: ...

    def close_exceptions(self, txn_id: str, resolution: str) -> int: ...

    def exceptions(self, *, txn_ids: Iterable[str] | None = None) -> Sequence[Any]: ...

    def record_posted(
        self,
        txn_id: str,
        ledger_key: str,
        erp_document_id: str,
        erp_document_number: str | None,
        response: Any,
    ) -> Any: ...


@dataclass(frozen=True)
class PostingContext:
    config: PostingConfig
    reference: ErpReference
    customers: Mapping[str, ErpCustomerRef]  # billing customer id → ERP customer
    mode: Mode
    # billing invoice id → ERP invoice id, for payments and credit notes
    invoice_postings: Mapping[str, str] = field(default_factory=dict)
    # billing invoice id → the one product it sells: where a credit note's own lines
    # name no product ("custom" credit lines), they reverse that product's revenue
    invoice_products: Mapping[str, str] = field(default_factory=dict)
    # billing invoice id → (its total, what posted credit memos already reverse of it)
    invoice_credit: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    permanent_errors: tuple[type[Exception], ...] = ()  # the ERP refused: do not retry as is
    transient_errors: tuple[type[Exception], ...] = ()  # may succeed on a later run
    fatal_errors: tuple[type[Exception], ...] = ()  # stop the run: no document is at fault


@dataclass
class PostingReport:
    kind: TransactionKind
    outcomes: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    posted_totals: Counter[str] = field(default_factory=Counter)  # currency → minor units
    posted_ids: list[str] = field(default_factory=list)
    problems: list[dict[str, str]] = field(default_factory=list)  # first few, for metadata
    reconciled: int = 0  # posted documents read back from the ERP and found as billed

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] += 1

    def problem(self, txn_id: str, reason: str, message: str) -> None:
        self.reasons[reason] += 1
        if len(self.problems) < 20:
            self.problems.append({"transaction": txn_id, "reason": reason, "message": message})

    @property
    def erp_writes(self) -> int:
        return self.outcomes["posted"]


class _Refused(Exception):
    def __init__(self, reason: ReasonCode, message: str, dead: bool) -> None:
        super().__init__(message)
        self.reason, self.message, self.dead = reason, message, dead


def post_transactions(
    kind: TransactionKind,
    items: Sequence[tuple[TransactionRow, CanonicalTransaction]],
    store: LifecycleStore,
    erp: ErpPoster | None,
    ctx: PostingContext,
    *,
    replay: bool = False,
    replay_note: str = "replay requested",
    progress: Callable[[int, int], None] | None = None,
) -> PostingReport:
    """Drive every transaction of one kind as far as it can go now; ``erp`` may be None
    outside ``live`` mode. ``replay`` re-drives dead-lettered transactions too, recording
    ``replay_note`` (who asked, and why) on each."""
    report = PostingReport(kind)
    todo = [(row, doc) for row, doc in items if _wants_work(row, replay, report)]
    found: dict[str, ErpDocState] = {}
    if ctx.mode == "live" and todo:
        assert erp is not None, "live posting needs the ERP"
        try:
            found = erp.find(kind, [doc.source_id for _, doc in todo])
        except ctx.transient_errors as error:
            return fail_unreachable(
                kind, items, store, ctx.config.max_attempts, error, replay, replay_note
            )
    for done, (row, doc) in enumerate(todo, 1):
        note = replay_note if replay else None
        _drive(kind, row, doc, store, erp, ctx, found.get(doc.source_id), note, report)
        if progress is not None and (done % 500 == 0 or done == len(todo)):
            progress(done, len(todo))
    return report


def _wants_work(row: TransactionRow, replay: bool, report: PostingReport) -> bool:
    if row.stage in DONE_STAGES:
        report.count("already_posted" if row.stage != "skipped" else "skipped")
        return False
    if row.stage == "dead_lettered" and not replay:
        report.count("dead_lettered")
        return False
    return True


def _resume(
    row: TransactionRow,
    doc: CanonicalTransaction,
    store: LifecycleStore,
    replay_note: str | None,
    report: PostingReport,
) -> str | None:
    """Move a failed transaction on to its retry (a dead-lettered one to its replay, given a
    note) and return its stage; None when there is nothing to post yet: a payment not
    settled."""
    stage = row.stage
    if stage == "failed":
        store.record_attempt(row.txn_id, "retried", "ok", message=replay_note)
        stage = "retried"
    elif stage == "dead_lettered" and replay_note is not None:
        store.record_attempt(row.txn_id, "replayed", "ok", message=replay_note)
        stage = "replayed"
    if isinstance(doc, CanonicalPayment) and not doc.settled:
        report.count("awaiting_settlement")
        return None
    return stage


def _drive(
    kind: TransactionKind,
    row: TransactionRow,
    doc: CanonicalTransaction,
    store: LifecycleStore,
    erp: ErpPoster | None,
    ctx: PostingContext,
    existing: ErpDocState | None,
    replay_note: str | None,
    report: PostingReport,
) -> None:
    stage = _resume(row, doc, store, replay_note, report)
    if stage is None:
        return
    if isinstance(doc, (CanonicalInvoice, CanonicalCreditNote)) and doc.status == "void":
        _void(kind, row, stage, doc, store, erp, existing, report)
        return
    doc = _with_reversed_products(doc, ctx)
    failures = _validate(doc, ctx)
    if failures:
        _hold(row, failures, store, report)
        return
    if stage != "validated":
        store.record_attempt(row.txn_id, "validated", "ok")
    if ctx.mode != "live":
        report.count("would_post" if ctx.mode == "shadow" else "validated")
        return
    assert erp is not None
    document = _erp_document(doc, ctx)
    try:
        key, state = _write(kind, row, doc, document, store, erp, ctx, existing)
    except _Refused as refused:
        _give_up_or_retry(row, stage, refused, store, ctx.config.max_attempts, report)
        return
    response = {"id": state.id, "number": state.number, "total": state.total}
    store.record_posted(row.txn_id, key, state.id, state.number, response)
    found_posted = existing is not None and existing.posted
    report.count("found_posted" if found_posted else "posted")
    report.posted_ids.append(row.txn_id)
    if same_content(state, doc):
        report.posted_totals[doc.currency] += _amount(doc)
    else:
        # Found already posted (by a run that died before recording it, or by hand in the
        # ERP under our number) for other content.
        message = (
            f"The ERP holds {ERP_OBJECT[kind]} {state.number} for {doc.source_id} with a total "
            f"of {erp_content(state)}, billing now says {_amount(doc)} {doc.currency} (minor "
            "units): it changed after it was posted. Compare both and correct one of them."
        )
        store.open_exception(row.txn_id, "changed_after_posting", message)
        report.problem(row.txn_id, "changed_after_posting", message)


def _void(
    kind: TransactionKind,
    row: TransactionRow,
    stage: str,
    doc: CanonicalInvoice | CanonicalCreditNote,
    store: LifecycleStore,
    erp: ErpPoster | None,
    existing: ErpDocState | None,
    report: PostingReport,
) -> None:
    """A document voided in billing before we recorded it as posted. The ERP may still hold
    it, posted or as a draft, from a run that died: say so, or remove our own draft."""
    if existing is not None and existing.posted:
        if stage not in ("validated", "retried", "replayed"):
            store.record_attempt(row.txn_id, "validated", "ok", message="found posted in the ERP")
        store.record_attempt(
            row.txn_id,
            "posted",
            "ok",
            erp_document_id=existing.id,
            erp_document_number=existing.number,
            erp_response={"id": existing.id, "number": existing.number, "found": True},
        )
        message = (
            f"{kind.replace('_', ' ').capitalize()} {doc.source_id} is void in billing but "
            f"posted in the ERP as {existing.number}; reverse it in the ERP."
        )
        store.open_exception(row.txn_id, "voided_after_posting", message)
        report.count("found_posted")
        report.problem(row.txn_id, "voided_after_posting", message)
        return
    if existing is not None and erp is not None:
        erp.delete(kind, existing)  # our own draft of a document that no longer exists
    store.record_attempt(row.txn_id, "skipped", "ok", message="voided in billing, not posted")
    store.close_exceptions(row.txn_id, "voided in billing, nothing to post")
    report.count("skipped")


def _with_reversed_products(doc: CanonicalTransaction, ctx: PostingContext) -> CanonicalTransaction:
    if not isinstance(doc, CanonicalCreditNote):
        return doc
    product = ctx.invoice_products.get(doc.invoice_id)
    if product is None or all(line.product_id for line in doc.lines):
        return doc
    lines = tuple(
        line if line.product_id else line.model_copy(update={"product_id": product})
        for line in doc.lines
    )
    return doc.model_copy(update={"lines": lines})


def _validate(doc: CanonicalTransaction, ctx: PostingContext) -> list[Failure]:
    customer = ctx.customers.get(doc.billing_customer_id)
    if isinstance(doc, CanonicalInvoice):
        return validate_invoice(doc, ctx.config, ctx.reference, customer)
    if isinstance(doc, CanonicalPayment):
        posted = doc.invoice_id is None or doc.invoice_id in ctx.invoice_postings
        return validate_payment(doc, ctx.config, ctx.reference, customer, posted)
    total, credited = ctx.invoice_credit.get(doc.invoice_id, (None, 0))
    return validate_credit_note(
        doc,
        ctx.config,
        ctx.reference,
        customer,
        doc.invoice_id in ctx.invoice_postings,
        already_credited=credited,
        invoice_total=total,
    )


def _erp_document(doc: CanonicalTransaction, ctx: PostingContext) -> ErpDocument:
    customer = ctx.customers[doc.billing_customer_id]
    if isinstance(doc, CanonicalInvoice):
        return erp_documents.sales_invoice(doc, customer, ctx.config)
    if isinstance(doc, CanonicalPayment):
        invoice_id = ctx.invoice_postings.get(doc.invoice_id) if doc.invoice_id else None
        return erp_documents.customer_payment(doc, customer, invoice_id)
    return erp_documents.sales_credit_memo(
        doc, customer, ctx.invoice_postings[doc.invoice_id], ctx.config
    )


def _amount(doc: CanonicalTransaction) -> int:
    return doc.amount if isinstance(doc, CanonicalPayment) else doc.total


def _write(
    kind: TransactionKind,
    row: TransactionRow,
    doc: CanonicalTransaction,
    document: ErpDocument,
    store: LifecycleStore,
    erp: ErpPoster,
    ctx: PostingContext,
    existing: ErpDocState | None,
) -> tuple[str, ErpDocState]:
    """The ledger key and the posted document; the caller records both at once."""
    object_type = ERP_OBJECT[kind]
    key = f"erp:{object_type}:create:{doc.source_id}:{row.source_version[:16]}"
    entry = store.begin_write(
        key,
        "erp",
        object_type,
        "create",
        row.source_version,
        row.correlation_id,
        content_hash({"header": document.header, "lines": list(document.lines)}),
    )
    if entry.status == "succeeded":
        if existing is not None and existing.posted:
            return key, existing
        raise _Refused(
            "erp_document_missing",
            f"{object_type} {entry.object_id} was posted for {doc.source_id} but is no longer in "
            "the ERP: it was removed outside the platform. Nothing was re-posted; check the ERP.",
            dead=True,
        )
    try:
        state = _create_and_post(kind, doc, document, erp, existing)
    except _Refused as refused:
        store.fail_write(key, f"{refused.reason}: {refused.message}")
        raise
    except ctx.fatal_errors as error:
        # Not this document's fault (a revoked credential): stop the run, keep the lifecycle.
        store.fail_write(key, f"{type(error).__name__}: {error}")
        raise
    except ctx.permanent_errors as error:
        store.fail_write(key, str(error))
        raise _Refused("erp_rejected", _vendor_message(error), dead=True) from error
    except ctx.transient_errors as error:
        store.fail_write(key, f"{type(error).__name__}: {error}")
        message = f"The ERP did not answer reliably; tried again on the next run: {error}"
        raise _Refused("erp_unavailable", message, dead=False) from error
    return key, state


def _create_and_post(
    kind: TransactionKind,
    doc: CanonicalTransaction,
    document: ErpDocument,
    erp: ErpPoster,
    existing: ErpDocState | None,
) -> ErpDocState:
    state = existing
    if state is not None and state.posted:
        return state
    if state is not None and not same_content(state, doc):
        # Our draft of an older version of the document (a run died before posting it).
        erp.delete(kind, state)
        state = None
    if state is None:
        state = erp.create(kind, document)
    if state.currency not in (None, doc.currency):
        erp.delete(kind, state)
        raise _Refused(
            "currency_mismatch",
            f"The ERP made {kind.replace('_', ' ')} {doc.source_id} out in {state.currency} "
            f"where billing's is in {doc.currency}; the draft was removed and nothing was "
            "posted. Check the currency set up in the ERP company.",
            dead=True,
        )
    expected = _amount(doc)
    if state.total is not None and state.total != expected:
        erp.delete(kind, state)
        raise _Refused(
            "amount_mismatch",
            f"The ERP computes {state.total} for {kind.replace('_', ' ')} {doc.source_id} where "
            f"billing says {expected} ({doc.currency} minor units); the draft was removed and "
            "nothing was posted. Check the tax groups' rates against billing's.",
            dead=True,
        )
    return erp.post(kind, state)


def _vendor_message(error: Exception) -> str:
    message = getattr(error, "message", None) or str(error)
    return f"The ERP refused the document: {message}"


def _hold(
    row: TransactionRow,
    failures: list[Failure],
    store: LifecycleStore,
    report: PostingReport,
) -> None:
    primary = next((f for f in failures if not f.waits), failures[0])
    message = " ".join(f.message for f in failures)
    to_stage = "failed" if primary.waits else "dead_lettered"
    store.record_attempt(
        row.txn_id,
        to_stage,
        "waiting" if primary.waits else "error",
        reason_code=primary.reason,
        message=message,
    )
    store.open_exception(row.txn_id, primary.reason, message)
    report.count("waiting" if primary.waits else "dead_lettered")
    report.problem(row.txn_id, primary.reason, message)


def _give_up_or_retry(
    row: TransactionRow,
    stage: str,
    refused: _Refused,
    store: LifecycleStore,
    max_attempts: int,
    report: PostingReport,
) -> None:
    # ``row`` is as read before this run; a replay has since started a fresh retry budget.
    used = 0 if stage == "replayed" else row.attempts
    exhausted = used + 1 >= max_attempts
    to_stage = "dead_lettered" if refused.dead or exhausted else "failed"
    store.record_attempt(
        row.txn_id, to_stage, "error", reason_code=refused.reason, message=refused.message
    )
    store.open_exception(row.txn_id, refused.reason, refused.message)
    report.count(to_stage)
    report.problem(row.txn_id, refused.reason, refused.message)


def fail_unreachable(
    kind: TransactionKind,
    items: Sequence[tuple[TransactionRow, CanonicalTransaction]],
    store: LifecycleStore,
    max_attempts: int,
    cause: Exception,
    replay: bool = False,
    replay_note: str = "replay requested",
) -> PostingReport:
    """The ERP could not be read (its companies, reference data, customers or documents), so
    nothing can be validated or written. Each transaction that wanted posting fails as
    ``erp_unavailable``, as a failed write does: retried on the next run, dead-lettered after
    ``max_attempts``, so an outage shows as exceptions rather than as transactions that sit
    in ``received`` while every run fails."""
    report = PostingReport(kind)
    message = f"The ERP did not answer reliably; tried again on the next run: {cause}"
    refused = _Refused("erp_unavailable", message, dead=False)
    for row, doc in items:
        if not _wants_work(row, replay, report):
            continue
        stage = _resume(row, doc, store, replay_note if replay else None, report)
        if stage is not None:
            _give_up_or_retry(row, stage, refused, store, max_attempts, report)
    return report


# Exceptions a read-back opens, and closes once the ERP is put right.
DRIFT_REASONS = frozenset({"erp_edited_out_of_band", "erp_deleted_out_of_band"})


def reconcile_transactions(
    kind: TransactionKind,
    items: Sequence[tuple[TransactionRow, CanonicalTransaction]],
    store: LifecycleStore,
    erp: ErpPoster,
    report: PostingReport,
    *,
    found: Mapping[str, ErpDocState] | None = None,
) -> list[str]:
    """Read the documents we posted back from the ERP (``found``: as already read, by billing
    id): posted with billing's amount moves a posted transaction to reconciled (a reconciled
    one stays so); gone or different was changed outside the platform and opens an exception
    (never a rewrite); such an exception closes once the ERP matches billing again. Returns
    the txn ids whose ERP document drifted."""
    if not items:
        return []
    if found is None:
        found = erp.find(kind, [doc.source_id for _, doc in items])
    drift_open = {
        e.txn_id
        for e in store.exceptions(txn_ids=[row.txn_id for row, _ in items])
        if e.reason_code in DRIFT_REASONS
    }
    drifted: list[str] = []
    for row, doc in items:
        state = found.get(doc.source_id)
        if state is not None and state.posted and same_content(state, doc):
            if row.stage != "reconciled":
                store.record_attempt(
                    row.txn_id,
                    "reconciled",
                    "ok",
                    erp_response={"id": state.id, "number": state.number, "total": state.total},
                )
                report.reconciled += 1
            if row.txn_id in drift_open:
                store.close_exceptions(row.txn_id, "corrected in the ERP: it matches billing again")
            continue
        reason: ReasonCode = (
            "erp_deleted_out_of_band" if state is None else "erp_edited_out_of_band"
        )
        drifted.append(row.txn_id)
        message = (
            f"{ERP_OBJECT[kind]} {row.erp_document_number or row.erp_document_id} posted for "
            f"{doc.source_id} "
            + (
                "is no longer in the ERP: it was removed outside the platform."
                if state is None
                else f"now shows {erp_content(state)} in the ERP where billing says "
                f"{_amount(doc)} {doc.currency} (minor units): it was changed outside the "
                "platform."
            )
            + " Nothing was rewritten or posted again; correct it in the ERP."
        )
        store.open_exception(row.txn_id, reason, message)
        report.problem(row.txn_id, reason, message)
    return drifted
