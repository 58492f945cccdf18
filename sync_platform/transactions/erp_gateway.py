"""The ERP operations posting needs (``sync_platform.transactions.posting.ErpPoster``), for
one Business Central company, over ``ErpResource``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

from resources.erp import (
    ErpPaymentRecord,
    ErpResource,
    ErpSalesCreditMemo,
    ErpSalesInvoice,
    document_currency,
    in_effect,
    is_posted,
)
from resources.errors import (
    AuthenticationFailed,
    BusinessRuleViolation,
    InvalidResponse,
    NotFound,
    PermanentError,
    TransientError,
)
from sync_platform.audit import record_config_changes, replay_entry, replay_requester
from sync_platform.settings import Modes, Workflow
from sync_platform.store import Store, Transaction
from sync_platform.store.audit import PLATFORM_ACTOR
from sync_platform.transactions import flow
from sync_platform.transactions.erp_documents import ErpDocument
from sync_platform.transactions.mappings import PostingConfig
from sync_platform.transactions.model import CanonicalTransaction, TransactionKind
from sync_platform.transactions.posting import (
    ErpDocState,
    PostingContext,
    Reversal,
    fail_unreachable,
)
from sync_platform.transactions.validation import (
    AccountingPeriod,
    ErpCustomerRef,
    ErpReference,
)


class PaymentNotPosted(TransientError):
    """The journal post answered but our line is still unposted: look again next run."""

    def __init__(self, message: str) -> None:
        super().__init__("erp", message)


# What a refusal means for the document: its own data is refused (dead-letter it), the ERP
# is unreliable (retry on a later run), or the run itself cannot go on (stop it).
FATAL_ERRORS: tuple[type[Exception], ...] = (AuthenticationFailed,)
PERMANENT_ERRORS: tuple[type[Exception], ...] = (PermanentError,)
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (TransientError, InvalidResponse)


def _document_state(doc: ErpSalesInvoice | ErpSalesCreditMemo, local_currency: str) -> ErpDocState:
    return ErpDocState(
        id=doc.id,
        number=doc.number or "",
        posted=is_posted(doc.status),
        total=doc.totalAmountIncludingTax,
        external_number=doc.externalDocumentNumber or "",
        currency=document_currency(doc.currencyCode, local_currency),
    )


def _payment_state(record: ErpPaymentRecord) -> ErpDocState:
    line = record.journal_line
    return ErpDocState(
        id=line.id if line is not None and not record.posted else record.document_number,
        number=record.document_number,
        posted=record.posted,
        total=record.amount,
        external_number=record.external_document_number,
    )


class ErpPostingGateway:
    """Finds, creates, posts and removes the documents of one ERP company."""

    def __init__(
        self,
        erp: ErpResource,
        company_id: str,
        payment_journal: str,
        local_currency: str,
    ) -> None:
        self._erp = erp
        self._company = company_id
        self._local_currency = local_currency
        self._journal_code = payment_journal
        self._journal_id: str | None = None

    def _journal(self) -> str:
        """Our own payment journal (created on first use): posting it posts only our lines,
        never what someone typed into the ERP's general journal."""
        if self._journal_id is None:
            try:
                journal = self._erp.payment_journal(self._company, self._journal_code)
            except NotFound:
                journal = self._erp.create_customer_payment_journal(
                    self._company, self._journal_code, "sync-platform cash receipts"
                )
            self._journal_id = journal.id
        return self._journal_id

    def find(
        self, kind: TransactionKind, external_numbers: Sequence[str]
    ) -> dict[str, ErpDocState]:
        numbers = list(external_numbers)
        if kind == "invoice":
            invoices = self._erp.find_sales_invoices(self._company, numbers)
            return {k: _document_state(v, self._local_currency) for k, v in invoices.items()}
        if kind == "credit_note":
            memos = self._erp.find_sales_credit_memos(self._company, numbers)
            return {k: _document_state(v, self._local_currency) for k, v in memos.items()}
        payments = self._erp.find_customer_payments(self._company, numbers)
        return {k: _payment_state(v) for k, v in payments.items()}

    def create(self, kind: TransactionKind, document: ErpDocument) -> ErpDocState:
        if kind == "invoice":
            invoice = self._erp.create_sales_invoice(
                self._company, document.header, list(document.lines)
            )
            return _document_state(invoice, self._local_currency)
        if kind == "credit_note":
            memo = self._erp.create_sales_credit_memo(
                self._company, document.header, list(document.lines)
            )
            return _document_state(memo, self._local_currency)
        header = dict(document.header)
        invoice_id = header.get("appliesToInvoiceId")
        if invoice_id and not self._open(invoice_id):
            # Settled meanwhile (e.g. credited in full): the money stays as customer credit.
            del header["appliesToInvoiceId"]
        line = self._erp.create_customer_payment(self._company, self._journal(), header)
        return ErpDocState(
            id=line.id,
            number=line.documentNumber or "",
            posted=False,
            total=line.amount,
            external_number=document.external_number,
        )

    def reversals(self, invoices: Sequence[ErpDocState]) -> dict[str, Reversal]:
        """ERP invoice id → what posted credit memos (finance's corrective ones or ours)
        credit of it, for the ``invoices`` any credit memo reverses."""
        if not invoices:
            return {}
        memos = self._erp.credit_memos_naming(self._company, {i.id: i.number for i in invoices})
        currency = {i.id: i.currency for i in invoices}
        out: dict[str, Reversal] = {}
        for invoice_id, named in memos.items():
            # Posted and not cancelled since, in the invoice's currency.
            posted = [
                m
                for m in named
                if in_effect(m.status)
                and currency[invoice_id]
                in (None, document_currency(m.currencyCode, self._local_currency))
            ]
            if posted:
                out[invoice_id] = Reversal(
                    tuple(m.number or m.id for m in posted),
                    sum(m.totalAmountIncludingTax or 0 for m in posted),
                )
        return out

    def _open(self, invoice_id: str) -> bool:
        invoice = self._erp.get_sales_invoice(self._company, invoice_id)
        return invoice.status == "Open" and (invoice.remainingAmount or 0) > 0

    def post(self, kind: TransactionKind, state: ErpDocState) -> ErpDocState:
        if kind == "invoice":
            self._erp.post_sales_invoice(self._company, state.id)
            return _document_state(
                self._erp.get_sales_invoice(self._company, state.id), self._local_currency
            )
        if kind == "credit_note":
            self._erp.post_sales_credit_memo(self._company, state.id)
            return _document_state(
                self._erp.get_sales_credit_memo(self._company, state.id), self._local_currency
            )
        external = state.external_number
        try:
            self._erp.post_customer_payment_journal(self._company, self._journal())
        except BusinessRuleViolation:
            # Another run may have posted our line with its own; if not, the refusal stands,
            # and our line must not stay in the journal to block every later payment.
            record = self._erp.find_customer_payments(self._company, [external]).get(external)
            if record is not None and record.posted:
                return _payment_state(record)
            self.delete(kind, state)
            raise
        record = self._erp.find_customer_payments(self._company, [external]).get(external)
        if record is None or not record.posted:
            raise PaymentNotPosted(f"payment {external} is still unposted after its journal post")
        return _payment_state(record)

    def delete(self, kind: TransactionKind, state: ErpDocState) -> None:
        if kind == "invoice":
            self._erp.delete_sales_invoice(
                self._company, self._erp.get_sales_invoice(self._company, state.id)
            )
        elif kind == "credit_note":
            self._erp.delete_sales_credit_memo(
                self._company, self._erp.get_sales_credit_memo(self._company, state.id)
            )
        else:
            record = self._erp.find_customer_payments(self._company, [state.external_number])
            line = record[state.external_number].journal_line if record else None
            if line is not None:
                self._erp.delete_customer_payment(self._company, self._journal(), line)

    # -- what validation needs ------------------------------------------------------------
    def reference(self) -> ErpReference:
        erp, company = self._erp, self._company
        return ErpReference(
            company_id=company,
            local_currency=self._local_currency,
            periods=tuple(
                AccountingPeriod(date.fromisoformat(p.startingDate), bool(p.closed), p.name or "")
                for p in erp.list_accounting_periods(company)
            ),
            tax_groups=frozenset(t.code for t in erp.list_tax_groups(company)),
            items=frozenset(i.number for i in erp.list_items(company) if not i.blocked),
            accounts=frozenset(a.number for a in erp.list_accounts(company)),
            currencies=frozenset(c.code for c in erp.list_currencies(company)),
        )

    def customers_by_number(self) -> dict[str, ErpCustomerRef]:
        return {
            c.number: ErpCustomerRef(number=c.number, id=c.id)
            for c in self._erp.list_customers(self._company)
        }


