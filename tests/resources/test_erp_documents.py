"""The ERP system API for sales documents and cash receipts, against a running ERP sandbox.

Amounts go in and come out as integer minor units; the resource speaks the wire's decimals.
Every document is searched for by its external document number (the billing id) before it is
created, so these tests also specify that each one can be found, one at a time or many at once,
before and after posting.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from resources.erp import (
    MAX_URL_LENGTH,
    ErpResource,
    SalesLineFields,
    from_wire_amount,
    payment_document_number,
    to_wire_amount,
)
from resources.errors import BusinessRuleViolation, PermanentError
from sandboxes.kit.server import SandboxConfig, running_sandbox
from sandboxes.kit.world import World, build_world

ANCHOR = datetime.now(UTC).date()  # posting dates default to today: the world ends today
CUSTOMERS = 60
REGION = "na"


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(42, CUSTOMERS, ANCHOR)


@pytest.fixture(scope="module")
def erp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ErpResource]:
    state: Path = tmp_path_factory.mktemp("erp")
    config = SandboxConfig(kind="erp", state_dir=state, customers=CUSTOMERS, anchor=ANCHOR)
    with running_sandbox(config) as sandbox:
        resource = ErpResource(base_url=sandbox.base_url, access_token=sandbox.api_key)
        yield resource
        resource.close()


@pytest.fixture(scope="module")
def company_id(erp: ErpResource) -> str:
    return erp.company_for_region(REGION).id


@pytest.fixture(scope="module")
def customers(world: World) -> Iterator[str]:
    """A fresh ERP customer number for each test that wants one."""
    return iter([c.erp_customer_number for c in world.by_region[REGION] if c.in_erp])


def team_line(**changes: object) -> dict[str, object]:
    """One Team plan (item TEAM) at 100.00, taxed at California's 7.25 %."""
    line: dict[str, object] = {"lineObjectNumber": "TEAM", "quantity": 1, "unitPrice": 100_00}
    return {**line, "taxCode": "US-CA", **changes}


def posted_invoice(erp: ErpResource, company_id: str, customer: str, external: str) -> str:
    invoice = erp.create_sales_invoice(
        company_id, {"externalDocumentNumber": external, "customerNumber": customer}, [team_line()]
    )
    erp.post_sales_invoice(company_id, invoice.id)
    return invoice.id


