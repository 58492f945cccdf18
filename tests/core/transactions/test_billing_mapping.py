"""Stripe invoices, charges and credit notes become canonical transactions, or clear errors.

The inputs are hand-made Stripe-shaped dicts (API 2026-10-28.endive, as the billing sandbox
serves them) validated through the vendor models, as the billing resource returns them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from resources.billing_models import (
    StripeBalanceTransaction,
    StripeCharge,
    StripeCreditNote,
    StripeInvoice,
    StripeInvoiceLine,
    StripeInvoicePayment,
    StripeRefund,
)
from sync_platform.transactions.billing_mapping import (
    BillingRecordError,
    canonical_credit_note,
    canonical_invoice,
    canonical_payment,
)
from sync_platform.transactions.model import DocumentLine

CREATED = int(datetime(2026, 10, 14, 23, 30, tzinfo=UTC).timestamp())
FINALIZED = CREATED + 3_600  # 00:30 the next day: the invoice belongs to the 15th
TIMES = "\u00d7"  # Stripe describes a line as "2 <multiplication sign> Team plan"
DUE = int(datetime(2026, 11, 14, 0, 30, tzinfo=UTC).timestamp())


def tax(amount: int, rate: str = "txr_DE19", behavior: str = "exclusive") -> dict[str, Any]:
    return {
        "amount": amount,
        "tax_behavior": behavior,
        "tax_rate_details": {"tax_rate": rate},
        "taxability_reason": "standard_rated",
        "taxable_amount": 0,
        "type": "tax_rate_details",
    }


def invoice_line(line_id: str = "il_1", **overrides: Any) -> dict[str, Any]:
    line = {
        "id": line_id,
        "object": "line_item",
        "amount": 39_800,
        "currency": "eur",
        "description": f"2 {TIMES} Team plan",
        "invoice": "in_1",
        "pricing": {
            "price_details": {"price": "price_team_eur", "product": "prod_team"},
            "type": "price_details",
            "unit_amount_decimal": "19900",
        },
        "quantity": 2,
        "taxes": [tax(7_562)],
    }
    return {**line, **overrides}


def invoice_dict(lines: list[dict[str, Any]] | None = None, **overrides: Any) -> dict[str, Any]:
    lines = [invoice_line()] if lines is None else lines
    subtotal = sum(line["amount"] for line in lines)
    taxes = [t for line in lines for t in line["taxes"]]
    total_tax = sum(t["amount"] for t in taxes)
    doc = {
        "id": "in_1",
        "object": "invoice",
        "created": CREATED,
        "customer": "cus_1",
        "status": "open",
        "currency": "eur",
        "number": "ACME-0001",
        "subtotal": subtotal,
        "total": subtotal + total_tax,
        "amount_due": subtotal + total_tax,
        "amount_paid": 0,
        "amount_remaining": subtotal + total_tax,
        "total_taxes": taxes,
        "due_date": DUE,
        "lines": {
            "object": "list",
            "data": lines,
            "has_more": False,
            "url": "/v1/invoices/in_1/lines",
        },
        "status_transitions": {
            "finalized_at": FINALIZED,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
    }
    return {**doc, **overrides}


def invoice(**overrides: Any) -> StripeInvoice:
    return StripeInvoice.model_validate(invoice_dict(**overrides))


# -- invoices ----------------------------------------------------------------------------------
def test_a_finalized_invoice_maps_lines_taxes_and_totals() -> None:
    mapped = canonical_invoice(invoice(), "emea")

    assert mapped is not None
    assert mapped.source_id == "in_1"
    assert mapped.number == "ACME-0001"
    assert mapped.region == "emea"
    assert mapped.billing_customer_id == "cus_1"
    assert mapped.currency == "EUR"
    assert mapped.status == "open"
    assert mapped.lines == (
        DocumentLine(
            line_id="il_1",
            description=f"2 {TIMES} Team plan",
            product_id="prod_team",
            price_id="price_team_eur",
            quantity=2,
            unit_amount=19_900,
            amount=39_800,
            tax_amount=7_562,
            tax_rate_id="txr_DE19",
        ),
    )
    assert (mapped.subtotal, mapped.tax, mapped.total) == (39_800, 7_562, 47_362)
    assert mapped.due_date == date(2026, 11, 14)


def test_an_invoice_belongs_to_the_utc_day_it_was_finalized_not_created() -> None:
    mapped = canonical_invoice(invoice(), "emea")

    assert mapped is not None
    assert mapped.business_date == date(2026, 10, 15)
    assert mapped.occurred_at == datetime(2026, 10, 15, 0, 30, tzinfo=UTC)


def test_without_a_finalization_time_the_invoice_is_dated_by_its_creation() -> None:
    mapped = canonical_invoice(invoice(status_transitions=None), "emea")

    assert mapped is not None
    assert mapped.business_date == date(2026, 10, 14)


def test_a_draft_is_not_canonical() -> None:
    assert canonical_invoice(invoice(status="draft", number=None), "emea") is None


def test_a_chf_invoice_stays_in_chf_and_an_untaxed_line_has_no_tax_rate() -> None:
    line = invoice_line(currency="chf", taxes=[])

    mapped = canonical_invoice(invoice(lines=[line], currency="chf"), "emea")

    assert mapped is not None
    assert mapped.currency == "CHF"
    assert (mapped.lines[0].tax_amount, mapped.lines[0].tax_rate_id) == (0, None)
    assert mapped.total == mapped.subtotal == 39_800


def test_lines_beyond_the_first_page_are_taken_from_the_full_list() -> None:
    first_page = [invoice_line(f"il_{i}") for i in range(10)]
    all_lines = [*first_page, invoice_line("il_10")]
    doc = invoice_dict(lines=all_lines)
    doc["lines"] = {**doc["lines"], "data": first_page, "has_more": True}
    truncated = StripeInvoice.model_validate(doc)

    with pytest.raises(BillingRecordError, match="first page of lines"):
        canonical_invoice(truncated, "emea")
    full = [StripeInvoiceLine.model_validate(line) for line in all_lines]
    mapped = canonical_invoice(truncated, "emea", lines=full)

    assert mapped is not None
    assert len(mapped.lines) == 11
    assert mapped.subtotal == 11 * 39_800


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"number": None}, "missing number"),
        ({"customer": None}, "missing customer"),
        ({"subtotal": 40_000}, "subtotal 40000 does not equal the sum of its lines (39800)"),
        ({"total": 46_000}, "total 46000 does not equal subtotal + tax"),
        ({"lines": None}, "came without its lines"),
        ({"lines": [invoice_line(quantity=None)]}, "missing quantity of line il_1"),
        (
            {"lines": [invoice_line(taxes=[tax(3_781), tax(3_781, "txr_X")])]},
            "carries 2 taxes",
        ),
        ({"lines": [invoice_line(taxes=[tax(6_355, behavior="inclusive")])]}, "tax-inclusive"),
        (
            {"lines": [invoice_line(pricing={"unit_amount_decimal": "19900.5"})]},
            "not whole",
        ),
        ({"lines": [invoice_line(amount=39_000)]}, "line il_1 amount 39000 does not equal"),
        ({"currency": "xyz", "lines": [invoice_line(currency="xyz")]}, "currency"),
    ],
)
def test_an_invoice_missing_what_posting_needs_is_an_error_naming_it(
    overrides: dict[str, Any], problem: str
) -> None:
    overrides = dict(overrides)
    lines = overrides.pop("lines", [invoice_line()])
    doc = invoice_dict(lines=lines or [], **overrides)
    if lines is None:
        doc["lines"] = None

    with pytest.raises(BillingRecordError) as caught:
        canonical_invoice(StripeInvoice.model_validate(doc), "emea")

    assert caught.value.object_id == "in_1"
    assert problem in caught.value.problem


# -- payments ----------------------------------------------------------------------------------
PAID_AT = int(datetime(2026, 10, 16, 8, tzinfo=UTC).timestamp())


def balance_transaction(**overrides: Any) -> StripeBalanceTransaction:
    doc = {
        "id": "txn_1",
        "object": "balance_transaction",
        "amount": 47_362,
        "available_on": PAID_AT + 2 * 86_400,
        "created": PAID_AT,
        "currency": "eur",
        "fee": 1_404,
        "net": 45_958,
        "source": "ch_1",
        "status": "available",
        "type": "charge",
        "reporting_category": "charge",
    }
    return StripeBalanceTransaction.model_validate({**doc, **overrides})


def charge(**overrides: Any) -> StripeCharge:
    doc = {
        "id": "ch_1",
        "object": "charge",
        "amount": 47_362,
        "amount_captured": 47_362,
        "amount_refunded": 0,
        "balance_transaction": "txn_1",
        "captured": True,
        "created": PAID_AT,
        "currency": "eur",
        "customer": "cus_1",
        "paid": True,
        "payment_intent": "pi_1",
        "status": "succeeded",
    }
    return StripeCharge.model_validate({**doc, **overrides})


def invoice_payment(payment_id: str = "inpay_1", **overrides: Any) -> StripeInvoicePayment:
    doc = {
        "id": payment_id,
        "object": "invoice_payment",
        "amount_paid": 47_362,
        "amount_requested": 47_362,
        "created": PAID_AT,
        "currency": "eur",
        "invoice": "in_1",
        "is_default": True,
        "payment": {"payment_intent": "pi_1", "type": "payment_intent"},
        "status": "paid",
        "status_transitions": {"canceled_at": None, "paid_at": PAID_AT},
    }
    return StripeInvoicePayment.model_validate({**doc, **overrides})


def test_a_succeeded_charge_is_a_payment_of_the_invoice_its_intent_pays() -> None:
    mapped = canonical_payment(
        charge(),
        "emea",
        balance_transaction=balance_transaction(),
        invoice_payments=[invoice_payment()],
    )

    assert mapped is not None
    assert mapped.source_id == "ch_1"
    assert mapped.invoice_id == "in_1"
    assert (mapped.amount, mapped.fee, mapped.currency) == (47_362, 1_404, "EUR")
    assert mapped.balance_transaction_id == "txn_1"
    assert mapped.settled is True
    assert mapped.business_date == date(2026, 10, 16)
    assert mapped.billing_customer_id == "cus_1"


def test_a_payment_whose_funds_are_pending_is_not_settled() -> None:
    mapped = canonical_payment(
        charge(),
        "emea",
        balance_transaction=balance_transaction(status="pending"),
        invoice_payments=[invoice_payment()],
    )

    assert mapped is not None
    assert mapped.settled is False


def test_the_balance_transaction_expanded_in_a_charge_list_is_kept() -> None:
    listed = charge(balance_transaction=balance_transaction().model_dump(mode="json"))

    assert listed.balance_transaction == "txn_1"
    assert listed.expanded_balance_transaction == balance_transaction()


def test_a_charge_for_no_invoice_is_a_payment_applied_to_nothing() -> None:
    mapped = canonical_payment(charge(), "emea", balance_transaction=balance_transaction())

    assert mapped is not None
    assert mapped.invoice_id is None


@pytest.mark.parametrize(
    "overrides",
    [{"status": "failed"}, {"status": "pending"}, {"captured": False, "balance_transaction": None}],
)
def test_a_charge_that_took_no_money_is_no_payment(overrides: dict[str, Any]) -> None:
    assert canonical_payment(charge(**overrides), "emea", balance_transaction=None) is None


@pytest.mark.parametrize(
    ("txn", "links", "problem"),
    [
        (None, [invoice_payment()], "missing balance transaction"),
        (balance_transaction(id="txn_2"), [], "is not the charge's"),
        (balance_transaction(currency="usd"), [], "settled in USD but charged in EUR"),
        (balance_transaction(), [invoice_payment(status="open")], "inpay_1 is open"),
        (
            balance_transaction(),
            [invoice_payment(), invoice_payment("inpay_2", invoice="in_2")],
            "pays several invoices (in_1, in_2)",
        ),
        (balance_transaction(), [invoice_payment(amount_paid=40_000)], "amount paid on in_1"),
        (
            balance_transaction(),
            [invoice_payment(payment={"payment_intent": "pi_9", "type": "payment_intent"})],
            "belongs to another payment intent",
        ),
    ],
)
def test_a_payment_that_does_not_add_up_is_an_error_naming_the_charge(
    txn: StripeBalanceTransaction | None, links: list[StripeInvoicePayment], problem: str
) -> None:
    with pytest.raises(BillingRecordError) as caught:
        canonical_payment(charge(), "emea", balance_transaction=txn, invoice_payments=links)

    assert caught.value.object_id == "ch_1"
    assert problem in caught.value.problem


# -- credit notes ------------------------------------------------------------------------------
NOTE_CREATED = int(datetime(2026, 10, 19, 8, tzinfo=UTC).timestamp())


def refund(**overrides: Any) -> StripeRefund:
    doc = {
        "id": "re_1",
        "object": "refund",
        "amount": 11_841,
        "balance_transaction": "txn_2",
        "charge": "ch_1",
        "created": NOTE_CREATED,
        "currency": "eur",
        "payment_intent": "pi_1",
        "reason": "requested_by_customer",
        "status": "succeeded",
    }
    return StripeRefund.model_validate({**doc, **overrides})


def credit_note(**overrides: Any) -> StripeCreditNote:
    line = {
        "id": "cnli_1",
        "object": "credit_note_line_item",
        "amount": 9_950,
        "description": "Credit",
        "invoice_line_item": None,
        "quantity": 1,
        "taxes": [tax(1_891)],
        "type": "custom_line_item",
        "unit_amount": 9_950,
    }
    doc = {
        "id": "cn_1",
        "object": "credit_note",
        "amount": 11_841,
        "created": NOTE_CREATED,
        "currency": "eur",
        "customer": "cus_1",
        "invoice": "in_1",
        "lines": {"object": "list", "data": [line], "has_more": False, "url": "/v1/x"},
        "number": "ACME-0001-CN-01",
        "reason": "order_change",
        "refunds": [
            {
                "amount_refunded": 11_841,
                "payment_record_refund": None,
                "refund": "re_1",
                "type": "refund",
            }
        ],
        "status": "issued",
        "subtotal": 9_950,
        "total": 11_841,
        "type": "post_payment",
    }
    return StripeCreditNote.model_validate({**doc, **overrides})


def test_a_credit_note_reverses_its_invoice_with_the_refunds_that_paid_it_out() -> None:
    mapped = canonical_credit_note(credit_note(), "emea", {"re_1": refund()})

    assert mapped.source_id == "cn_1"
    assert mapped.invoice_id == "in_1"
    assert mapped.number == "ACME-0001-CN-01"
    assert mapped.status == "issued"
    assert mapped.reason == "order_change"
    assert (mapped.subtotal, mapped.total) == (9_950, 11_841)
    assert mapped.lines == (
        DocumentLine(
            line_id="cnli_1",
            description="Credit",
            quantity=1,
            unit_amount=9_950,
            amount=9_950,
            tax_amount=1_891,
            tax_rate_id="txr_DE19",
        ),
    )
    assert mapped.refund_ids == ("re_1",)
    assert mapped.refunded_amount == 11_841
    assert mapped.business_date == date(2026, 10, 19)
    assert mapped.currency == "EUR"


def test_a_refund_expanded_in_the_credit_note_is_recognised_by_its_id() -> None:
    entry = {
        "amount_refunded": 11_841,
        "refund": refund().model_dump(mode="json"),
        "type": "refund",
    }

    mapped = canonical_credit_note(credit_note(refunds=[entry]), "emea", {"re_1": refund()})

    assert mapped.refund_ids == ("re_1",)


@pytest.mark.parametrize(
    ("note", "refunds", "problem"),
    [
        (credit_note(), {}, "refund re_1 could not be read"),
        (credit_note(), {"re_1": refund(status="failed")}, "re_1 is failed"),
        (credit_note(), {"re_1": refund(amount=100)}, "which refunded only 100"),
        (credit_note(invoice=None), {"re_1": refund()}, "missing invoice it credits"),
        (credit_note(total=12_000, amount=12_000), {"re_1": refund()}, "total 12000"),
    ],
)
def test_a_credit_note_whose_refunds_or_totals_are_wrong_is_an_error(
    note: StripeCreditNote, refunds: dict[str, StripeRefund], problem: str
) -> None:
    with pytest.raises(BillingRecordError) as caught:
        canonical_credit_note(note, "emea", refunds)

    assert caught.value.object_id == "cn_1"
    assert problem in caught.value.problem