WORKFLOW_OF: dict[TransactionKind, Workflow] = {
    "invoice": "invoices",
    "payment": "payments",
    "credit_note": "credit_notes",
}
# Replays run invoices first: payments and credit notes wait for their invoice's posting.
REPLAY_ORDER: tuple[TransactionKind, ...] = ("invoice", "credit_note", "payment")
REPLAY_CHUNK = 1_000  # transactions loaded and posted at a time


def company_id_for(erp: ErpResource, config: PostingConfig, region: str) -> str:
    """The id of the ERP company that ``posting.yaml`` names for ``region``."""
    name = config.region(region).erp_company
    company = next((c for c in erp.list_companies() if c.name == name), None)
    if company is None:
        raise LookupError(
            f"the ERP has no company named {name!r} (posting.yaml regions.{region}.erp_company)"
        )
    return company.id


def gateway_for(erp: ErpResource, config: PostingConfig, region: str) -> ErpPostingGateway:
    return ErpPostingGateway(
        erp,
        company_id_for(erp, config, region),
        config.payment_journal,
        config.region(region).local_currency,
    )


def post_documents(
    erp: ErpResource,
    store: Store,
    kind: TransactionKind,
    region: str,
    items: Sequence[tuple[Transaction, CanonicalTransaction]],
    *,
    replay_note: str | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Post ``items`` of one region in the region's mode for the workflow; metadata back.
    With ``replay_note`` dead-lettered transactions are re-driven, the note recorded."""
    config = PostingConfig.load()
    mode = Modes.load().mode_for(region, WORKFLOW_OF[kind])
    try:
        gateway = gateway_for(erp, config, region)
        reference = gateway.reference()
        customers = flow.customer_refs(store, region, gateway.customers_by_number())
    except TRANSIENT_ERRORS as error:
        if mode != "live":
            raise  # nothing would be written anyway: the failed run says enough
        replay = replay_note is not None
        report = fail_unreachable(
            kind, items, store, config.max_attempts, error, replay, replay_note or ""
        )
        return {"mode": mode, **flow.report_metadata(report)}

    def context(postings: Mapping[str, str]) -> PostingContext:
        return PostingContext(
            config=config,
            reference=reference,
            customers=customers,
            mode=mode,
            invoice_postings=postings,
            permanent_errors=PERMANENT_ERRORS,
            transient_errors=TRANSIENT_ERRORS,
            fatal_errors=FATAL_ERRORS,
        )

    def progress(done: int, total: int) -> None:
        if log is not None:
            log(f"{kind} {region}: {done}/{total} processed")

    report = flow.post(
        store,
        kind,
        items,
        gateway if mode == "live" else None,
        context,
        replay=replay_note is not None,
        replay_note=replay_note or "",
        progress=progress,
    )
    return {"mode": mode, **flow.report_metadata(report)}


def replay_exceptions(
    erp: ErpResource,
    store: Store,
    selection: flow.ReplaySelection,
    note: str,
    log: Callable[[str], None] | None = None,
    *,
    by: str | None = None,
) -> dict[str, Any]:
    """Re-drive the transactions of the open exceptions ``selection`` names, on behalf of
    ``by``, for the reason ``note`` (what was fixed): the replay is audited, and each
    attempt carries "replay by <by>: <note>". Without ``by`` the note must already read
    so. Idempotent: what posts closes its exceptions; what still fails keeps (or changes)
    its exception."""
    by, note = replay_requester(by, note)
    # Replays post under the config in force now: a changed file is audited first.
    record_config_changes(store, actor=PLATFORM_ACTOR, details={"noticed_by": f"replay by {by}"})
    groups = flow.replay_candidates(store, selection)
    selected = [txn_id for ids in groups.values() for txn_id in ids]
    store.append_audit(replay_entry(selection, selected, by=by, note=note))
    note = f"replay by {by}: {note}"
    results: dict[str, Any] = {}
    for kind in REPLAY_ORDER:
        for (group_kind, region), txn_ids in sorted(groups.items()):
            if group_kind != kind:
                continue
            outcomes: Counter[str] = Counter()
            for start in range(0, len(txn_ids), REPLAY_CHUNK):
                items = flow.load_items(store, txn_ids[start : start + REPLAY_CHUNK])
                metadata = post_documents(
                    erp, store, kind, region, items, replay_note=note, log=log
                )
                outcomes.update(metadata["mode_outcomes"])
            results[f"{kind}/{region}"] = {"mode_outcomes": dict(outcomes)}
    return {
        "selected": sum(len(ids) for ids in groups.values()),
        "groups": results,
        "still_open": store.open_exception_counts(region=selection.region),
    }
