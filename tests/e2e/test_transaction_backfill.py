"""Invoices, payments and credit notes end to end: a backfill of every date-and-region
partition against the three sandboxes posts each valid document once, holds each broken one
as an exception with the right reason, and a second backfill writes nothing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from e2e_platform import (
    ANCHOR,
    Platform,
    billing_customers_in_erp,
    erp_documents,
    open_exceptions,
    running_platform,
)

from sync_platform.transactions.billing_mapping import invoice_issued_at, utc_day
from sync_platform.transactions.erp_gateway import replay_exceptions
from sync_platform.transactions.flow import ReplaySelection

pytestmark = pytest.mark.slow
WORLD = 30  # holds a CHF invoice, Dutch invoices, a back-dated one and unknown customers


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with running_platform(tmp_path_factory.mktemp("transactions"), WORLD) as platform:
        platform.sync_customers()
        platform.backfill()
        yield platform


def finalized_invoices(platform: Platform) -> dict[str, Any]:
    return {i.id: i for i in platform.billing.list_invoices() if i.status not in ("draft", "void")}


def expected_reason(platform: Platform, invoice: Any, in_erp: set[str]) -> str | None:
    """Why an invoice cannot post, derived from billing and the ERP, not from our code."""
    line = invoice.lines.data[0]
    tax = (line.get("taxes") or [{}])[0].get("tax_rate_details", {}).get("tax_rate")
    issued = utc_day(invoice_issued_at(invoice))
    if invoice.currency.upper() == "CHF":
        return "currency_not_allowed"
    if issued < date(ANCHOR.year, 8, 1):  # the ERP closed July and before
        return "period_closed"
    if tax == "txr_NL21":
        return "tax_code_unmapped"
    if str(invoice.customer) not in in_erp:
        return "customer_not_in_erp"
    return None


def test_every_valid_invoice_is_posted_once_with_equal_totals(platform: Platform) -> None:
    invoices = finalized_invoices(platform)
    in_erp = billing_customers_in_erp(platform)
    valid = {i for i, inv in invoices.items() if expected_reason(platform, inv, in_erp) is None}
    posted = Counter(d.externalDocumentNumber for d in erp_documents(platform, "invoices"))
    assert valid, "the world should have postable invoices"
    assert {k for k, n in posted.items() if n > 1} == set(), "an invoice was posted twice"
    assert set(posted) == valid
    # Each was read back from the ERP after posting and found as billed.
    reconciled = platform.store.transactions(kind="invoice", stages=("reconciled",))
    assert {t.source_id for t in reconciled} == valid
    erp_totals: Counter[str] = Counter()
    for doc in erp_documents(platform, "invoices"):
        assert doc.status != "Draft", f"{doc.externalDocumentNumber} left as a draft"
        erp_totals[invoices[doc.externalDocumentNumber].currency.upper()] += (
            doc.totalAmountIncludingTax
        )
    billing_totals: Counter[str] = Counter()
    for invoice_id in valid:
        billing_totals[invoices[invoice_id].currency.upper()] += invoices[invoice_id].total
    assert erp_totals == billing_totals


def test_each_broken_invoice_is_an_exception_with_its_reason(platform: Platform) -> None:
    invoices = finalized_invoices(platform)
    in_erp = billing_customers_in_erp(platform)
    expected = {
        i: reason
        for i, inv in invoices.items()
        if (reason := expected_reason(platform, inv, in_erp)) is not None
    }
    held = {k: v for k, v in open_exceptions(platform).items() if k.startswith("in_")}
    assert held == expected
    assert set(expected.values()) == {
        "currency_not_allowed",
        "period_closed",
        "tax_code_unmapped",
        "customer_not_in_erp",
    }
    dutch = next(e for e in platform.store.exceptions() if e.reason_code == "tax_code_unmapped")
    assert "Tax rate txr_NL21 has no ERP tax group for region emea" in dutch.message
    stages = Counter(t.stage for t in platform.store.transactions(kind="invoice"))
    assert stages["failed"] == sum(1 for r in expected.values() if r == "customer_not_in_erp")


def test_every_settled_payment_of_a_posted_invoice_is_applied_once(platform: Platform) -> None:
    posted_invoices = {d.externalDocumentNumber: d for d in erp_documents(platform, "invoices")}
    charges = [c for c in platform.billing.list_charges() if c.status == "succeeded"]
    in_erp = billing_customers_in_erp(platform)
    applied = {
        t.source_id: t for t in platform.store.transactions(kind="payment", stages=("reconciled",))
    }
    payments = {t.source_id: t for t in platform.store.transactions(kind="payment")}
    for charge in charges:
        txn = payments[charge.id]
        invoice_id = txn.payload["invoice_id"]
        if invoice_id in posted_invoices and txn.payload["settled"]:
            assert charge.id in applied, f"payment {charge.id} of a posted invoice not applied"
        elif invoice_id not in posted_invoices:
            waits_for = (
                "invoice_not_posted" if str(charge.customer) in in_erp else "customer_not_in_erp"
            )
            assert open_exceptions(platform).get(charge.id) == waits_for
    entries = Counter(
        e.documentNumber for e in erp_documents(platform, "payments") if e.debitAmount
    )
    assert all(n == 1 for n in entries.values()), "a payment was posted twice"
    assert len(entries) == len(applied)
    for invoice in posted_invoices.values():
        paid = sum(
            t.payload["amount"]
            for t in applied.values()
            if t.payload["invoice_id"] == invoice.externalDocumentNumber
        )
        credited = sum(
            t.payload["total"]
            for t in platform.store.transactions(kind="credit_note", stages=("reconciled",))
            if t.payload["invoice_id"] == invoice.externalDocumentNumber
        )
        assert invoice.remainingAmount == max(invoice.totalAmountIncludingTax - paid - credited, 0)


def test_every_credit_note_reverses_its_invoice_once(platform: Platform) -> None:
    posted_invoices = {d.externalDocumentNumber: d for d in erp_documents(platform, "invoices")}
    memos = erp_documents(platform, "credit_memos")
    notes_txns = platform.store.transactions(kind="credit_note")
    assert memos, [
        (t.source_id, t.stage, platform.store.attempts(t.txn_id)[-1]) for t in notes_txns
    ]
    assert Counter(m.externalDocumentNumber for m in memos).most_common(1)[0][1] == 1
    by_number = {m.externalDocumentNumber: m for m in memos}
    notes = list(platform.billing.list_credit_notes())
    assert notes, "the world should have credit notes"
    for note in notes:
        invoice = posted_invoices.get(str(note.invoice))
        if invoice is None:
            waits_for = (
                "invoice_not_posted"
                if str(note.customer) in billing_customers_in_erp(platform)
                else "customer_not_in_erp"
            )
            assert open_exceptions(platform)[note.id] == waits_for
            continue
        memo = by_number[note.id]
        assert memo.invoiceId == invoice.id and memo.status != "Draft"
        assert memo.totalAmountIncludingTax == note.total


def test_a_second_backfill_creates_no_erp_document(platform: Platform) -> None:
    before = {e: len(erp_documents(platform, e)) for e in ("invoices", "credit_memos", "payments")}
    runs = platform.backfill()
    after = {e: len(erp_documents(platform, e)) for e in ("invoices", "credit_memos", "payments")}
    assert after == before
    assert (
        sum(
            run[key]["erp_writes"]
            for run in runs
            for key in ("erp/invoice_postings", "erp/cash_applications", "erp/credit_memos")
        )
        == 0
    )


def test_adding_the_missing_tax_mapping_and_replaying_posts_the_dutch_invoices(
    platform: Platform,
) -> None:
    held = [
        e.txn_id.rsplit(":", 1)[1]
        for e in platform.store.exceptions(reason_code="tax_code_unmapped")
    ]
    assert held
    mapping = platform.config_dir / "posting.yaml"
    mapping.write_text(
        mapping.read_text().replace("tax_rates:\n", "tax_rates:\n  txr_NL21: {emea: VAT21}\n")
    )
    selection = ReplaySelection(reason="tax_code_unmapped", since=datetime(2026, 1, 1, tzinfo=UTC))
    summary = replay_exceptions(
        platform.erp, platform.store, selection, note="test: NL21 mapped", by="test"
    )
    assert summary["selected"] == len(held)
    posted = {d.externalDocumentNumber for d in erp_documents(platform, "invoices")}
    invoices = finalized_invoices(platform)
    in_erp = billing_customers_in_erp(platform)
    postable = {i for i in held if str(invoices[i].customer) in in_erp}
    assert postable and postable <= posted
    # The others now wait for their customer, which the mapping did not fix.
    assert {open_exceptions(platform)[i] for i in set(held) - postable} <= {"customer_not_in_erp"}
    assert platform.store.exceptions(reason_code="tax_code_unmapped") == []
    closed = platform.store.exceptions(status="closed", reason_code="tax_code_unmapped")
    assert {e.resolution for e in closed} == {"posted after replay"} | (
        {"superseded by customer_not_in_erp"} if set(held) - postable else set()
    )
    attempts = platform.store.attempts(f"billing:invoice:{sorted(postable)[0]}")
    assert [a.to_stage for a in attempts][-4:] == [
        "replayed",
        "validated",
        "posted",
        "reconciled",
    ]
    assert "test: NL21 mapped" in (attempts[-4].message or "")
    again = replay_exceptions(platform.erp, platform.store, selection, note="again", by="test")
    assert again["selected"] == 0  # nothing is open for that reason any more
    assert {d.externalDocumentNumber for d in erp_documents(platform, "invoices")} == posted