# -- money ------------------------------------------------------------------------------------
def test_amounts_are_minor_units_here_and_exact_decimals_on_the_wire() -> None:
    assert to_wire_amount(21_450) == Decimal("214.50")
    assert to_wire_amount(-7) == Decimal("-0.07")
    assert from_wire_amount(214.5) == 21_450
    assert from_wire_amount(0.07) == 7  # a float the wire sent, read without binary drift
    assert from_wire_amount(100) == 100_00  # a whole number on the wire is major units
    assert from_wire_amount("19.99") == 19_99
    with pytest.raises(ValueError, match="minor units"):
        from_wire_amount(0.001)
    with pytest.raises(ValidationError):
        SalesLineFields(lineObjectNumber="TEAM", quantity=1, unitPrice=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        SalesLineFields(lineObjectNumber="TEAM", quantity=0.5)  # type: ignore[arg-type]


# -- sales invoices ---------------------------------------------------------------------------
def test_an_invoice_is_created_with_its_lines_in_one_request_and_posted_once(
    erp: ErpResource, company_id: str, customers: Iterator[str]
) -> None:
    requests = erp.api.stats.requests
    invoice = erp.create_sales_invoice(
        company_id,
        {"externalDocumentNumber": "in_1Created0000000000000a", "customerNumber": next(customers)},
        [
            team_line(quantity=2),
            {
                "lineType": "Account",
                "lineObjectNumber": "40110",
                "unitPrice": 50_00,
                "quantity": Decimal("1.5"),
                "taxCode": "US-CA",
            },
            {"lineType": "Comment", "description": "Thank you"},
        ],
    )

    assert erp.api.stats.requests == requests + 1, "header and lines are one deep insert"
    assert (
        invoice.status == "Draft" and invoice.externalDocumentNumber == "in_1Created0000000000000a"
    )
    assert invoice.salesInvoiceLines is not None
    assert [line.amountExcludingTax for line in invoice.salesInvoiceLines] == [200_00, 75_00, 0]
    assert invoice.totalAmountExcludingTax == 275_00
    assert invoice.totalTaxAmount == 14_50 + 5_44  # 7.25 % per line, rounded half up
    assert invoice.totalAmountIncludingTax == 294_94

    erp.post_sales_invoice(company_id, invoice.id)

    posted = erp.get_sales_invoice(company_id, invoice.id, with_lines=True)
    assert posted.status == "Open" and posted.number == invoice.number
    assert posted.remainingAmount == posted.totalAmountIncludingTax == 294_94
    assert posted.salesInvoiceLines is not None and len(posted.salesInvoiceLines) == 3
    with pytest.raises(BusinessRuleViolation, match="already posted"):
        erp.post_sales_invoice(company_id, invoice.id)


def test_invoices_are_found_by_external_number_one_or_many_at_a_time(
    erp: ErpResource, company_id: str, customers: Iterator[str]
) -> None:
    customer = next(customers)
    made = {
        f"in_1Found{i:016d}": erp.create_sales_invoice(
            company_id,
            {"externalDocumentNumber": f"in_1Found{i:016d}", "customerNumber": customer},
            [team_line()],
        ).id
        for i in range(3)
    }
    wanted = [*made, *(f"in_1Missing{i:014d}" for i in range(80)), *made]
    urls: list[str] = []
    erp.api._http.event_hooks["request"].append(lambda request: urls.append(str(request.url)))
    try:
        found = erp.find_sales_invoices(company_id, wanted)
    finally:
        erp.api._http.event_hooks["request"].pop()

    assert {number: invoice.id for number, invoice in found.items()} == made
    assert 1 < len(urls) < 10, "a few requests, not one per number"
    assert max(len(url) for url in urls) < MAX_URL_LENGTH
    one = erp.find_sales_invoice(company_id, "in_1Found0000000000000001")
    assert one is not None and one.id == made["in_1Found0000000000000001"]
    assert erp.find_sales_invoice(company_id, "in_1Missing00000000000000") is None
    assert erp.find_sales_invoices(company_id, []) == {}


def test_a_draft_is_deleted_but_a_posted_invoice_is_not(
    erp: ErpResource, company_id: str, customers: Iterator[str]
) -> None:
    customer = next(customers)
    draft = erp.create_sales_invoice(
        company_id,
        {"externalDocumentNumber": "in_1Draft", "customerNumber": customer},
        [team_line()],
    )

    erp.delete_sales_invoice(company_id, draft)

    assert erp.find_sales_invoice(company_id, "in_1Draft") is None
    posted_id = posted_invoice(erp, company_id, customer, "in_1Kept")
    posted = erp.get_sales_invoice(company_id, posted_id)
    with pytest.raises(BusinessRuleViolation, match="cannot delete"):
        erp.delete_sales_invoice(company_id, posted)


def test_posting_in_a_closed_period_raises_the_erps_own_message(
    erp: ErpResource, company_id: str, customers: Iterator[str]
) -> None:
    day = ANCHOR - timedelta(days=120)
    assert any(p.closed for p in erp.list_accounting_periods(company_id))
    invoice = erp.create_sales_invoice(
        company_id,
        {
            "externalDocumentNumber": "in_1Closed",
            "customerNumber": next(customers),
            "invoiceDate": day,
        },
        [team_line()],
    )

    with pytest.raises(BusinessRuleViolation) as refused:
        erp.post_sales_invoice(company_id, invoice.id)

    error = refused.value
    assert error.status == 400 and error.code == "Application_DialogException"
    assert "closed accounting period" in error.message and day.isoformat() in error.message
    assert erp.get_sales_invoice(company_id, invoice.id).status == "Draft"


# -- sales credit memos -----------------------------------------------------------------------
def test_a_credit_memo_reverses_part_of_its_invoice(
    erp: ErpResource, company_id: str, customers: Iterator[str]
) -> None:
    customer = next(customers)
    invoice_id = posted_invoice(erp, company_id, customer, "in_1Reversed")
    memo = erp.create_sales_credit_memo(
        company_id,
        {
            "externalDocumentNumber": "cn_1Reverses",
            "customerNumber": customer,
            "invoiceId": invoice_id,
        },
        [team_line(unitPrice=40_00)],
    )
    assert memo.status == "Draft" and memo.invoiceId == invoice_id
    assert memo.salesCreditMemoLines is not None and len(memo.salesCreditMemoLines) == 1

    erp.post_sales_credit_memo(company_id, memo.id)

    found = erp.find_sales_credit_memo(company_id, "cn_1Reverses")
    assert found is not None and found.status == "Paid" and found.totalAmountIncludingTax == 42_90
    assert erp.get_sales_invoice(company_id, invoice_id).remainingAmount == 107_25 - 42_90
    assert set(erp.find_sales_credit_memos(company_id, ["cn_1Reverses", "cn_none"])) == {
        "cn_1Reverses"
    }
    with pytest.raises(BusinessRuleViolation, match="already posted"):
        erp.post_sales_credit_memo(company_id, memo.id)
    draft = erp.create_sales_credit_memo(
        company_id,
        {"externalDocumentNumber": "cn_1Dropped", "customerNumber": customer},
        [team_line()],
    )
    erp.delete_sales_credit_memo(company_id, draft)
    assert erp.find_sales_credit_memo(company_id, "cn_1Dropped") is None


def test_credit_memos_are_found_by_the_invoice_they_name(
    erp: ErpResource, company_id: str, customers: Iterator[str]
) -> None:
    customer = next(customers)
    invoice_id = posted_invoice(erp, company_id, customer, "in_1Named")
    number = erp.get_sales_invoice(company_id, invoice_id).number
    assert number
    naming = erp.create_sales_credit_memo(
        company_id,
        {
            "externalDocumentNumber": "cn_1Names",
            "customerNumber": customer,
            "invoiceId": invoice_id,
        },
        [team_line(unitPrice=10_00)],
    )
    erp.create_sales_credit_memo(  # applied to no invoice: its invoice number is blank
        company_id,
        {"externalDocumentNumber": "cn_1Loose", "customerNumber": customer},
        [team_line(unitPrice=10_00)],
    )

    found = erp.credit_memos_naming(company_id, {invoice_id: number, "no-number-yet": ""})

    assert {k: [m.id for m in v] for k, v in found.items()} == {invoice_id: [naming.id]}
    assert erp.credit_memos_naming(company_id, {}) == {}


# -- customer payments ------------------------------------------------------------------------
def test_a_payment_is_found_as_a_journal_line_and_again_once_posted(
    erp: ErpResource, company_id: str, customers: Iterator[str]
) -> None:
    customer = next(customers)
    invoice_id = posted_invoice(erp, company_id, customer, "in_1PaidBy")
    journal = erp.payment_journal(company_id)
    external = "pi_3QPaymentFoundTwice00000"
    line = erp.create_customer_payment(
        company_id,
        journal.id,
        {
            "externalDocumentNumber": external,
            "customerNumber": customer,
            "postingDate": ANCHOR,
            "amount": 50_00,
            "appliesToInvoiceId": invoice_id,
        },
    )
    assert line.amount == 50_00 and line.documentNumber == payment_document_number(external)
    assert line.appliesToInvoiceId == invoice_id

    pending = erp.find_customer_payment(company_id, external)
    assert pending is not None and not pending.posted and pending.amount == 50_00
    assert pending.journal_line is not None and pending.journal_line.id == line.id

    erp.post_customer_payment_journal(company_id, journal.id)

    posted = erp.find_customer_payment(company_id, external)
    assert posted is not None and posted.posted and posted.amount == 50_00
    assert posted.posting_date == ANCHOR and posted.journal_line is None
    assert {e.accountNumber: (e.debitAmount, e.creditAmount) for e in posted.ledger_entries} == {
        journal.balancingAccountNumber: (50_00, 0),
        "13100": (0, 50_00),  # receivables
    }
    assert erp.find_customer_payment(company_id, "pi_3QNeverSeen000000000000") is None


def test_many_payments_are_found_whether_posted_or_not(
    erp: ErpResource, company_id: str, customers: Iterator[str]
) -> None:
    customer = next(customers)
    journal = erp.payment_journal(company_id, "general")
    first, second = "py_1ManyPostedAAAAAAAAAAAA", "py_1ManyPendingBBBBBBBBBBB"
    erp.create_customer_payment(
        company_id,
        journal.id,
        {"externalDocumentNumber": first, "customerNumber": customer, "amount": 10_00},
    )
    erp.post_customer_payment_journal(company_id, journal.id)
    erp.create_customer_payment(
        company_id,
        journal.id,
        {"externalDocumentNumber": second, "customerNumber": customer, "amount": 20_00},
    )

    found = erp.find_customer_payments(company_id, [first, second, "py_1ManyMissingCCCCCCCCCC"])

    assert {n: (p.posted, p.amount) for n, p in found.items()} == {
        first: (True, 10_00),
        second: (False, 20_00),
    }
    erp.post_customer_payment_journal(company_id, journal.id)
    with pytest.raises(BusinessRuleViolation, match="nothing to post"):
        erp.post_customer_payment_journal(company_id, journal.id)


def test_partial_payment_then_overpayment_leaves_a_customer_credit(
    erp: ErpResource, company_id: str, customers: Iterator[str]
) -> None:
    number = next(customers)
    customer = erp.find_customer_by_number(company_id, number)
    assert customer is not None and customer.balanceDue is not None
    opening = from_wire_amount(customer.balanceDue)
    invoice_id = posted_invoice(erp, company_id, number, "in_1PaidTwice")  # 107.25
    journal = erp.payment_journal(company_id)

    def pay(external: str, amount: int) -> None:
        erp.create_customer_payment(
            company_id,
            journal.id,
            {
                "externalDocumentNumber": external,
                "customerNumber": number,
                "amount": amount,
                "appliesToInvoiceId": invoice_id,
            },
        )
        erp.post_customer_payment_journal(company_id, journal.id)

    def balance() -> int:
        due = erp.get_customer(company_id, customer.id).balanceDue
        assert due is not None
        return from_wire_amount(due) - opening

    pay("ch_3QPartial0000000000000", 60_00)
    partly = erp.get_sales_invoice(company_id, invoice_id)
    assert (partly.status, partly.remainingAmount, balance()) == ("Open", 47_25, 47_25)

    pay("ch_3QOverpaid000000000000", 50_00)
    paid = erp.get_sales_invoice(company_id, invoice_id)
    assert (paid.status, paid.remainingAmount) == ("Paid", 0)
    assert balance() == -2_75, "the 2.75 paid beyond the invoice stays as customer credit"


def test_a_payment_document_number_is_derived_from_its_external_number(
    erp: ErpResource, company_id: str, customers: Iterator[str]
) -> None:
    assert payment_document_number("pi_3QabcdefghijklmnopqrstuV") == "CDEFGHIJKLMNOPQRSTUV"
    assert payment_document_number("PAY-7") == "PAY-7"
    journal = erp.payment_journal(company_id)
    with pytest.raises(ValueError, match="documentNumber"):
        erp.create_customer_payment(
            company_id,
            journal.id,
            {
                "externalDocumentNumber": "pi_3QOwnNumber000000000000",
                "documentNumber": "MY-OWN",
                "customerNumber": next(customers),
                "amount": 1_00,
            },
        )


# -- reference data ---------------------------------------------------------------------------
def test_reference_data_the_validation_reads(erp: ErpResource, company_id: str) -> None:
    items = {item.number: item for item in erp.list_items(company_id)}
    assert items["TEAM"].unitPrice == 199_00 and items["STARTER"].unitPrice == 49_00
    assert {c.code for c in erp.list_currencies(company_id)} == {"USD", "EUR", "GBP", "AUD"}
    assert {"10100", "13100", "22300"} <= {a.number for a in erp.list_accounts(company_id)}
    assert "US-CA" in {g.code for g in erp.list_tax_groups(company_id)}
    periods = erp.list_accounting_periods(company_id)
    assert any(p.closed for p in periods) and not all(p.closed for p in periods)
    assert {d.code for d in erp.list_dimensions(company_id)} >= {"REGION", "DEPARTMENT"}


def test_a_malformed_request_is_a_permanent_error_not_a_business_refusal(
    erp: ErpResource,
) -> None:
    # Only the ERP's Application_* refusals are business rule violations for finance to fix.
    with pytest.raises(PermanentError) as raised:
        erp.create_sales_invoice(
            erp.company_for_region("emea").id,
            {"externalDocumentNumber": "in_1NoCustomer", "customerNumber": "NOPE"},
            [],
        )
    assert not isinstance(raised.value, BusinessRuleViolation)
    assert raised.value.code == "BadRequest_RecordNotFound"
