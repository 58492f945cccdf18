"""The comparisons behind the transaction checks, on records already read: what counts as
missing, in flight, removed, duplicated in amount, overdue, mis-linked or unbalanced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from transaction_factories import credit_note, invoice, payment

from sync_platform.transactions.completeness import (
    SHOWN,
    OpenInvoice,
    ar_differences,
    compare_with_erp,
    credit_lineage,
    offender_metadata,
    overdue,
)
from sync_platform.transactions.posting import ErpDocState, Reversal

NOW = datetime(2026, 10, 15, 12, tzinfo=UTC)


def posted(total: int, number: str = "103001") -> ErpDocState:
    return ErpDocState(id=f"id-{number}", number=number, posted=True, total=total)


def test_an_invoice_posted_with_billings_total_is_counted_on_both_sides() -> None:
    doc = invoice()

    found = compare_with_erp([doc], {"in_1": posted(doc.total)}, due=lambda d: True)

    assert found.passed
    assert found.metadata()["billing_amount_by_currency"] == {"EUR": doc.total}
    assert found.metadata()["erp_amount_by_currency"] == {"EUR": doc.total}
    assert found.metadata()["difference_by_currency"] == {"EUR": 0}


def test_missing_is_in_flight_until_due_then_an_offender_with_its_exception() -> None:
    doc = invoice()

    young = compare_with_erp([doc], {}, due=lambda d: False)
    late = compare_with_erp([doc], {}, due=lambda d: True, held={"in_1": "tax_code_unmapped"})

    assert young.passed and young.in_flight == ["in_1"]
    [offender] = late.offenders
    assert offender.record == "in_1" and offender.billing_amount == doc.total
    assert offender.problem == "not in the ERP (exception: tax_code_unmapped)"
    assert late.metadata()["difference_by_currency"] == {"EUR": doc.total}


def test_a_document_we_posted_and_the_erp_lost_is_an_offender_at_once() -> None:
    found = compare_with_erp([invoice()], {}, due=lambda d: False, posted_before={"in_1"})

    assert [o.problem for o in found.offenders] == [
        "posted, then removed from the ERP outside the platform"
    ]


def test_another_amount_in_the_erp_is_an_offender_naming_both_amounts() -> None:
    doc = invoice()

    found = compare_with_erp([doc], {"in_1": posted(doc.total + 100)}, due=lambda d: True)

    [offender] = found.offenders
    assert (offender.billing_amount, offender.erp_amount, offender.erp_document) == (
        doc.total,
        doc.total + 100,
        "103001",
    )


def test_the_same_amount_in_another_currency_is_an_offender_counted_under_the_erps() -> None:
    doc = invoice()  # EUR
    in_usd = ErpDocState(id="id-1", number="103001", posted=True, total=doc.total, currency="USD")
    in_eur = ErpDocState(id="id-1", number="103001", posted=True, total=doc.total, currency="EUR")

    found = compare_with_erp([doc], {"in_1": in_usd}, due=lambda d: True)

    [offender] = found.offenders
    assert offender.problem == "in USD in the ERP, billing's is in EUR"
    assert found.metadata()["erp_amount_by_currency"] == {"USD": doc.total}
    assert found.metadata()["difference_by_currency"] == {"EUR": doc.total, "USD": -doc.total}
    assert compare_with_erp([doc], {"in_1": in_eur}, due=lambda d: True).passed


def test_a_void_invoice_posted_is_done_once_erp_credit_memos_credit_exactly_its_total() -> None:
    doc = invoice(status="void")
    state = posted(doc.total)

    def check(reversal: Reversal | None) -> str | None:
        reversals = {"in_1": reversal} if reversal else {}
        found = compare_with_erp([doc], {"in_1": state}, due=lambda d: True, reversals=reversals)
        assert found.reversed_in_erp == ({} if found.offenders else {"in_1": ["104001"]})
        return found.offenders[0].problem if found.offenders else None

    assert check(None) == "void in billing but posted in the ERP"
    assert check(Reversal(("104001",), doc.total)) is None
    assert check(Reversal(("104001",), 1_000)) == (
        f"void in billing but posted in the ERP; credit memo 104001 credit 1000 of its {doc.total}"
    )
    assert check(Reversal(("104001", "104002"), doc.total + 1_000)) == (
        f"void in billing but posted in the ERP; credit memo 104001, 104002 credit "
        f"{doc.total + 1_000} of its {doc.total}, beyond its total"
    )


def test_void_and_unsettled_documents_are_not_expected_but_may_not_be_posted() -> None:
    void = invoice(status="void")
    unsettled = payment(settled=False)

    quiet = compare_with_erp([void, unsettled], {}, due=lambda d: True)
    loud = compare_with_erp([void], {"in_1": posted(void.total)}, due=lambda d: True)

    assert quiet.passed and quiet.metadata()["billing_count_by_currency"] == {}
    assert [o.problem for o in loud.offenders] == ["void in billing but posted in the ERP"]


def test_unusable_billing_records_are_offenders_with_their_reason() -> None:
    found = compare_with_erp([], {}, due=lambda d: True, rejected=[("in_9", "no customer")])

    assert [(o.record, o.problem) for o in found.offenders] == [
        ("in_9", "billing record unusable: no customer")
    ]


def test_metadata_lists_the_first_offenders_and_counts_them_all() -> None:
    docs = [invoice(source_id=f"in_{n}") for n in range(SHOWN + 5)]

    metadata = compare_with_erp(docs, {}, due=lambda d: True).metadata()

    assert metadata["offending"] == SHOWN + 5
    assert len(metadata["offenders"]) == len(metadata["offender_rows"]) == SHOWN
    assert metadata["offender_rows"][0]["record"] == "in_0"
    assert metadata["offenders"][0] == "in_0: not in the ERP (billing 47362, ERP - EUR)"
    assert "| in_0 | cus_1 | EUR |" in metadata["offenders_table"]
    assert offender_metadata([])["offenders_table"] == "No offending records."


def test_overdue_counts_from_its_own_start_and_skips_what_has_not_started() -> None:
    settled_long_ago = payment(source_id="ch_1")
    settled_just_now = payment(source_id="ch_2")
    unsettled = payment(source_id="ch_3", settled=False)
    started = {"ch_1": NOW - timedelta(hours=2), "ch_2": NOW - timedelta(minutes=5)}

    late = overdue(
        [settled_long_ago, settled_just_now, unsettled],
        {},
        since=lambda d: started.get(d.source_id),
        within=timedelta(hours=1),
        now=NOW,
        what="settled",
    )

    assert [(o.record, o.problem) for o in late] == [
        ("ch_1", "settled 120 min ago, not in the ERP (SLA 60 min)")
    ]
    applied = overdue(
        [settled_long_ago],
        {"ch_1": posted(settled_long_ago.amount)},
        since=lambda d: NOW - timedelta(days=1),
        within=timedelta(hours=1),
        now=NOW,
        what="settled",
    )
    assert applied == []


def test_a_credit_memo_must_name_its_invoices_erp_posting_and_not_over_credit_it() -> None:
    note = credit_note()

    right = credit_lineage([note], {"cn_1": "erp-in-1"}, {"in_1": "erp-in-1"}, {"in_1": (100, 50)})
    wrong = credit_lineage([note], {"cn_1": "erp-in-7"}, {"in_1": "erp-in-1"}, {})
    over = credit_lineage([note], {"cn_1": "erp-in-1"}, {"in_1": "erp-in-1"}, {"in_1": (100, 150)})

    assert right == []
    assert [o.problem for o in wrong] == [
        "reverses ERP invoice erp-in-7, not erp-in-1 (billing invoice in_1)"
    ]
    assert [o.problem for o in over] == ["invoice in_1 of 100 is credited 150 in the ERP"]


def test_open_receivables_compare_per_customer_and_currency_counting_money_in_flight() -> None:
    invoices = [
        OpenInvoice("in_1", "cus_1", "EUR", billing_open=0, erp_open=1_000, in_flight=1_000),
        OpenInvoice("in_2", "cus_1", "EUR", billing_open=500, erp_open=500),
        OpenInvoice("in_3", "cus_2", "EUR", billing_open=0, erp_open=2_000),
        OpenInvoice("in_4", "cus_2", "GBP", billing_open=300, erp_open=300),
    ]

    [offender] = ar_differences(invoices)

    assert (offender.record, offender.currency) == ("cus_2", "EUR")
    assert (offender.billing_amount, offender.erp_amount, offender.erp_document) == (
        0,
        2_000,
        "in_3",
    )
    assert offender.problem == "open receivables differ by -2000 (billing - ERP)"
