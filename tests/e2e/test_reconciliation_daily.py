"""``reconciliation/daily`` end to end: one day and region posted through the transaction assets
reconciles with no drift; then the ERP is changed behind the platform's back (an invoice's
amount edited, a posted cash receipt removed) and the next reconciliation names both, and its
check ``reconciliation_drift_free`` fails naming them (so the drift alerts).

The ERP's API lets nobody edit or delete a posted document, so the edits are made where
they happen in real life, below the API: in the ERP sandbox's own store. The same posted day
is then compared with a legacy interface's CSV export through ``sync-platform
legacy-reconcile``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import stripe
from dagster import AssetCheckEvaluation, AssetCheckSeverity, AssetSelection, materialize
from e2e_platform import Platform, billing_customers_in_erp, running_platform

import sandboxes.billing.service as billing_service
from assets.checks.customers import customer_checks
from assets.customers import customer_assets
from assets.partitions import date_region_key
from assets.reconciliation import reconciliation_daily
from assets.transactions import transaction_assets
from resources.erp import payment_document_number
from sandboxes.erp.entities import store_kind
from sandboxes.kit.store import SandboxStore
from sync_platform.cli import main
from sync_platform.transactions.flow import billing_regions

pytestmark = pytest.mark.slow
WORLD = 12
REGION = "na"


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with running_platform(tmp_path_factory.mktemp("reconciliation"), WORLD) as platform:
        platform.materialize([*customer_assets, *customer_checks], REGION)
        yield platform


def billing_client(platform: Platform) -> stripe.StripeClient:
    sandbox = platform.sandboxes["billing"]
    return stripe.StripeClient(
        sandbox.api_key, base_addresses={"api": sandbox.base_url}, max_network_retries=0
    )


def a_customer_in_erp(platform: Platform) -> str:
    regions = billing_regions(platform.store)
    in_erp = billing_customers_in_erp(platform)
    return next(
        x.billing_customer_id
        for x in sorted(platform.store.xrefs(REGION), key=lambda x: x.canonical_id)
        if x.billing_customer_id in in_erp and regions.get(x.billing_customer_id) == REGION
    )


def reconcile(platform: Platform, day: date) -> tuple[dict[str, Any], AssetCheckEvaluation]:
    """The asset's metadata and its drift check's evaluation."""
    result = materialize(
        [reconciliation_daily],
        partition_key=date_region_key(day.isoformat(), REGION),
        resources=platform.resources,
        instance=platform.instance,
    )
    assert result.success
    [materialized] = result.get_asset_materialization_events()
    [check] = result.get_asset_check_evaluations()
    assert check.check_name == "reconciliation_drift_free"
    assert check.partition == f"{day.isoformat()}|{REGION}"
    metadata = materialized.materialization.metadata
    return {k: v.value for k, v in metadata.items()}, check


def erp_store(platform: Platform) -> SandboxStore:
    return SandboxStore(platform.sandboxes["erp"].config.state_file)


@dataclass(frozen=True)
class PostedDay:
    day: date
    customer: str
    invoice: stripe.Invoice
    charge: str
    note: stripe.CreditNote


@pytest.fixture(scope="module")
def posted_day(platform: Platform) -> PostedDay:
    """An invoice, a settled payment of part of it and a credit note, posted to the ERP."""
    billing = billing_client(platform)
    customer = a_customer_in_erp(platform)
    price = billing.v1.prices.list(params={"lookup_keys": ["team_usd"]}).data[0]
    draft = billing.v1.invoices.create(
        params={"customer": customer, "currency": "usd", "default_tax_rates": ["txr_USCA"]}
    )
    billing.v1.invoice_items.create(
        params={"customer": customer, "invoice": draft.id, "price": price.id}
    )
    invoice = billing.v1.invoices.finalize_invoice(draft.id)
    paid = billing.v1.payment_intents.create(
        params={
            "amount": 5_000,
            "currency": "usd",
            "customer": customer,
            "confirm": True,
            "payment_method": "pm_card_visa",
            "off_session": True,
        }
    )
    billing.v1.invoices.attach_payment(invoice.id, params={"payment_intent": paid.id})
    note = billing.v1.credit_notes.create(params={"invoice": invoice.id, "amount": 1_000})
    day = datetime.fromtimestamp(invoice.status_transitions.finalized_at or 0, UTC).date()

    # Card money settles two days after the charge: only then is the payment applied.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(billing_service, "now", lambda: int(time.time()) + 3 * 86_400)
        posted = platform.materialize(transaction_assets, date_region_key(day.isoformat(), REGION))
    assert [
        posted[f"erp/{a}"]["mode_outcomes"]
        for a in ("invoice_postings", "cash_applications", "credit_memos")
    ] == [{"posted": 1}, {"posted": 1}, {"posted": 1}]
    return PostedDay(day, customer, invoice, str(paid.latest_charge), note)


def test_a_posted_day_reconciles_and_out_of_band_erp_edits_show_as_drift(
    platform: Platform, posted_day: PostedDay
) -> None:
    day, invoice, charge = posted_day.day, posted_day.invoice, posted_day.charge
    clean, clean_check = reconcile(platform, day)
    assert clean["drift_count"] == 0 and clean["clean"] is True, clean["drift"]
    assert clean_check.passed and clean_check.metadata["offending"].value == 0
    for kind in ("invoices", "payments", "credit_notes"):
        assert clean[f"{kind}.USD.billing_count"] == clean[f"{kind}.USD.erp_count"] == 1
        assert clean[f"{kind}.USD.amount_difference"] == 0
    assert clean["invoices.USD.billing_amount"] == invoice.total
    assert clean["payments.USD.erp_amount"] == 5_000
    assert clean["credit_notes.USD.erp_amount"] == posted_day.note.total

    # Someone edits the posted invoice's amount and removes the posted cash receipt in the ERP.
    store = erp_store(platform)
    try:
        company = platform.erp.company_for_region(REGION).id
        invoices = store_kind("salesInvoice", company)
        ((_, erp_invoice),) = store.scan(
            invoices,
            where="upper(json_extract(data, '$.externalDocumentNumber')) = ?",
            params=(invoice.id.upper(),),
        )
        erp_invoice["totalAmountIncludingTax"] = invoice.total + 10_000
        store.put(invoices, erp_invoice["id"], erp_invoice)
        entries = store_kind("generalLedgerEntry", company)
        removed = [
            doc["id"]
            for _, doc in store.scan(
                entries,
                where="json_extract(data, '$.documentNumber') = ?",
                params=(payment_document_number(charge),),
            )
        ]
        assert removed
        for entry_id in removed:
            store.delete(entries, entry_id)
    finally:
        store.close()

    drifted, check = reconcile(platform, day)
    assert drifted["drift_count"] == 2 and drifted["clean"] is False
    assert (drifted["drift.amount_differs"], drifted["drift.missing_in_erp"]) == (1, 1)
    assert drifted["invoices.USD.amount_difference"] == 10_000
    assert drifted["payments.USD.count_difference"] == -1
    assert drifted["payments.USD.amount_difference"] == -5_000
    table = drifted["drift"]
    edited = f"{invoice.total} | {invoice.total + 10_000} | USD"
    assert (
        f"| invoice | {invoice.id} | {erp_invoice['number']} | amount differs | {edited} |" in table
    )
    assert f"| payment | {charge} | - | missing in the ERP | 5000 | - | USD |" in table

    assert not check.passed and check.severity == AssetCheckSeverity.ERROR
    assert check.metadata["offending"].value == 2
    offenders = check.metadata["offenders"].value
    assert len(offenders) == 2
    [edited_line] = [line for line in offenders if invoice.id in line]
    assert edited_line.startswith(f"invoice {invoice.id} (ERP {erp_invoice['number']}): ")
    assert f"billing {invoice.total}, ERP {invoice.total + 10_000} USD" in edited_line
    assert any(line.startswith(f"payment {charge} (ERP -): missing") for line in offenders)


def test_without_its_check_selected_the_asset_still_materializes(
    platform: Platform, posted_day: PostedDay
) -> None:
    """A backfill of the asset alone (the weekly re-verification) selects no check."""
    result = materialize(
        [reconciliation_daily],
        selection=AssetSelection.assets(reconciliation_daily).without_checks(),
        partition_key=date_region_key(posted_day.day.isoformat(), REGION),
        resources=platform.resources,
        instance=platform.instance,
    )
    assert result.success and len(result.get_asset_materialization_events()) == 1
    assert result.get_asset_check_evaluations() == []


def test_the_legacy_export_is_compared_with_what_the_platform_posted(
    platform: Platform, posted_day: PostedDay, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    day, invoice, charge = posted_day.day.isoformat(), posted_day.invoice, posted_day.charge
    customer = next(
        x.erp_customer_number
        for x in platform.store.xrefs(REGION)
        if x.billing_customer_id == posted_day.customer
    )
    total = f"{invoice.total // 100}.{invoice.total % 100:02d}"
    export = tmp_path / "legacy.csv"
    export.write_text(
        "document_type,external_document_number,document_number,customer_number,"
        "posting_date,currency,amount\n"
        f"Invoice,{invoice.id.upper()},LEG-1,{customer},{day},USD,{total}\n"
        f"Payment,{charge},LEG-2,{customer},{day},USD,50.01\n"
        f"Invoice,in_legacy_only,LEG-3,{customer},{day},USD,10.00\n"
        f"Invoice,in_bad,LEG-4,{customer},{day},USD,10.001\n",
        encoding="utf-8",
    )
    args = ["legacy-reconcile", "--csv", str(export), "--store", platform.store_url]
    status = main([*args, "--region", REGION, "--from", day, "--to", day])
    out, err = capsys.readouterr()
    assert status == 1
    assert f"{export} line 5, column amount: '10.001'" in err
    assert f"payment {charge} (line 3): amount differs: legacy 50.01 USD, new 50.00 USD" in out
    assert "invoice in_legacy_only (line 4): missing in new" in out
    assert f"credit_memo {posted_day.note.id}: missing in legacy" in out
    assert f"invoice {invoice.id}" not in out  # it agrees: same amount, customer and day
    assert "legacy postings 3 (bad lines 1), new postings 3, matched 2" in out


def test_only_money_received_in_the_receipts_bank_counts_as_an_erp_payment(
    platform: Platform, posted_day: PostedDay
) -> None:
    """Other 'Payment' G/L entries of a day — a vendor payment (debit payables, credit the
    bank) and an exchange difference — are not receipts and are no drift; a receipt booked
    by hand into the bank our cash receipts go to is money billing does not know."""
    day = date(2026, 1, 5)  # a day billing has nothing on
    store = erp_store(platform)
    try:
        company = platform.erp.company_for_region(REGION).id
        entries = store_kind("generalLedgerEntry", company)
        [(_, template), *_] = store.scan(entries)
        lines = [
            ("VPAY-1", "20100", 12_000, 0),  # a vendor paid: payables debited...
            ("VPAY-1", "10100", 0, 12_000),  # ...from the bank
            ("FX-7", "79100", 310, 0),  # an exchange loss
            ("FX-7", "13100", 0, 310),
            ("HAND-1", "10100", 7_500, 0),  # a customer's wire booked by hand
            ("HAND-1", "13100", 0, 7_500),
        ]
        for n, (document, account, debit, credit) in enumerate(lines, 900_001):
            entry = {
                **template,
                "id": str(uuid.uuid4()),
                "entryNumber": n,
                "postingDate": day.isoformat(),
                "documentType": "Payment",
                "documentNumber": document,
                "accountNumber": account,
                "description": f"entered in the ERP: {document}",
                "debitAmount": debit,
                "creditAmount": credit,
            }
            store.insert(entries, entry["id"], entry)
    finally:
        store.close()

    metadata, check = reconcile(platform, day)

    assert metadata["drift_count"] == 1, metadata["drift"]
    assert metadata["drift.not_billed"] == 1
    assert (
        "| payment | - | HAND-1 | in the ERP but not billed | - | 7500 | USD |" in metadata["drift"]
    )
    assert metadata["payments.USD.erp_amount"] == 7_500
    assert not check.passed
