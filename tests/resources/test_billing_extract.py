"""Billing documents read day by day from the billing sandbox become canonical transactions.

The sandbox is seeded from the shared world (60 customers, history ending at ``ANCHOR``); the
world is the oracle for invoices and credit notes, the sandbox's unwindowed lists for payments.
Every day of the history is extracted, so the tests also show that the day windows partition
the documents: each one lands in exactly one day, the day its business date names.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from resources.billing import BillingResource
from sandboxes.kit.server import SandboxConfig, running_sandbox
from sandboxes.kit.world import Company, Invoice, World, build_world
from sync_platform.transactions.billing_extract import (
    ExtractResult,
    Record,
    RegionOf,
    extract_credit_notes,
    extract_invoices,
    extract_payments,
)
from sync_platform.transactions.model import (
    CanonicalCreditNote,
    CanonicalInvoice,
    CanonicalPayment,
)

CUSTOMERS = 60
ANCHOR = date(2026, 11, 1)
END = datetime(ANCHOR.year, ANCHOR.month, ANCHOR.day, tzinfo=UTC)
FINALIZED_AFTER = timedelta(hours=1)  # the seed finalizes an invoice an hour after creating it
AVAILABLE_AFTER = timedelta(days=2)  # and makes a charge's funds available two days after it
FIRST_DAY = ANCHOR - timedelta(days=120)  # before the earliest (back-dated) seeded invoice


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(42, CUSTOMERS, ANCHOR)


@pytest.fixture(scope="module")
def billing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BillingResource]:
    config = SandboxConfig(
        kind="billing",
        state_dir=tmp_path_factory.mktemp("billing"),
        customers=CUSTOMERS,
        anchor=ANCHOR,
    )
    # The sandbox renders a balance transaction available once its ``available_on`` has
    # passed on the sandbox's clock; with the clock at the end of the seeded history, funds
    # are available or pending as seeded ("more than two days old are available").
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sandboxes.billing.service.now", lambda: int(END.timestamp()))
        with running_sandbox(config) as sandbox:
            resource = BillingResource(base_url=sandbox.base_url, api_key=sandbox.api_key)
            yield resource
            resource.close()


@pytest.fixture(scope="module")
def held_out(world: World) -> Company:
    """A customer the platform does not know: its documents must come back unassigned."""
    return next(c for c in world.companies if c.in_billing and _paid(c))


@pytest.fixture(scope="module")
def region_of(world: World, held_out: Company) -> dict[str, str]:
    return {
        c.billing_customer_id: c.region
        for c in world.companies
        if c.in_billing and c is not held_out
    }


def _paid(company: Company) -> list[Invoice]:
    return [i for i in company.invoices if i.status == "paid"]


def _days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def _window(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def _issued(invoice: Invoice) -> date:
    return (invoice.created + FINALIZED_AFTER).date()


def _clean(result: ExtractResult[Any], day: date) -> None:
    assert not result.rejected, f"{day}: rejected {result.rejected}"
    assert {r.business_date for r in result.records} <= {day}


Extract = Callable[[BillingResource, datetime, datetime, RegionOf], ExtractResult[Record]]


def _every_day(
    extract: Extract[Record], billing: BillingResource, region_of: dict[str, str]
) -> dict[date, ExtractResult[Record]]:
    """The seeded history extracted one UTC day at a time."""
    return {
        day: extract(billing, *_window(day), region_of.get)
        for day in _days(FIRST_DAY, ANCHOR - timedelta(days=1))
    }


@pytest.fixture(scope="module")
def invoices_by_day(
    billing: BillingResource, region_of: dict[str, str]
) -> dict[date, ExtractResult[CanonicalInvoice]]:
    return _every_day(extract_invoices, billing, region_of)


@pytest.fixture(scope="module")
def payments_by_day(
    billing: BillingResource, region_of: dict[str, str]
) -> dict[date, ExtractResult[CanonicalPayment]]:
    return _every_day(extract_payments, billing, region_of)


@pytest.fixture(scope="module")
def credit_notes_by_day(
    billing: BillingResource, region_of: dict[str, str]
) -> dict[date, ExtractResult[CanonicalCreditNote]]:
    return _every_day(extract_credit_notes, billing, region_of)


# -- invoices ----------------------------------------------------------------------------------
def test_each_day_yields_the_invoices_finalized_that_day_with_their_totals_per_currency(
    world: World,
    held_out: Company,
    invoices_by_day: dict[date, ExtractResult[CanonicalInvoice]],
) -> None:
    expected: dict[date, Counter[str]] = defaultdict(Counter)
    expected_count: Counter[date] = Counter()
    for company in world.companies:
        for invoice in company.invoices:
            if invoice.status != "draft" and company is not held_out:
                expected[_issued(invoice)][invoice.currency] += invoice.total
                expected_count[_issued(invoice)] += 1

    for day, result in invoices_by_day.items():
        _clean(result, day)
        totals: Counter[str] = Counter()
        for record in result.records:
            totals[record.currency] += record.total
            assert record.subtotal + record.tax == record.total
            assert sum(line.amount for line in record.lines) == record.subtotal
        assert len(result.records) == expected_count[day], day
        assert totals == expected[day], day


def test_every_finalized_invoice_lands_in_exactly_one_day_even_when_finalized_after_midnight(
    world: World,
    held_out: Company,
    invoices_by_day: dict[date, ExtractResult[CanonicalInvoice]],
) -> None:
    finalized = [
        i for c in world.companies if c is not held_out for i in c.invoices if i.status != "draft"
    ]
    late = [i for i in finalized if _issued(i) != i.created.date()]
    ids = [r.source_id for result in invoices_by_day.values() for r in result.records]

    assert late, "the world has no invoice created before midnight and finalized after it"
    assert len(ids) == len(set(ids)) == len(finalized)


def test_a_draft_is_skipped_until_finalized_then_belongs_to_the_day_of_finalization(
    billing: BillingResource, world: World, region_of: dict[str, str]
) -> None:
    """The invoice is made now (the sandbox dates API-made objects by the real clock), with
    more lines than an invoice carries in a list, so the rest are read page by page."""
    company = next(c for c in world.companies if c.billing_customer_id in region_of)
    draft = _post(billing, "/v1/invoices", customer=company.billing_customer_id)
    for n in range(1, 12):
        _post(
            billing,
            "/v1/invoiceitems",
            customer=company.billing_customer_id,
            invoice=draft["id"],
            amount=500,
            currency=draft["currency"],
            description=f"Onboarding session {n}",
        )
    created = datetime.fromtimestamp(draft["created"], tz=UTC).date()

    while_draft = extract_invoices(billing, *_window(created), region_of.get)
    finalized = _post(billing, f"/v1/invoices/{draft['id']}/finalize")
    issued = datetime.fromtimestamp(finalized["status_transitions"]["finalized_at"], tz=UTC)
    once_final = extract_invoices(billing, *_window(issued.date()), region_of.get)

    assert [s.source_id for s in while_draft.skipped] == [draft["id"]]
    assert draft["id"] not in {r.source_id for r in while_draft.records}
    [record] = [r for r in once_final.records if r.source_id == draft["id"]]
    assert (record.status, record.total, record.region) == ("open", 5_500, company.region)
    assert (record.occurred_at, record.number) == (issued, finalized["number"])
    assert sorted((line.description, line.amount, line.tax_rate_id) for line in record.lines) == (
        sorted((f"Onboarding session {n}", 500, None) for n in range(1, 12))
    )


def test_an_invoice_payment_is_found_by_its_payment_intent(billing: BillingResource) -> None:
    """The look-up a payment falls back to when its invoice payment is older than the window."""
    charge = next(iter(billing.list_charges()))

    [link] = billing.list_invoice_payments(payment_intent=charge.payment_intent)

    assert link.status == "paid"
    assert (link.payment or {})["payment_intent"] == charge.payment_intent
    assert [p.id for p in billing.list_invoice_payments(link.invoice)] == [link.id]


def _post(billing: BillingResource, path: str, **form: object) -> dict[str, Any]:
    response = httpx.post(
        billing.base_url + path,
        data={k: str(v) for k, v in form.items()},
        headers={"Authorization": f"Bearer {billing.api_key}"},
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def test_a_chf_invoice_comes_through_in_chf(
    world: World, invoices_by_day: dict[date, ExtractResult[CanonicalInvoice]]
) -> None:
    chf = [i for c in world.companies for i in c.invoices if i.currency == "CHF"]
    assert chf, "the world has no CHF invoice"

    for invoice in chf:
        records = [r for r in invoices_by_day[_issued(invoice)].records if r.currency == "CHF"]
        assert [r.total for r in records] == [invoice.total]
        assert records[0].region == "emea"
        assert records[0].lines[0].tax_rate_id == invoice.tax_rate.billing_id


def test_an_unknown_customers_documents_are_unassigned_not_dropped(
    held_out: Company,
    invoices_by_day: dict[date, ExtractResult[CanonicalInvoice]],
    payments_by_day: dict[date, ExtractResult[CanonicalPayment]],
) -> None:
    customer = held_out.billing_customer_id
    invoices = [u for r in invoices_by_day.values() for u in r.unassigned]
    payments = [u for r in payments_by_day.values() for u in r.unassigned]

    assert len(invoices) == sum(1 for i in held_out.invoices if i.status != "draft")
    assert len(payments) == len(_paid(held_out))
    assert {u.billing_customer_id for u in invoices + payments} == {customer}
    assert all(customer in u.reason for u in invoices + payments)
    assert sorted(u.business_date for u in invoices) == sorted(
        _issued(i) for i in held_out.invoices if i.status != "draft"
    )


# -- payments ----------------------------------------------------------------------------------
def test_each_day_yields_the_charges_made_that_day_as_payments_of_paid_invoices(
    billing: BillingResource,
    held_out: Company,
    payments_by_day: dict[date, ExtractResult[CanonicalPayment]],
) -> None:
    paid = {
        i.id: i
        for i in billing.list_invoices(status="paid")
        if i.customer != held_out.billing_customer_id
    }
    charges = [c for c in billing.list_charges() if c.customer != held_out.billing_customer_id]
    expected = Counter(c.created.date() for c in charges)

    for day, result in payments_by_day.items():
        _clean(result, day)
        assert len(result.records) == expected[day], day
    payments = [p for result in payments_by_day.values() for p in result.records]
    assert sorted(p.invoice_id or "" for p in payments) == sorted(paid)
    for payment in payments:
        invoice = paid[payment.invoice_id or ""]
        assert (payment.amount, payment.currency) == (invoice.total, invoice.currency)
        assert payment.billing_customer_id == invoice.customer
        assert 0 < payment.fee < payment.amount


def test_payments_are_settled_once_their_funds_are_available_as_seeded(
    payments_by_day: dict[date, ExtractResult[CanonicalPayment]],
) -> None:
    payments = [p for result in payments_by_day.values() for p in result.records]
    settled = {p.source_id for p in payments if p.settled}
    old_enough = {p.source_id for p in payments if p.occurred_at + AVAILABLE_AFTER <= END}

    assert settled == old_enough
    assert 0 < len(settled) < len(payments), "need both settled and pending payments"


# -- credit notes ------------------------------------------------------------------------------
def test_credit_notes_reference_their_invoice_and_the_refunds_that_paid_them(
    billing: BillingResource,
    world: World,
    credit_notes_by_day: dict[date, ExtractResult[CanonicalCreditNote]],
) -> None:
    invoices = {i.id: i for i in billing.list_invoices()}
    refunds = {r.id: r for r in billing.list_refunds()}
    notes = [n for result in credit_notes_by_day.values() for n in result.records]
    held_out_notes = [u for r in credit_notes_by_day.values() for u in r.unassigned]

    assert len(notes) + len(held_out_notes) == sum(
        1 for c in world.companies for i in c.invoices if i.refunded
    )
    assert notes
    for day, result in credit_notes_by_day.items():
        _clean(result, day)
        assert not result.skipped, f"{day}: refunds without a credit note {result.skipped}"
    for note in notes:
        invoice = invoices[note.invoice_id]
        assert invoice.status == "paid"
        assert note.billing_customer_id == invoice.customer
        assert note.currency == invoice.currency
        assert note.total == (invoice.total * 25 + 50) // 100  # the seed refunds a quarter
        assert note.refunded_amount == note.total
        assert [refunds[r].charge is not None for r in note.refund_ids] == [True]
        assert sum(refunds[r].amount for r in note.refund_ids) == note.refunded_amount
