"""The transaction checks end to end against the three sandboxes: a posted day passes every
check; then the ERP is changed outside the platform (an invoice amount edited, a cash receipt
and a credit memo deleted, a document entered twice), a settled payment is left unapplied
past its SLA, and a region loses its mapping. Each named check fails with the offending
record in its metadata, drift becomes an exception with its reason and is never rewritten,
and a blocking check keeps the ERP posting asset from running.

Documents are made today through the billing API (today is in an open ERP period), in one
customer's day-and-region partition; the ERP is edited through the ERP sandbox's
sandbox-only ``/_sandbox/out_of_band`` routes, as a person would in the Business Central
client.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import stripe
import yaml
from dagster import AssetCheckSeverity, AssetSelection, materialize
from e2e_platform import Platform, erp_documents, open_exceptions, out_of_band, running_platform
from test_transaction_paths import (
    card_payment,
    company,
    customer_in_erp,
    day_of,
    finalized_invoice,
    funds_settled,
)

import assets.checks.transactions as transaction_checks_module
from assets.checks.transactions import transaction_checks
from assets.partitions import date_region_key
from assets.reconciliation import reconciliation_daily
from assets.transactions import FLOWS, transaction_assets
from resources.erp import payment_document_number
from sync_platform.settings import REPO_CONFIG

pytestmark = pytest.mark.slow
WORLD = 12
ERP_ASSETS = {"erp/invoice_postings", "erp/cash_applications", "erp/credit_memos"}


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with running_platform(tmp_path_factory.mktemp("checks"), WORLD) as platform:
        platform.sync_customers()
        yield platform


@pytest.fixture(scope="module")
def billing(platform: Platform) -> stripe.StripeClient:
    sandbox = platform.sandboxes["billing"]
    return stripe.StripeClient(
        sandbox.api_key, base_addresses={"api": sandbox.base_url}, max_network_retries=0
    )


@dataclass(frozen=True)
class Day:
    """One customer's documents of today in ``na``, posted by the first run."""

    day: date
    customer: str
    edited: Any  # invoice whose ERP amount is edited out of band
    paid: Any  # invoice paid by ``charge``, whose cash receipt is deleted
    charge: str
    credited: Any  # invoice reversed in part by ``note``, whose credit memo is deleted
    note: Any


@dataclass(frozen=True)
class Run:
    success: bool
    checks: dict[str, Any]  # "asset/path:check" → evaluation
    materialized: set[str]

    def check(self, asset: str, name: str) -> Any:
        return self.checks[f"{asset}:{name}"]

    def offenders(self, asset: str, name: str) -> dict[str, dict[str, Any]]:
        rows = self.check(asset, name).metadata["offender_rows"].value
        return {row["record"]: row for row in rows}


def run(
    platform: Platform,
    day: date,
    region: str,
    selection: AssetSelection | None = None,
) -> Run:
    """The transaction assets and their checks (or ``selection``) of one day and region.

    Dagster 1.13 cannot run partitioned checks without an asset in one ``materialize``, so a
    ``selection`` of checks takes the billing invoices asset along (it only reads billing).
    """
    if selection is not None:
        selection = AssetSelection.assets(FLOWS[0].billing) | selection
    result = materialize(
        [*transaction_assets, *transaction_checks],
        partition_key=date_region_key(str(day), region),
        resources=platform.resources,
        instance=platform.instance,
        raise_on_error=False,
        selection=selection,
    )
    checks = {
        f"{'/'.join(e.asset_key.path)}:{e.check_name}": e
        for e in result.get_asset_check_evaluations()
    }
    materialized = {
        "/".join(e.materialization.asset_key.path)
        for e in result.get_asset_materialization_events()
    }
    return Run(result.success, checks, materialized)


def erp_invoice(platform: Platform, invoice_id: str) -> Any:
    [found] = [
        d
        for d in erp_documents(platform, "invoices", "na")
        if d.externalDocumentNumber == invoice_id
    ]
    return found


