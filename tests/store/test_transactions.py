"""Financial transactions: received once per version, moved only as the lifecycle allows,
every move logged as an attempt, and at most one open exception each, closed by posting."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from store_testing import ManualClock, at_once

from sync_platform.store import (
    InvalidTransition,
    ReceiveCounts,
    Store,
    StoreError,
    Transaction,
    TransactionIn,
    TransactionNotFound,
)
from sync_platform.store.schema import transaction_exceptions
from sync_platform.transactions.model import CanonicalInvoice, CanonicalPayment, DocumentLine

DAY = date(2026, 2, 27)


def invoice(source_id: str = "in_1", **overrides: Any) -> CanonicalInvoice:
    line = DocumentLine(
        line_id="il_1", description="Team plan", quantity=1, unit_amount=10_000, amount=10_000
    )
    values: dict[str, Any] = {
        "source_id": source_id,
        "region": "emea",
        "billing_customer_id": "cus_1",
        "currency": "EUR",
        "business_date": DAY,
        "occurred_at": datetime(2026, 2, 27, 9, tzinfo=UTC),
        "status": "open",
        "lines": (line,),
        "subtotal": 10_000,
        "tax": 0,
        "total": 10_000,
    }
    return CanonicalInvoice(**{**values, **overrides})


def payment(source_id: str = "py_1", **overrides: Any) -> CanonicalPayment:
    values: dict[str, Any] = {
        "source_id": source_id,
        "region": "emea",
        "billing_customer_id": "cus_1",
        "currency": "EUR",
        "business_date": DAY,
        "occurred_at": datetime(2026, 2, 27, 10, tzinfo=UTC),
        "invoice_id": "in_1",
        "amount": 10_000,
        "settled": True,
    }
    return CanonicalPayment(**{**values, **overrides})


def receive(store: Store, *canonicals: CanonicalInvoice | CanonicalPayment) -> ReceiveCounts:
    return store.receive_transactions(TransactionIn.from_canonical(c) for c in canonicals)


def received_invoice(store: Store, source_id: str = "in_1", **overrides: Any) -> str:
    canonical = invoice(source_id, **overrides)
    receive(store, canonical)
    return canonical.txn_id


def move(store: Store, txn_id: str, *stages: str) -> Transaction:
    """Walk ``txn_id`` through ``stages``, each an ``ok`` attempt."""
    for stage in stages:
        moved = store.record_attempt(txn_id, stage, "ok")
    return moved


def stored(store: Store, txn_id: str) -> Transaction:
    txn = store.transaction(txn_id)
    assert txn is not None
    return txn


# -- receiving ------------------------------------------------------------------------------


def test_a_new_transaction_is_received_with_a_first_attempt(
    store: Store, clock: ManualClock
) -> None:
    canonical = invoice(correlation_id="corr-1")

    counts = receive(store, canonical)

    assert counts == ReceiveCounts(new=1)
    txn = stored(store, "billing:invoice:in_1")
    assert (txn.kind, txn.source_system, txn.source_id, txn.region, txn.business_date) == (
        "invoice",
        "billing",
        "in_1",
        "emea",
        DAY,
    )
    assert (txn.stage, txn.attempts, txn.correlation_id) == ("received", 0, "corr-1")
    assert (txn.source_version, txn.payload) == (
        canonical.source_version,
        canonical.model_dump(mode="json"),
    )
    assert (txn.created_at, txn.updated_at) == (clock.now, clock.now)
    assert (txn.erp_document_id, txn.erp_document_number) == (None, None)
    [attempt] = store.attempts(txn.txn_id)
    assert (attempt.seq, attempt.from_stage, attempt.to_stage, attempt.outcome) == (
        1,
        None,
        "received",
        "ok",
    )
    assert attempt.at == clock.now


def test_without_a_correlation_id_one_is_derived_from_the_txn_id() -> None:
    first = TransactionIn.from_canonical(invoice())
    again = TransactionIn.from_canonical(invoice(total=10_001))

    assert first.correlation_id == again.correlation_id
    assert first.correlation_id != TransactionIn.from_canonical(invoice("in_2")).correlation_id
    assert first.payload["correlation_id"] == first.correlation_id
    assert TransactionIn.from_canonical(invoice(correlation_id="c")).correlation_id == "c"


def test_the_same_version_again_writes_nothing(store: Store, clock: ManualClock) -> None:
    receive(store, invoice())
    before = stored(store, "billing:invoice:in_1")
    clock.advance()

    # A status change the posting does not depend on keeps the version.
    counts = receive(store, invoice(status="paid"))

    assert counts == ReceiveCounts(unchanged=1)
    assert stored(store, "billing:invoice:in_1") == before
    assert len(store.attempts(before.txn_id)) == 1


def test_a_new_version_updates_the_content_but_keeps_stage_and_correlation_id(
    store: Store, clock: ManualClock
) -> None:
    receive(store, invoice(correlation_id="first-contact"))
    move(store, "billing:invoice:in_1", "validated")
    changed_at = clock.advance()
    changed = invoice(
        correlation_id="later-run", region="apac", business_date=DAY + timedelta(days=1)
    )

    counts = receive(store, changed)

    assert counts == ReceiveCounts(changed=1)
    txn = stored(store, "billing:invoice:in_1")
    assert (txn.stage, txn.correlation_id) == ("validated", "first-contact")
    assert (txn.source_version, txn.region, txn.business_date) == (
        changed.source_version,
        "apac",
        DAY + timedelta(days=1),
    )
    assert txn.payload["correlation_id"] == "later-run"
    assert txn.updated_at == changed_at


@pytest.mark.parametrize("stages", [("validated", "posted"), ("validated", "posted", "reconciled")])
def test_a_new_version_of_a_posted_transaction_is_listed_not_applied(
    store: Store, stages: tuple[str, ...]
) -> None:
    txn_id = received_invoice(store)
    posted = move(store, txn_id, *stages)

    counts = receive(store, invoice(total=12_000), invoice("in_2"))

    assert counts == ReceiveCounts(new=1, changed_after_posting=(txn_id,))
    assert stored(store, txn_id) == posted


def test_many_new_versions_at_once(store: Store) -> None:
    receive(store, *(invoice(f"in_{i}") for i in range(5)))
    move(store, "billing:invoice:in_3", "validated", "posted")

    counts = receive(store, *(invoice(f"in_{i}", total=20_000) for i in range(5)))

    assert counts == ReceiveCounts(changed=4, changed_after_posting=("billing:invoice:in_3",))
    totals = {txn.source_id: txn.payload["total"] for txn in store.transactions()}
    assert totals == {
        "in_0": 20_000,
        "in_1": 20_000,
        "in_2": 20_000,
        "in_3": 10_000,
        "in_4": 20_000,
    }


def test_an_id_given_twice_counts_once_with_the_last_version(store: Store) -> None:
    counts = receive(store, invoice(total=1), invoice(total=2))

    assert counts == ReceiveCounts(new=1)
    assert stored(store, "billing:invoice:in_1").payload["total"] == 2


def test_receiving_more_than_a_batch(store: Store) -> None:
    receive(store, *(invoice(f"in_{i:05d}") for i in range(0, 1200, 2)))

    counts = receive(store, *(invoice(f"in_{i:05d}") for i in range(1200)))

    assert counts == ReceiveCounts(new=600, unchanged=600)
    assert len(store.transactions()) == 1200


def test_an_unknown_kind_or_a_missing_correlation_id_is_refused() -> None:
    good = TransactionIn.from_canonical(invoice())
    fields = {name: getattr(good, name) for name in TransactionIn.__dataclass_fields__}

    with pytest.raises(StoreError, match="kind 'refund'; the kinds are invoice, payment"):
        TransactionIn(**{**fields, "kind": "refund"})
    with pytest.raises(StoreError, match="no correlation id"):
        TransactionIn(**{**fields, "correlation_id": ""})


# -- lifecycle and attempts -----------------------------------------------------------------


def test_posting_logs_each_move_and_counts_the_posting_attempt(
    store: Store, clock: ManualClock
) -> None:
    txn_id = received_invoice(store)
    clock.advance()

    store.record_attempt(txn_id, "validated", "ok")
    posted = store.record_attempt(
        txn_id,
        "posted",
        "ok",
        erp_response={"number": "SI-1001"},
        erp_document_id="guid-1",
        erp_document_number="SI-1001",
    )
    reconciled = store.record_attempt(txn_id, "reconciled", "ok")

    assert (posted.stage, posted.attempts, posted.updated_at) == ("posted", 1, clock.now)
    assert (reconciled.erp_document_id, reconciled.erp_document_number) == ("guid-1", "SI-1001")
    assert [(a.seq, a.from_stage, a.to_stage) for a in store.attempts(txn_id)] == [
        (1, None, "received"),
        (2, "received", "validated"),
        (3, "validated", "posted"),
        (4, "posted", "reconciled"),
    ]
    assert store.attempts(txn_id)[2].erp_response == {"number": "SI-1001"}


def test_failures_and_dead_letters_count_as_attempts(store: Store) -> None:
    txn_id = received_invoice(store)
    move(store, txn_id, "validated")
    failed = store.record_attempt(
        txn_id, "failed", "error", reason_code="erp_unavailable", message="503 from ERP"
    )
    move(store, txn_id, "retried")
    store.record_attempt(txn_id, "failed", "error", reason_code="closed_period")
    dead = store.record_attempt(txn_id, "dead_lettered", "error", reason_code="closed_period")
    replayed = move(store, txn_id, "replayed")
    posted = move(store, txn_id, "validated", "posted")

    # A replay starts a fresh retry budget; the attempt log keeps every try.
    assert (failed.attempts, dead.attempts, replayed.attempts, posted.attempts) == (1, 3, 0, 1)
    attempt = store.attempts(txn_id)[2]
    assert (attempt.outcome, attempt.reason_code, attempt.message) == (
        "error",
        "erp_unavailable",
        "503 from ERP",
    )


def test_a_move_the_lifecycle_forbids_is_refused_and_changes_nothing(store: Store) -> None:
    txn_id = received_invoice(store)
    before = stored(store, txn_id)

    with pytest.raises(InvalidTransition) as refused:
        store.record_attempt(txn_id, "posted", "ok")

    assert (refused.value.txn_id, refused.value.current, refused.value.new) == (
        txn_id,
        "received",
        "posted",
    )
    assert str(refused.value).startswith(
        "transaction 'billing:invoice:in_1': a received transaction cannot move to posted"
    )
    assert isinstance(refused.value, StoreError)
    assert stored(store, txn_id) == before
    assert len(store.attempts(txn_id)) == 1


def test_an_unknown_outcome_is_refused(store: Store) -> None:
    txn_id = received_invoice(store)

    with pytest.raises(StoreError, match=r"outcome 'maybe' .* is not one of ok, error, waiting"):
        store.record_attempt(txn_id, "validated", "maybe")
    assert stored(store, txn_id).stage == "received"


def test_an_unknown_transaction_cannot_move(store: Store) -> None:
    with pytest.raises(TransactionNotFound, match="'billing:invoice:nope' does not exist"):
        store.record_attempt("billing:invoice:nope", "validated", "ok")
    assert store.transaction("billing:invoice:nope") is None
    assert store.attempts("billing:invoice:nope") == []


def test_two_runs_posting_one_transaction_at_once_post_it_once(store: Store) -> None:
    txn_id = received_invoice(store)
    move(store, txn_id, "validated")

    def post() -> str:
        try:
            return store.record_attempt(txn_id, "posted", "ok").stage
        except InvalidTransition as refused:
            return f"refused from {refused.current}"

    outcomes = sorted(at_once(post))

    assert outcomes == ["posted", "refused from posted"]
    assert stored(store, txn_id).attempts == 1
    assert [a.to_stage for a in store.attempts(txn_id)] == ["received", "validated", "posted"]


def test_two_runs_receiving_the_same_transactions_at_once(database_url: str) -> None:
    items = [TransactionIn.from_canonical(invoice(f"in_{i:04d}")) for i in range(300)]
    stores = [Store.open(database_url), Store.open(database_url)]
    handed_out = iter(stores)
    try:
        results = at_once(lambda: next(handed_out).receive_transactions(items))

        assert sum(results, ReceiveCounts()) == ReceiveCounts(new=300, unchanged=300)
        assert len(stores[0].transactions()) == 300
        assert {len(stores[0].attempts(i.txn_id)) for i in items[::50]} == {1}
    finally:
        for store in stores:
            store.close()


# -- exceptions -----------------------------------------------------------------------------


def test_an_exception_carries_the_transaction_context(store: Store, clock: ManualClock) -> None:
    receive(store, invoice(correlation_id="corr-9"))

    opened = store.open_exception("billing:invoice:in_1", "missing_tax_code", "no tax group")

    assert (opened.txn_id, opened.kind, opened.region, opened.source_system) == (
        "billing:invoice:in_1",
        "invoice",
        "emea",
        "billing",
    )
    assert (opened.reason_code, opened.message, opened.status, opened.occurrences) == (
        "missing_tax_code",
        "no tax group",
        "open",
        1,
    )
    assert (opened.opened_at, opened.last_seen_at, opened.closed_at) == (clock.now, clock.now, None)
    assert (opened.correlation_id, opened.resolution) == ("corr-9", None)
    assert store.exceptions() == [opened]


def test_the_same_reason_again_counts_another_occurrence(store: Store, clock: ManualClock) -> None:
    txn_id = received_invoice(store)
    first = store.open_exception(txn_id, "closed_period", "period 2026-02 is closed")
    seen_at = clock.advance()

    again = store.open_exception(txn_id, "closed_period", "period 2026-02 is still closed")

    assert (again.id, again.occurrences, again.opened_at, again.last_seen_at) == (
        first.id,
        2,
        first.opened_at,
        seen_at,
    )
    assert again.message == "period 2026-02 is still closed"
    assert store.exceptions(status=None) == [again]


def test_another_reason_supersedes_the_open_exception(store: Store, clock: ManualClock) -> None:
    txn_id = received_invoice(store)
    first = store.open_exception(txn_id, "missing_tax_code", "no tax group")
    clock.advance()

    second = store.open_exception(txn_id, "unknown_customer", "no ERP customer")

    [closed] = store.exceptions(status="closed")
    assert (closed.id, closed.resolution, closed.closed_at) == (
        first.id,
        "superseded by unknown_customer",
        clock.now,
    )
    assert store.exceptions() == [second]
    assert second.id != first.id


@pytest.mark.parametrize(
    ("path", "resolution"),
    [
        (("validated", "failed", "retried"), "posted after retry"),
        (("validated", "failed", "replayed"), "posted after replay"),
        (("dead_lettered", "replayed", "validated"), "posted after replay"),
        (("failed", "retried", "validated"), "posted after retry"),
        (("validated",), "posted"),
    ],
)
def test_posting_closes_the_open_exception_saying_how(
    store: Store, clock: ManualClock, path: tuple[str, ...], resolution: str
) -> None:
    txn_id = received_invoice(store)
    move(store, txn_id, *path)
    store.open_exception(txn_id, "erp_unavailable", "503 from ERP")
    posted_at = clock.advance()

    store.record_attempt(txn_id, "posted", "ok")

    [closed] = store.exceptions(status=None)
    assert (closed.status, closed.resolution, closed.closed_at) == ("closed", resolution, posted_at)
    assert store.exceptions() == []


def test_close_exceptions_closes_the_open_one(store: Store) -> None:
    txn_id = received_invoice(store)
    store.open_exception(txn_id, "missing_tax_code", "no tax group")

    assert store.close_exceptions(txn_id, "voided in billing") == 1
    assert store.close_exceptions(txn_id, "again") == 0
    [closed] = store.exceptions(status="closed")
    assert closed.resolution == "voided in billing"
    with pytest.raises(TransactionNotFound):
        store.close_exceptions("billing:invoice:nope", "typo")


def test_a_closed_exception_does_not_stop_a_new_one(store: Store) -> None:
    txn_id = received_invoice(store)
    store.open_exception(txn_id, "closed_period", "closed")
    store.close_exceptions(txn_id, "period reopened")

    reopened = store.open_exception(txn_id, "closed_period", "closed again")

    assert (reopened.occurrences, reopened.status) == (1, "open")
    assert len(store.exceptions(status=None)) == 2


def test_the_database_keeps_one_open_exception_per_transaction(
    store: Store, clock: ManualClock
) -> None:
    txn_id = received_invoice(store)
    store.open_exception(txn_id, "closed_period", "closed")
    row = {
        "txn_id": txn_id,
        "kind": "invoice",
        "region": "emea",
        "source_system": "billing",
        "reason_code": "other",
        "message": "written around the store",
        "status": "open",
        "open_txn_id": txn_id,
        "occurrences": 1,
        "opened_at": clock.now,
        "last_seen_at": clock.now,
        "correlation_id": "c",
    }

    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        conn.execute(insert(transaction_exceptions).values(row))
    # An open row must carry its txn id in open_txn_id, or the uniqueness would not hold.
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        conn.execute(insert(transaction_exceptions).values({**row, "open_txn_id": None}))
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        conn.execute(insert(transaction_exceptions).values({**row, "open_txn_id": "other"}))
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        conn.execute(insert(transaction_exceptions).values({**row, "status": "closed"}))


def test_an_exception_needs_a_known_transaction(store: Store) -> None:
    with pytest.raises(TransactionNotFound):
        store.open_exception("billing:invoice:nope", "closed_period", "closed")


def test_two_runs_opening_the_same_exception_at_once_share_it(store: Store) -> None:
    txn_id = received_invoice(store)

    opened = at_once(lambda: store.open_exception(txn_id, "closed_period", "closed"), workers=3)

    assert len({e.id for e in opened}) == 1
    [only] = store.exceptions(status=None)
    assert only.occurrences == 3


# -- queries --------------------------------------------------------------------------------


def three_transactions(store: Store) -> None:
    receive(
        store,
        invoice("in_b"),
        invoice("in_a", region="na"),
        payment("py_1", business_date=DAY - timedelta(days=1)),
    )
    move(store, "billing:invoice:in_b", "validated")


def test_transactions_are_filtered_and_ordered_by_business_date_then_id(store: Store) -> None:
    three_transactions(store)

    def ids(**filters: Any) -> list[str]:
        return [txn.txn_id for txn in store.transactions(**filters)]

    assert ids() == ["billing:payment:py_1", "billing:invoice:in_a", "billing:invoice:in_b"]
    assert ids(kind="invoice") == ["billing:invoice:in_a", "billing:invoice:in_b"]
    assert ids(region="emea", business_date=DAY) == ["billing:invoice:in_b"]
    assert ids(stages=["received"]) == ["billing:payment:py_1", "billing:invoice:in_a"]
    assert ids(stages=[]) == []
    assert ids(limit=1) == ["billing:payment:py_1"]
    assert ids(txn_ids=["billing:invoice:in_b", "billing:payment:py_1", "billing:x:y"]) == [
        "billing:payment:py_1",
        "billing:invoice:in_b",
    ]
    assert ids(txn_ids=["billing:invoice:in_b", "billing:invoice:in_a"], limit=1) == [
        "billing:invoice:in_a"
    ]


def test_many_txn_ids_are_looked_up_in_chunks(store: Store) -> None:
    receive(store, *(invoice(f"in_{i:04d}") for i in range(1100)))
    wanted = [f"billing:invoice:in_{i:04d}" for i in range(1100, 0, -1)]

    found = store.transactions(txn_ids=wanted)

    assert [txn.txn_id for txn in found] == sorted(wanted)[:-1]  # in_1100 was never received


def test_iter_transactions_streams_everything_in_order(store: Store) -> None:
    three_transactions(store)
    receive(store, *(invoice(f"in_{i}", business_date=DAY + timedelta(days=i)) for i in range(4)))

    streamed = list(store.iter_transactions(chunk_size=2))
    invoices = list(store.iter_transactions(kind="invoice", region="emea", chunk_size=2))

    assert streamed == store.transactions()
    assert len(streamed) == 7
    assert invoices == store.transactions(kind="invoice", region="emea")


def test_stage_counts(store: Store) -> None:
    three_transactions(store)

    assert store.stage_counts() == {"received": 2, "validated": 1}
    assert store.stage_counts(kind="invoice", region="emea") == {"validated": 1}
    assert store.stage_counts(business_date=DAY - timedelta(days=1)) == {"received": 1}
    assert store.stage_counts(region="apac") == {}


def test_exceptions_are_filtered_and_counted(store: Store, clock: ManualClock) -> None:
    three_transactions(store)
    store.open_exception("billing:invoice:in_a", "missing_tax_code", "no tax group")
    later = clock.advance()
    store.open_exception("billing:invoice:in_b", "missing_tax_code", "no tax group")
    store.open_exception("billing:payment:py_1", "unknown_invoice", "no such invoice")
    store.close_exceptions("billing:payment:py_1", "invoice arrived")

    def ids(**filters: Any) -> list[str]:
        return [e.txn_id for e in store.exceptions(**filters)]

    assert ids() == ["billing:invoice:in_a", "billing:invoice:in_b"]
    assert ids(status=None) == [
        "billing:invoice:in_a",
        "billing:invoice:in_b",
        "billing:payment:py_1",
    ]
    assert ids(status="closed", kind="payment") == ["billing:payment:py_1"]
    assert ids(region="na") == ["billing:invoice:in_a"]
    assert ids(reason_code="unknown_invoice") == []
    assert ids(opened_since=later) == ["billing:invoice:in_b"]
    assert ids(txn_ids=["billing:invoice:in_b", "billing:payment:py_1"], status=None) == [
        "billing:invoice:in_b",
        "billing:payment:py_1",
    ]
    assert store.open_exception_counts() == {"missing_tax_code": 2}
    assert store.open_exception_counts(region="emea") == {"missing_tax_code": 1}


def test_recording_a_posting_completes_the_ledger_write_in_the_same_transaction(
    store: Store,
) -> None:
    txn_id = received_invoice(store)
    key = "erp:salesInvoice:create:in_1:v1"
    store.begin_write(key, "erp", "salesInvoice", "create", "v1", "corr-1", "hash")

    with pytest.raises(InvalidTransition):
        store.record_posted(txn_id, key, "doc-1", "103001", {"id": "doc-1"})  # not validated
    entry = store.ledger_entry(key)
    assert entry is not None and entry.status == "pending"  # rolled back with the move

    move(store, txn_id, "validated")
    posted = store.record_posted(txn_id, key, "doc-1", "103001", {"id": "doc-1"})
    entry = store.ledger_entry(key)
    assert (posted.stage, posted.erp_document_id, posted.erp_document_number) == (
        "posted",
        "doc-1",
        "103001",
    )
    assert entry is not None and (entry.status, entry.object_id) == ("succeeded", "doc-1")


def test_waiting_for_a_customer_does_not_use_up_the_retry_budget(store: Store) -> None:
    txn_id = received_invoice(store)
    waited = store.record_attempt(
        txn_id, "failed", "waiting", reason_code="customer_not_in_erp", message="not yet"
    )
    move(store, txn_id, "retried")
    again = store.record_attempt(txn_id, "failed", "error", reason_code="erp_unavailable")

    assert (waited.attempts, again.attempts) == (0, 1)
    assert [a.outcome for a in store.attempts(txn_id)][-3:] == ["waiting", "ok", "error"]
