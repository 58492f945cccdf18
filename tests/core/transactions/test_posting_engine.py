"""The posting engine against a real store and an in-memory ERP: what it does when the ERP
already holds something (a run died) and when billing voided the document meanwhile."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from transaction_factories import credit_note, invoice, reference

from sync_platform.store import Store, TransactionIn
from sync_platform.transactions.erp_documents import ErpDocument
from sync_platform.transactions.mappings import PostingConfig
from sync_platform.transactions.model import CanonicalTransaction, TransactionKind
from sync_platform.transactions.posting import (
    ErpDocState,
    PostingContext,
    PostingReport,
    post_transactions,
    reconcile_transactions,
)
from sync_platform.transactions.validation import ErpCustomerRef


class RevokedToken(Exception):
    pass


class FakeErp:
    """Documents by external number; counts what was created, posted and deleted."""

    def __init__(self) -> None:
        self.docs: dict[str, ErpDocState] = {}
        self.created: list[str] = []
        self.deleted: list[str] = []
        self.fail_with: Exception | None = None
        self.made_in: str | None = None  # the currency the ERP makes documents out in

    def find(self, kind: TransactionKind, numbers: Sequence[str]) -> dict[str, ErpDocState]:
        return {n: self.docs[n] for n in numbers if n in self.docs}

    def create(self, kind: TransactionKind, document: ErpDocument) -> ErpDocState:
        if self.fail_with is not None:
            raise self.fail_with
        total = sum(line["quantity"] * line["unitPrice"] * 119 // 100 for line in document.lines)
        state = ErpDocState(
            id=f"doc-{len(self.created)}",
            number=f"10300{len(self.created)}",
            posted=False,
            total=total,
            external_number=document.external_number,
            currency=self.made_in or document.header.get("currencyCode"),
        )
        self.created.append(document.external_number)
        self.docs[document.external_number] = state
        return state

    def post(self, kind: TransactionKind, state: ErpDocState) -> ErpDocState:
        posted = replace(state, posted=True)
        self.docs[state.external_number] = posted
        return posted

    def delete(self, kind: TransactionKind, state: ErpDocState) -> None:
        self.deleted.append(state.external_number)
        del self.docs[state.external_number]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(f"sqlite:///{tmp_path / 'store.sqlite3'}")


def context(**overrides: object) -> PostingContext:
    values: dict[str, object] = {
        "config": PostingConfig.load(),
        "reference": reference(),
        "customers": {"cus_1": ErpCustomerRef(number="C00001", id="guid-1")},
        "mode": "live",
        "invoice_postings": {"in_1": "doc-inv"},
        "fatal_errors": (RevokedToken,),
    }
    return PostingContext(**{**values, **overrides})  # type: ignore[arg-type]


def run(
    store: Store, erp: FakeErp, doc: CanonicalTransaction, ctx: PostingContext | None = None
) -> dict[str, int]:
    store.receive_transactions([TransactionIn.from_canonical(doc)])
    row = store.transaction(doc.txn_id)
    assert row is not None
    report = post_transactions(doc.kind, [(row, doc)], store, erp, ctx or context())
    return dict(report.outcomes)


def test_a_void_invoice_found_posted_in_the_erp_is_recorded_and_flagged(store: Store) -> None:
    erp = FakeErp()
    erp.docs["in_1"] = ErpDocState("doc-9", "103009", True, 47_362, external_number="in_1")

    outcomes = run(store, erp, invoice(status="void"))

    assert outcomes == {"found_posted": 1}
    txn = store.transaction("billing:invoice:in_1")
    assert txn is not None and (txn.stage, txn.erp_document_number) == ("posted", "103009")
    [exception] = store.exceptions()
    assert exception.reason_code == "voided_after_posting" and "103009" in exception.message
    assert erp.created == []


def test_a_void_invoice_with_our_draft_removes_the_draft(store: Store) -> None:
    erp = FakeErp()
    erp.docs["in_1"] = ErpDocState("doc-9", "103009", False, 47_362, external_number="in_1")

    assert run(store, erp, invoice(status="void")) == {"skipped": 1}
    assert erp.deleted == ["in_1"] and erp.docs == {}


def test_a_void_credit_note_is_not_posted(store: Store) -> None:
    erp = FakeErp()
    assert run(store, erp, credit_note(status="void")) == {"skipped": 1}
    assert erp.created == []


def test_a_stale_draft_of_an_older_version_is_replaced(store: Store) -> None:
    erp = FakeErp()
    erp.docs["in_1"] = ErpDocState("doc-9", "103009", False, 1_000, external_number="in_1")

    assert run(store, erp, invoice()) == {"posted": 1}
    assert erp.deleted == ["in_1"] and erp.created == ["in_1"]
    assert erp.docs["in_1"].posted and erp.docs["in_1"].total == 47_362


def test_a_document_found_posted_with_another_total_is_kept_and_flagged(store: Store) -> None:
    erp = FakeErp()
    erp.docs["in_1"] = ErpDocState("doc-9", "103009", True, 1_000, external_number="in_1")

    assert run(store, erp, invoice()) == {"found_posted": 1}
    assert erp.created == []
    [exception] = store.exceptions()
    assert exception.reason_code == "changed_after_posting"
    assert "1000" in exception.message and "47362" in exception.message


def test_a_document_found_posted_in_another_currency_is_kept_and_flagged(store: Store) -> None:
    erp = FakeErp()  # made by hand in the ERP under our number: billing's amount, in USD
    erp.docs["in_1"] = ErpDocState(
        "doc-9", "103009", True, 47_362, external_number="in_1", currency="USD"
    )

    assert run(store, erp, invoice()) == {"found_posted": 1}
    assert erp.created == []
    [exception] = store.exceptions()
    assert exception.reason_code == "changed_after_posting"
    assert "47362 USD" in exception.message and "47362 EUR" in exception.message


def test_a_draft_in_another_currency_is_replaced(store: Store) -> None:
    erp = FakeErp()
    erp.docs["in_1"] = ErpDocState(
        "doc-9", "103009", False, 47_362, external_number="in_1", currency="USD"
    )

    assert run(store, erp, invoice()) == {"posted": 1}
    assert erp.deleted == ["in_1"] and erp.created == ["in_1"]
    assert erp.docs["in_1"].posted and erp.docs["in_1"].currency == "EUR"


def test_a_draft_the_erp_made_out_in_another_currency_is_removed_and_held(store: Store) -> None:
    erp = FakeErp()
    erp.made_in = "USD"  # e.g. the customer's currency taken over billing's

    assert run(store, erp, invoice()) == {"dead_lettered": 1}
    assert erp.created == ["in_1"] and erp.deleted == ["in_1"] and erp.docs == {}
    [exception] = store.exceptions()
    assert exception.reason_code == "currency_mismatch"
    assert "in USD where billing's is in EUR" in exception.message


def test_a_revoked_credential_stops_the_run_without_dead_lettering(store: Store) -> None:
    erp = FakeErp()
    erp.fail_with = RevokedToken("401 from the ERP")

    with pytest.raises(RevokedToken):
        run(store, erp, invoice())
    txn = store.transaction("billing:invoice:in_1")
    assert txn is not None and txn.stage == "validated"
    assert store.exceptions() == []


def test_reading_back_reconciles_what_is_as_billed_and_flags_what_is_not(store: Store) -> None:
    erp = FakeErp()
    for source_id in ("in_1", "in_2", "in_3"):
        assert run(store, erp, invoice(source_id=source_id)) == {"posted": 1}
    erp.docs["in_2"] = replace(erp.docs["in_2"], total=1)  # edited in the ERP
    del erp.docs["in_3"]  # deleted in the ERP
    rows = store.transactions(kind="invoice", stages=("posted",))
    items = [(row, invoice(source_id=row.source_id)) for row in rows]
    report = PostingReport("invoice")

    reconcile_transactions("invoice", items, store, erp, report)

    stages = {t.source_id: t.stage for t in store.transactions(kind="invoice")}
    assert stages == {"in_1": "reconciled", "in_2": "posted", "in_3": "posted"}
    reasons = {e.txn_id.rsplit(":", 1)[1]: e.reason_code for e in store.exceptions()}
    assert reasons == {"in_2": "erp_edited_out_of_band", "in_3": "erp_deleted_out_of_band"}
    assert report.reconciled == 1
    assert erp.created == ["in_1", "in_2", "in_3"]  # nothing was written again


def test_a_credit_note_beyond_what_is_left_of_its_invoice_is_held(store: Store) -> None:
    erp = FakeErp()
    note = credit_note()  # credits 11,841 of invoice in_1
    ctx = context(invoice_credit={"in_1": (47_362, 40_000)})

    assert run(store, erp, note, ctx) == {"dead_lettered": 1}
    [exception] = store.exceptions()
    assert exception.reason_code == "exceeds_invoice" and "40000" in exception.message
    assert erp.created == []


def test_reading_back_again_leaves_reconciled_documents_and_flags_later_drift(
    store: Store,
) -> None:
    erp = FakeErp()
    for source_id in ("in_1", "in_2"):
        assert run(store, erp, invoice(source_id=source_id)) == {"posted": 1}
    items = [(r, invoice(source_id=r.source_id)) for r in store.transactions(kind="invoice")]
    reconcile_transactions("invoice", items, store, erp, PostingReport("invoice"))
    attempts = len(store.attempts("billing:invoice:in_1"))
    del erp.docs["in_2"]  # removed in the ERP after it was reconciled

    items = [(r, invoice(source_id=r.source_id)) for r in store.transactions(kind="invoice")]
    report = PostingReport("invoice")
    drifted = reconcile_transactions("invoice", items, store, erp, report, found=erp.docs)

    assert drifted == ["billing:invoice:in_2"]
    assert report.reconciled == 0
    assert len(store.attempts("billing:invoice:in_1")) == attempts  # nothing recorded again
    [exception] = store.exceptions()
    assert (exception.txn_id, exception.reason_code) == (
        "billing:invoice:in_2",
        "erp_deleted_out_of_band",
    )
    assert erp.created == ["in_1", "in_2"]


def test_a_drift_exception_closes_once_the_erp_is_corrected_and_only_a_drift_one(
    store: Store,
) -> None:
    erp = FakeErp()
    for source_id in ("in_1", "in_2"):
        assert run(store, erp, invoice(source_id=source_id)) == {"posted": 1}
    items = [(r, invoice(source_id=r.source_id)) for r in store.transactions(kind="invoice")]
    reconcile_transactions("invoice", items, store, erp, PostingReport("invoice"))
    as_posted = erp.docs["in_1"]
    erp.docs["in_1"] = replace(as_posted, total=1)  # edited in the ERP
    store.open_exception("billing:invoice:in_2", "changed_after_posting", "billing changed it")

    items = [(r, invoice(source_id=r.source_id)) for r in store.transactions(kind="invoice")]
    reconcile_transactions("invoice", items, store, erp, PostingReport("invoice"))
    assert {e.txn_id: e.reason_code for e in store.exceptions()} == {
        "billing:invoice:in_1": "erp_edited_out_of_band",
        "billing:invoice:in_2": "changed_after_posting",
    }

    erp.docs["in_1"] = as_posted  # finance puts the ERP right
    items = [(r, invoice(source_id=r.source_id)) for r in store.transactions(kind="invoice")]
    reconcile_transactions("invoice", items, store, erp, PostingReport("invoice"))

    assert {e.txn_id: e.reason_code for e in store.exceptions()} == {
        "billing:invoice:in_2": "changed_after_posting"  # not a drift: left for finance
    }
    [closed] = store.exceptions(status="closed", txn_ids=["billing:invoice:in_1"])
    assert closed.resolution == "corrected in the ERP: it matches billing again"


def test_reading_back_flags_a_posted_document_now_in_another_currency(store: Store) -> None:
    erp = FakeErp()
    assert run(store, erp, invoice()) == {"posted": 1}
    assert erp.docs["in_1"].currency == "EUR"
    erp.docs["in_1"] = replace(erp.docs["in_1"], currency="GBP")  # same amount, other money
    items = [(r, invoice(source_id=r.source_id)) for r in store.transactions(kind="invoice")]

    drifted = reconcile_transactions("invoice", items, store, erp, PostingReport("invoice"))

    assert drifted == ["billing:invoice:in_1"]
    [exception] = store.exceptions()
    assert exception.reason_code == "erp_edited_out_of_band"
    assert "47362 GBP" in exception.message and "47362 EUR" in exception.message