@pytest.fixture(scope="module")
def posted(platform: Platform, billing: stripe.StripeClient) -> Day:
    customer = customer_in_erp(platform, "na")
    edited = finalized_invoice(billing, customer, "usd", "txr_USCA")
    paid = finalized_invoice(billing, customer, "usd", "txr_USCA")
    before = {c.id for c in platform.billing.list_charges(customer=customer)}
    billing.v1.invoices.pay(paid.id)
    [charge] = [
        c.id for c in platform.billing.list_charges(customer=customer) if c.id not in before
    ]
    credited = finalized_invoice(billing, customer, "usd", "txr_USCA")
    note = billing.v1.credit_notes.create(params={"invoice": credited.id, "amount": 1_000})
    return Day(day_of(edited), customer, edited, paid, charge, credited, note)


def test_a_posted_day_passes_every_check(platform: Platform, posted: Day) -> None:
    with funds_settled():  # the card money settles, so the payment posts
        first = run(platform, posted.day, "na")

    assert first.success
    assert {
        "erp/invoice_postings",
        "erp/cash_applications",
        "erp/credit_memos",
    } <= first.materialized
    failed = {key: e.metadata for key, e in first.checks.items() if not e.passed}
    assert failed == {}
    assert len(first.checks) == len(transaction_checks)
    invoices = first.check("erp/invoice_postings", "every_finalized_invoice_posted_once")
    total = posted.edited.total + posted.paid.total + posted.credited.total
    assert invoices.metadata["billing_amount_by_currency"].value == {"USD": total}
    assert invoices.metadata["erp_amount_by_currency"].value == {"USD": total}
    assert invoices.metadata["erp_count_by_currency"].value == {"USD": 3}
    balances = first.check("erp/cash_applications", "ar_balance_per_customer_matches")
    assert balances.metadata["invoices_compared"].value == 3


def test_out_of_band_drift_fails_the_named_checks_and_opens_exceptions(
    platform: Platform, posted: Day
) -> None:
    na = company(platform, "na")
    edited_total = posted.edited.total + 100
    out_of_band(
        platform,
        "invoice_amount",
        company=na,
        externalDocumentNumber=posted.edited.id,
        totalAmountIncludingTax=edited_total,
    )
    out_of_band(
        platform,
        "delete_payment",
        company=na,
        documentNumber=payment_document_number(posted.charge),
    )
    out_of_band(platform, "delete_credit_memo", company=na, externalDocumentNumber=posted.note.id)

    with funds_settled():
        after = run(platform, posted.day, "na")

    assert after.success  # failures of non-blocking checks do not stop the run
    invoices = after.offenders("erp/invoice_postings", "every_finalized_invoice_posted_once")
    assert set(invoices) == {posted.edited.id}
    invoice_check = after.check("erp/invoice_postings", "every_finalized_invoice_posted_once")
    assert invoice_check.metadata["offending"].value == 1
    assert invoice_check.severity == AssetCheckSeverity.ERROR
    assert invoices[posted.edited.id]["billing_amount"] == posted.edited.total
    assert invoices[posted.edited.id]["erp_amount"] == edited_total
    assert invoices[posted.edited.id]["problem"] == "amount differs from billing"
    payments = after.offenders("erp/cash_applications", "every_settled_payment_applied")
    assert set(payments) == {posted.charge}
    assert "removed from the ERP" in payments[posted.charge]["problem"]
    notes = after.offenders("erp/credit_memos", "every_credit_note_reverses_its_invoice_once")
    assert set(notes) == {posted.note.id}
    balances = after.offenders("erp/cash_applications", "ar_balance_per_customer_matches")
    assert set(balances) == {posted.customer}
    assert set(balances[posted.customer]["erp_document"].split(", ")) == {
        posted.edited.id,
        posted.paid.id,
        posted.credited.id,
    }
    assert (
        "| " + posted.edited.id
        in after.check("erp/invoice_postings", "every_finalized_invoice_posted_once")
        .metadata["offenders_table"]
        .value
    )

    exceptions = open_exceptions(platform)
    assert exceptions[posted.edited.id] == "erp_edited_out_of_band"
    assert exceptions[posted.charge] == "erp_deleted_out_of_band"
    assert exceptions[posted.note.id] == "erp_deleted_out_of_band"
    # Never rewritten nor re-posted: the edit stands and nothing was created again.
    invoice = next(
        d
        for d in erp_documents(platform, "invoices", "na")
        if d.externalDocumentNumber == posted.edited.id
    )
    assert invoice.totalAmountIncludingTax == edited_total
    assert platform.erp.find_customer_payments(na, [posted.charge]) == {}
    assert platform.erp.find_sales_credit_memos(na, [posted.note.id]) == {}


def test_a_document_entered_twice_in_the_erp_fails_no_duplicate_erp_documents(
    platform: Platform, posted: Day
) -> None:
    na = company(platform, "na")
    original = next(
        d
        for d in erp_documents(platform, "invoices", "na")
        if d.externalDocumentNumber == posted.paid.id
    )
    copy = platform.erp.create_sales_invoice(
        na,
        {
            "customerNumber": original.customerNumber,
            "externalDocumentNumber": posted.paid.id,
            "invoiceDate": posted.day.isoformat(),
            "postingDate": posted.day.isoformat(),
        },
        [{"lineType": "Item", "lineObjectNumber": "TEAM", "quantity": 1}],
    )
    platform.erp.post_sales_invoice(na, copy.id)

    checked = run(platform, posted.day, "na", AssetSelection.checks(*transaction_checks))

    duplicates = checked.offenders("erp/invoice_postings", "no_duplicate_erp_documents")
    assert set(duplicates) == {posted.paid.id.upper()}
    assert checked.check("erp/credit_memos", "no_duplicate_erp_documents").passed


def test_a_settled_payment_left_unapplied_past_its_sla_fails_the_sla_check(
    platform: Platform, billing: stripe.StripeClient, posted: Day, monkeypatch: pytest.MonkeyPatch
) -> None:
    payment = card_payment(billing, posted.customer, 4_200, "usd")
    charge = str(payment.latest_charge)
    sla_check = AssetSelection.checks(transaction_checks_module.no_payment_unapplied_after_sla)
    sla_file = platform.config_dir / "sla.yaml"

    def offenders() -> dict[str, dict[str, Any]]:
        with funds_settled():  # billing: settled two days after the charge
            checked = run(platform, posted.day, "na", sla_check)
        return checked.offenders("erp/cash_applications", "no_payment_unapplied_after_sla")

    assert charge not in offenders()  # by our clock it settles in two days
    three_days_on = datetime.now(UTC) + timedelta(days=3)
    monkeypatch.setattr(transaction_checks_module, "utc_now", lambda: three_days_on)
    late = offenders()
    assert charge in late and late[charge]["billing_amount"] == 4_200
    assert "(SLA 60 min)" in late[charge]["problem"]
    try:
        sla_file.write_text("payment_applied_within_minutes: 10080\n")  # a week
        assert charge not in offenders()
    finally:
        shutil.copy(REPO_CONFIG / "sla.yaml", sla_file)


def test_a_region_without_its_mapping_is_blocked_before_the_erp_assets(
    platform: Platform, billing: stripe.StripeClient
) -> None:
    invoice = finalized_invoice(billing, customer_in_erp(platform, "emea"), "eur", "txr_DE19")
    posting = platform.config_dir / "posting.yaml"
    config = yaml.safe_load(posting.read_text())
    try:
        without_emea = {
            **config,
            "regions": {k: v for k, v in config["regions"].items() if k != "emea"},
        }
        without_emea["tax_rates"] = {
            k: v for k, v in config["tax_rates"].items() if "emea" not in v
        }
        posting.write_text(yaml.safe_dump(without_emea))
        unmapped = run(platform, day_of(invoice), "emea")

        broken = {**config, "tax_rates": {**config["tax_rates"], "txr_DE19": {"emea": "VAT99"}}}
        posting.write_text(yaml.safe_dump(broken))
        unknown_group = run(platform, day_of(invoice), "emea")
    finally:
        posting.write_text(yaml.safe_dump(config))

    assert not unmapped.success and not unmapped.materialized & ERP_ASSETS
    mappings = unmapped.check("canonical/invoices", "region_mappings_complete")
    assert not mappings.passed
    assert mappings.metadata["missing"].value[0].startswith("regions.emea")
    assert not unknown_group.success and not unknown_group.materialized & ERP_ASSETS
    assert unknown_group.check("canonical/invoices", "region_mappings_complete").passed
    reference = unknown_group.check("canonical/invoices", "posting_reference_data_intact")
    assert not reference.passed
    assert reference.metadata["missing"].value == ["tax group VAT99 (tax rate txr_DE19)"]
    emea_invoices = {d.externalDocumentNumber for d in erp_documents(platform, "invoices", "emea")}
    assert invoice.id not in emea_invoices

    restored = run(platform, day_of(invoice), "emea")
    assert restored.success and "erp/invoice_postings" in restored.materialized


def test_a_check_that_cannot_evaluate_fails_naming_the_error(
    platform: Platform, posted: Day
) -> None:
    """Dagster records nothing for a check that raises, so nothing would alert: each check
    instead fails (ERROR) with the error in ``check_error``."""
    sla_checks = AssetSelection.checks(
        transaction_checks_module.no_invoice_unposted_after_sla,
        transaction_checks_module.no_payment_unapplied_after_sla,
    )
    company_checks = AssetSelection.checks(
        transaction_checks_module.every_finalized_invoice_posted_once,
        transaction_checks_module.ar_balance_per_customer_matches,
    )
    sla_file, posting = platform.config_dir / "sla.yaml", platform.config_dir / "posting.yaml"
    config = yaml.safe_load(posting.read_text())
    try:
        sla_file.write_text("invoice_posted_within_minutes: soon\n")
        bad_sla = run(platform, posted.day, "na", sla_checks)
        shutil.copy(REPO_CONFIG / "sla.yaml", sla_file)
        renamed = {**config["regions"]["na"], "erp_company": "NO SUCH COMPANY"}
        posting.write_text(
            yaml.safe_dump({**config, "regions": {**config["regions"], "na": renamed}})
        )
        no_company = run(platform, posted.day, "na", company_checks)
    finally:
        shutil.copy(REPO_CONFIG / "sla.yaml", sla_file)
        posting.write_text(yaml.safe_dump(config))

    for asset, name in (
        ("erp/invoice_postings", "no_invoice_unposted_after_sla"),
        ("erp/cash_applications", "no_payment_unapplied_after_sla"),
    ):
        failed = bad_sla.check(asset, name)
        assert not failed.passed and failed.severity == AssetCheckSeverity.ERROR
        error = failed.metadata["check_error"].value
        assert error.startswith("ConfigError: ") and "invoice_posted_within_minutes" in error
        assert failed.metadata["offending"].value == 0
    for asset, name in (
        ("erp/invoice_postings", "every_finalized_invoice_posted_once"),
        ("erp/cash_applications", "ar_balance_per_customer_matches"),
    ):
        failed = no_company.check(asset, name)
        assert not failed.passed and failed.severity == AssetCheckSeverity.ERROR
        assert failed.metadata["check_error"].value == (
            "LookupError: the ERP has no company named 'NO SUCH COMPANY' "
            "(posting.yaml regions.na.erp_company)"
        )


def test_an_erp_invoice_under_our_number_in_another_currency_is_flagged_not_adopted(
    platform: Platform, billing: stripe.StripeClient
) -> None:
    """Someone enters billing's invoice in the ERP by hand before the platform posts it, for
    the same amount but in GBP: the platform neither posts it again nor takes it as posted
    as billed; the check names the currency."""
    customer = customer_in_erp(platform, "emea")
    invoice = finalized_invoice(billing, customer, "eur", "txr_DE19")
    emea = company(platform, "emea")
    number = next(
        x.erp_customer_number
        for x in platform.store.xrefs("emea")
        if x.billing_customer_id == customer
    )
    by_hand = platform.erp.create_sales_invoice(
        emea,
        {
            "customerNumber": number,
            "externalDocumentNumber": invoice.id,
            "invoiceDate": day_of(invoice).isoformat(),
            "postingDate": day_of(invoice).isoformat(),
            "currencyCode": "GBP",
        },
        [{"lineType": "Item", "lineObjectNumber": "TEAM", "quantity": 1}],
    )
    platform.erp.post_sales_invoice(emea, by_hand.id)
    out_of_band(
        platform,
        "invoice_amount",
        company=emea,
        externalDocumentNumber=invoice.id,
        totalAmountIncludingTax=invoice.total,
    )

    after = run(platform, day_of(invoice), "emea")

    offenders = after.offenders("erp/invoice_postings", "every_finalized_invoice_posted_once")
    assert offenders[invoice.id]["problem"] == "in GBP in the ERP, billing's is in EUR"
    assert offenders[invoice.id]["erp_amount"] == invoice.total
    [exception] = platform.store.exceptions(txn_ids=[f"billing:invoice:{invoice.id}"])
    assert exception.reason_code == "erp_edited_out_of_band"
    assert f"{invoice.total} GBP" in exception.message
    assert f"{invoice.total} EUR" in exception.message
    ours = [
        d
        for d in erp_documents(platform, "invoices", "emea")
        if d.externalDocumentNumber == invoice.id
    ]
    assert [d.id for d in ours] == [by_hand.id]  # not posted a second time


def test_an_invoice_void_after_posting_is_an_offender_until_finance_reverses_it(
    platform: Platform, billing: stripe.StripeClient
) -> None:
    """Billing voids an invoice the ERP already holds: an exception asks finance to reverse
    it and the check names it; once a credit memo in the ERP reverses it in full, the check
    passes for it and the exception closes, naming the credit memo."""
    customer = customer_in_erp(platform, "na")
    invoice = finalized_invoice(billing, customer, "usd", "txr_USCA")
    day = day_of(invoice)
    assert run(platform, day, "na").success
    na = company(platform, "na")
    erp = erp_invoice(platform, invoice.id)

    billing.v1.invoices.void_invoice(invoice.id)
    voided = run(platform, day, "na")

    offenders = voided.offenders("erp/invoice_postings", "every_finalized_invoice_posted_once")
    assert offenders[invoice.id]["problem"] == "void in billing but posted in the ERP"
    assert open_exceptions(platform)[invoice.id] == "voided_after_posting"

    # Finance reverses it in the ERP: a credit memo of the same lines, naming the invoice.
    lines = platform.erp.get_sales_invoice(na, erp.id, with_lines=True).salesInvoiceLines or []
    memo = platform.erp.create_sales_credit_memo(
        na,
        {
            "customerNumber": erp.customerNumber,
            "externalDocumentNumber": f"CORR-{erp.number}",
            "creditMemoDate": day.isoformat(),
            "postingDate": day.isoformat(),
            "invoiceId": erp.id,
        },
        [
            {
                "lineType": line.lineType,
                "lineObjectNumber": line.lineObjectNumber,
                "quantity": line.quantity,
                "unitPrice": line.unitPrice,
                "taxCode": line.taxCode,
            }
            for line in lines
        ],
    )
    assert memo.totalAmountIncludingTax == erp.totalAmountIncludingTax
    platform.erp.post_sales_credit_memo(na, memo.id)

    reversed_ = run(platform, day, "na")

    check = reversed_.check("erp/invoice_postings", "every_finalized_invoice_posted_once")
    assert invoice.id not in reversed_.offenders(
        "erp/invoice_postings", "every_finalized_invoice_posted_once"
    )
    assert f"{invoice.id}: credit memo {memo.number}" in check.metadata["reversed_in_erp"].value
    assert invoice.id not in open_exceptions(platform)
    [closed] = platform.store.exceptions(status="closed", txn_ids=[f"billing:invoice:{invoice.id}"])
    assert closed.resolution == f"reversed in the ERP by credit memo {memo.number}"
    # The day's reconciliation still shows the ERP invoice billing no longer has, explained.
    daily = materialize(
        [reconciliation_daily],
        partition_key=date_region_key(str(day), "na"),
        resources=platform.resources,
        instance=platform.instance,
    )
    [materialized] = daily.get_asset_materialization_events()
    drift = materialized.materialization.metadata["drift"].value
    [line] = [row for row in str(drift).splitlines() if f"| {erp.number} |" in row]
    note = f"void in billing after posting, reversed in the ERP by credit memo {memo.number}"
    assert line.endswith(f"| {note} |")
