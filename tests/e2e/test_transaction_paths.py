"""Invoices and payments along the paths finance worries about, end to end through the Dagster
assets against the three sandboxes: part of an invoice paid and money on account, invoices in
a second currency, an ERP outage (retried, then dead-lettered), read_only / shadow / live,
and replay from the Dagster job and from the command line.

Documents made here through the billing API are dated by the real clock (today), which is in
an open ERP period; each scenario works in its own day-and-region partition.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
import stripe
import yaml
from e2e_platform import (
    Platform,
    billing_customers_in_erp,
    erp_documents,
    open_exceptions,
    running_platform,
)

import sandboxes.billing.service as billing_service
from assets.partitions import date_region_key
from assets.replay import replay_exceptions_job
from assets.transactions import FLOWS, transaction_assets
from resources.erp import ErpResource
from sync_platform.cli import main
from sync_platform.transactions.erp_gateway import replay_exceptions
from sync_platform.transactions.flow import ReplaySelection, billing_regions

pytestmark = pytest.mark.slow
WORLD = 30
INVOICES = FLOWS[0]
INVOICE_ASSETS = [
    a for a in transaction_assets if a.key in (INVOICES.billing, INVOICES.canonical, INVOICES.erp)
]


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with running_platform(tmp_path_factory.mktemp("paths"), WORLD) as platform:
        platform.sync_customers()
        yield platform


@pytest.fixture(scope="module")
def billing(platform: Platform) -> stripe.StripeClient:
    sandbox = platform.sandboxes["billing"]
    return stripe.StripeClient(
        sandbox.api_key, base_addresses={"api": sandbox.base_url}, max_network_retries=0
    )


# -- billing -----------------------------------------------------------------------------------
def finalized_invoice(
    billing: stripe.StripeClient, customer: str, currency: str, tax_rate: str
) -> stripe.Invoice:
    """One Team plan seat in ``currency``, taxed at ``tax_rate``, finalized now."""
    price = billing.v1.prices.list(params={"lookup_keys": [f"team_{currency}"]}).data[0]
    draft = billing.v1.invoices.create(
        params={"customer": customer, "currency": currency, "default_tax_rates": [tax_rate]}
    )
    billing.v1.invoice_items.create(
        params={"customer": customer, "invoice": draft.id, "price": price.id}
    )
    return billing.v1.invoices.finalize_invoice(draft.id)


def card_payment(
    billing: stripe.StripeClient, customer: str, amount: int, currency: str
) -> stripe.PaymentIntent:
    """Money taken by card, for no invoice yet."""
    return billing.v1.payment_intents.create(
        params={
            "amount": amount,
            "currency": currency,
            "customer": customer,
            "confirm": True,
            "payment_method": "pm_card_visa",
            "off_session": True,
        }
    )


def day_of(invoice: stripe.Invoice) -> date:
    return datetime.fromtimestamp(invoice.status_transitions.finalized_at or 0, UTC).date()


@contextmanager
def funds_settled() -> Iterator[None]:
    """Two days on: card money becomes available (settled) two days after the charge, and the
    billing sandbox renders a balance transaction's status from its clock."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(billing_service, "now", lambda: int(time.time()) + 3 * 86_400)
        yield


# -- the platform ------------------------------------------------------------------------------
def run(
    platform: Platform, day: date, region: str, assets: list[Any] | None = None
) -> dict[str, Any]:
    """Materialize the transaction assets (or ``assets``) of one day and region."""
    return platform.materialize(assets or transaction_assets, date_region_key(str(day), region))


@contextmanager
def erp_down(platform: Platform) -> Iterator[None]:
    """The ERP answers 5xx to everything. The client's own retries inside one call are cut to
    two quick tries (on a copy of the resource), so each run gives up in milliseconds."""
    normal = platform.resources["erp"]
    platform.resources["erp"] = ErpResource(
        base_url=normal.base_url,
        access_token=normal.access_token,
        max_attempts=2,
        retry_base_delay_seconds=0.01,
        retry_budget_seconds=2.0,
    )
    platform.sandboxes["erp"].set_faults(server_error=1.0)
    try:
        yield
    finally:
        platform.sandboxes["erp"].set_faults(server_error=0.0)
        platform.resources["erp"] = normal


def customer_in_erp(platform: Platform, region: str, erp_currency: str | None = None) -> str:
    """A billing customer of ``region`` the ERP holds (kept in ``erp_currency``, if given)."""
    regions = billing_regions(platform.store)
    in_erp = billing_customers_in_erp(platform)
    by_number = {c.number: c for c in platform.erp.list_customers(company(platform, region))}
    for xref in sorted(platform.store.xrefs(region), key=lambda x: x.canonical_id):
        billing_id, number = xref.billing_customer_id, xref.erp_customer_number
        if billing_id not in in_erp or regions.get(billing_id) != region:
            continue
        if number in by_number and erp_currency in (None, by_number[number].currencyCode):
            return billing_id
    raise AssertionError(f"the world has no ERP customer in {region} ({erp_currency or 'any'})")


def company(platform: Platform, region: str) -> str:
    return platform.erp.company_for_region(region).id


def erp_balance(platform: Platform, region: str, billing_id: str) -> int:
    """The ERP customer's balance due, in minor units."""
    number = next(
        x.erp_customer_number
        for x in platform.store.xrefs(region)
        if x.billing_customer_id == billing_id
    )
    customer = next(
        c for c in platform.erp.list_customers(company(platform, region)) if c.number == number
    )
    return int((customer.balanceDue or Decimal(0)) * 100)


def erp_invoice(platform: Platform, region: str, invoice_id: str) -> Any:
    found = [
        d
        for d in erp_documents(platform, "invoices", region)
        if d.externalDocumentNumber == invoice_id
    ]
    assert len(found) == 1, f"{invoice_id}: {len(found)} ERP invoices"
    return found[0]


def payment_entries(platform: Platform, region: str, charge_ids: list[str]) -> Counter[str]:
    """Charge id → how many receivables credits the ERP holds for it (one per posting)."""
    payments = platform.erp.find_customer_payments(company(platform, region), charge_ids)
    numbers = {record.document_number: charge for charge, record in payments.items()}
    return Counter(
        numbers[e.documentNumber]
        for e in erp_documents(platform, "payments", region)
        if e.documentNumber in numbers and e.debitAmount
    )


def transaction(platform: Platform, kind: str, source_id: str) -> Any:
    return platform.store.transactions(txn_ids=[f"billing:{kind}:{source_id}"])[0]


def outcomes(metadata: dict[str, Any], asset: str) -> dict[str, int]:
    return dict(metadata[asset]["mode_outcomes"])


# -- 1. part of an invoice paid, and money on account ------------------------------------------
def test_a_partial_payment_leaves_the_rest_open_and_money_on_account_stays_as_credit(
    platform: Platform, billing: stripe.StripeClient
) -> None:
    customer = customer_in_erp(platform, "na")
    balance_before = erp_balance(platform, "na", customer)
    invoice = finalized_invoice(billing, customer, "usd", "txr_USCA")
    day, total = day_of(invoice), invoice.total
    # Stripe's partial payments: a payment intent attached to the invoice pays part of it.
    part = card_payment(billing, customer, 8_000, "usd")
    billing.v1.invoices.attach_payment(invoice.id, params={"payment_intent": part.id})
    # The rest and 25.00 more arrive as money on account, tied to no invoice.
    on_account = card_payment(billing, customer, total - 8_000 + 2_500, "usd")
    charges = [str(part.latest_charge), str(on_account.latest_charge)]
    assert billing.v1.invoices.retrieve(invoice.id).amount_remaining == total - 8_000

    first = run(platform, day, "na")
    assert outcomes(first, "erp/invoice_postings") == {"posted": 1}
    # Card money settles two days later; until then nothing is applied in the ERP.
    assert outcomes(first, "erp/cash_applications") == {"awaiting_settlement": 2}
    assert erp_invoice(platform, "na", invoice.id).remainingAmount == total

    with funds_settled():
        settled = run(platform, day, "na")
        again = run(platform, day, "na")
    assert outcomes(settled, "erp/cash_applications") == {"posted": 2}
    assert transaction(platform, "payment", charges[0]).payload["invoice_id"] == invoice.id
    assert transaction(platform, "payment", charges[1]).payload["invoice_id"] is None
    posted = erp_invoice(platform, "na", invoice.id)
    assert (posted.status, posted.remainingAmount) == ("Open", total - 8_000)
    # Receivables: the invoice, less both payments: the customer is 25.00 in credit.
    assert erp_balance(platform, "na", customer) - balance_before == -2_500
    assert {key: asset["erp_writes"] for key, asset in again.items() if key.startswith("erp/")} == {
        "erp/invoice_postings": 0,
        "erp/cash_applications": 0,
        "erp/credit_memos": 0,
    }
    assert payment_entries(platform, "na", charges) == Counter(dict.fromkeys(charges, 1))


# -- 2. a second currency ----------------------------------------------------------------------
def test_a_region_posts_its_allowed_currencies_and_holds_others(
    platform: Platform, billing: stripe.StripeClient
) -> None:
    customer = customer_in_erp(platform, "emea", erp_currency="GBP")
    in_gbp = finalized_invoice(billing, customer, "gbp", "txr_GB20")
    in_eur = finalized_invoice(billing, customer, "eur", "txr_GB20")
    in_chf = finalized_invoice(billing, customer, "chf", "txr_GB20")
    paid = billing.v1.invoices.pay(in_gbp.id)
    assert paid.status == "paid"

    with funds_settled():
        metadata = run(platform, day_of(in_gbp), "emea")
    assert outcomes(metadata, "erp/invoice_postings") == {"posted": 2, "dead_lettered": 1}
    assert outcomes(metadata, "erp/cash_applications") == {"posted": 1}
    assert metadata["erp/invoice_postings"]["posted_by_currency"] == {
        "GBP": in_gbp.total,
        "EUR": in_eur.total,
    }
    gbp = erp_invoice(platform, "emea", in_gbp.id)
    assert (gbp.currencyCode, gbp.totalAmountIncludingTax) == ("GBP", in_gbp.total)
    assert (gbp.status, gbp.remainingAmount) == ("Paid", 0)
    # The region's own currency, for a customer the ERP keeps in GBP: still EUR.
    assert erp_invoice(platform, "emea", in_eur.id).currencyCode == "EUR"
    assert in_chf.id not in {d.externalDocumentNumber for d in erp_documents(platform, "invoices")}
    assert open_exceptions(platform)[in_chf.id] == "currency_not_allowed"
    held = platform.store.exceptions(txn_ids=[f"billing:invoice:{in_chf.id}"])[0]
    assert "is in CHF, which region emea does not post (allowed: EUR, GBP)" in held.message
    assert transaction(platform, "invoice", in_chf.id).stage == "dead_lettered"


# -- 3. the ERP down: retried, then dead-lettered ----------------------------------------------
def test_an_erp_outage_is_retried_then_dead_lettered_without_duplicates(
    platform: Platform, billing: stripe.StripeClient
) -> None:
    config = yaml.safe_load((platform.config_dir / "posting.yaml").read_text())
    max_attempts = int(config["max_attempts"])
    customer = customer_in_erp(platform, "apac")
    first = finalized_invoice(billing, customer, "aud", "txr_AU10")
    day = day_of(first)

    with erp_down(platform):
        down = run(platform, day, "apac")
    assert outcomes(down, "erp/invoice_postings") == {"failed": 1}
    assert down["erp/invoice_postings"]["exceptions_by_reason"] == {"erp_unavailable": 1}
    failed = transaction(platform, "invoice", first.id)
    assert (failed.stage, failed.attempts) == ("failed", 1)
    assert open_exceptions(platform)[first.id] == "erp_unavailable"

    back = run(platform, day, "apac")
    assert outcomes(back, "erp/invoice_postings") == {"posted": 1}
    closed = platform.store.exceptions(status=None, txn_ids=[f"billing:invoice:{first.id}"])
    assert [(e.reason_code, e.status, e.resolution) for e in closed] == [
        ("erp_unavailable", "closed", "posted after retry")
    ]

    second = finalized_invoice(billing, customer, "aud", "txr_AU10")

    def runs(count: int) -> list[tuple[str, int]]:
        stages = []
        for _ in range(count):
            run(platform, day, "apac")
            txn = transaction(platform, "invoice", second.id)
            stages.append((txn.stage, txn.attempts))
        return stages

    until_dead = [*[("failed", n) for n in range(1, max_attempts)], ("dead_lettered", max_attempts)]
    with erp_down(platform):
        assert runs(max_attempts) == until_dead
        held = platform.store.exceptions(txn_ids=[f"billing:invoice:{second.id}"])[0]
        assert (held.reason_code, held.occurrences) == ("erp_unavailable", max_attempts)
        # Replayed while the ERP is still down: a fresh retry budget, not dead again at once.
        selection = ReplaySelection(reason="erp_unavailable", region="apac")
        replay_exceptions(
            platform.erp, platform.store, selection, note="test: too early", by="test"
        )
        replayed = transaction(platform, "invoice", second.id)
        assert (replayed.stage, replayed.attempts) == ("failed", 1)
        assert runs(max_attempts - 1) == until_dead[1:]

    # The ERP is back, but a dead-lettered transaction waits for a replay.
    after = run(platform, day, "apac")
    assert outcomes(after, "erp/invoice_postings") == {"already_posted": 1, "dead_lettered": 1}
    assert transaction(platform, "invoice", second.id).attempts == max_attempts
    numbers = Counter(d.externalDocumentNumber for d in erp_documents(platform, "invoices", "apac"))
    assert numbers[first.id] == 1 and second.id not in numbers
    assert max(numbers.values()) == 1


# -- 4. modes ----------------------------------------------------------------------------------
def postable_partition(platform: Platform) -> tuple[date, str, set[str]]:
    """The seeded day and region with the most invoices that can all post (customer in the
    ERP, the region's currency, a mapped tax rate, an open period, not void)."""
    regions = billing_regions(platform.store)
    in_erp = billing_customers_in_erp(platform)
    by_partition: dict[tuple[date, str], list[Any]] = {}
    for invoice in platform.billing.list_invoices():
        if invoice.status == "draft" or str(invoice.customer) not in regions:
            continue
        finalized = (invoice.status_transitions or {}).get("finalized_at")
        day = datetime.fromtimestamp(finalized or 0, UTC).date()
        by_partition.setdefault((day, regions[str(invoice.customer)]), []).append(invoice)

    def postable(invoice: Any, region: str) -> bool:
        taxes = invoice.lines.data[0].get("taxes") or [{}]
        return (
            invoice.status != "void"
            and str(invoice.customer) in in_erp
            and invoice.currency.upper() == {"na": "USD", "emea": "EUR", "apac": "AUD"}[region]
            and taxes[0].get("tax_rate_details", {}).get("tax_rate") != "txr_NL21"
        )

    candidates = [
        (day, region, {i.id for i in invoices})
        for (day, region), invoices in by_partition.items()
        if date(day.year, 9, 1) <= day < datetime.now(UTC).date()
        and all(postable(i, region) for i in invoices)
    ]
    assert candidates, "the world should have a seeded partition whose invoices all post"
    return max(candidates, key=lambda c: (len(c[2]), c[0]))


def test_shadow_and_read_only_write_nothing_and_live_posts_what_shadow_counted(
    platform: Platform,
) -> None:
    day, region, invoices = postable_partition(platform)
    modes = platform.config_dir / "modes.yaml"
    original = modes.read_text()

    def run_in(mode: str) -> dict[str, Any]:
        modes.write_text(f"default: live\nregions:\n  {region}: {{invoices: {mode}}}\n")
        return run(platform, day, region, INVOICE_ASSETS)["erp/invoice_postings"]

    def in_erp() -> set[str]:
        return {d.externalDocumentNumber for d in erp_documents(platform, "invoices", region)}

    try:
        shadow = run_in("shadow")
        assert (shadow["mode"], shadow["erp_writes"]) == ("shadow", 0)
        assert shadow["mode_outcomes"] == {"would_post": len(invoices)}
        assert in_erp() & invoices == set()
        read_only = run_in("read_only")
        assert (read_only["mode"], read_only["erp_writes"]) == ("read_only", 0)
        assert read_only["mode_outcomes"] == {"validated": len(invoices)}
        assert in_erp() & invoices == set()
        live = run_in("live")
    finally:
        modes.write_text(original)
    assert live["mode_outcomes"] == {"posted": len(invoices)}
    assert in_erp() & invoices == invoices


# -- 5. replay: the Dagster job and the command line -------------------------------------------
def test_the_replay_job_posts_a_dead_lettered_invoice_recording_who_and_why(
    platform: Platform,
) -> None:
    held = platform.store.exceptions(reason_code="erp_unavailable", region="apac")
    assert len(held) == 1, "the outage test leaves one dead-lettered invoice"
    txn_id = held[0].txn_id
    result = replay_exceptions_job.execute_in_process(
        run_config={
            "ops": {
                "replay_open_exceptions": {
                    "config": {
                        "reason": "erp_unavailable",
                        "region": "apac",
                        "requested_by": "finance.ops@example.com",
                        "note": "ERP back after the outage",
                    }
                }
            }
        },
        resources={"erp": platform.erp, "store": platform.resources["store"]},
        instance=platform.instance,
    )
    assert result.success
    assert platform.store.exceptions(reason_code="erp_unavailable") == []
    closed = platform.store.exceptions(status=None, txn_ids=[txn_id])[-1]
    assert closed.resolution == "posted after replay"
    attempts = platform.store.attempts(txn_id)
    assert [a.to_stage for a in attempts][-4:] == [
        "replayed",
        "validated",
        "posted",
        "reconciled",
    ]
    assert attempts[-4].message == "replay by finance.ops@example.com: ERP back after the outage"
    source_id = txn_id.rsplit(":", 1)[1]
    numbers = Counter(d.externalDocumentNumber for d in erp_documents(platform, "invoices", "apac"))
    assert numbers[source_id] == 1 and max(numbers.values()) == 1


def test_the_replay_command_lists_then_replays_what_a_fix_lets_post(
    platform: Platform,
    billing: stripe.StripeClient,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    customer = customer_in_erp(platform, "emea")
    dutch = finalized_invoice(billing, customer, "eur", "txr_NL21")
    run(platform, day_of(dutch), "emea", INVOICE_ASSETS)
    assert open_exceptions(platform)[dutch.id] == "tax_code_unmapped"
    replay = ["replay", "--reason", "tax_code_unmapped", "--region", "emea"]
    replay += ["--note", "NL21 mapped to VAT21", "--store", platform.store_url]

    assert main([*replay, "--dry-run"]) == 0
    listed = capsys.readouterr().out
    assert "invoice      emea  1 to replay" in listed and "1 transactions match" in listed
    assert open_exceptions(platform)[dutch.id] == "tax_code_unmapped"

    mapping = platform.config_dir / "posting.yaml"
    original = mapping.read_text()
    mapping.write_text(original.replace("tax_rates:\n", "tax_rates:\n  txr_NL21: {emea: VAT21}\n"))
    monkeypatch.setenv("SYNC_ERP_URL", platform.sandboxes["erp"].base_url)
    monkeypatch.setenv("SYNC_ERP_ACCESS_TOKEN", platform.sandboxes["erp"].api_key)
    try:
        assert main([*replay, "--by", "ana"]) == 0
        replayed = capsys.readouterr().out
        assert main(replay) == 0
        again = capsys.readouterr().out
    finally:
        mapping.write_text(original)
    assert "invoice/emea: posted 1" in replayed
    still_open = replayed.splitlines()[-1]
    assert still_open.startswith("open exceptions now:") and "tax_code_unmapped" not in still_open
    assert "0 transactions match; nothing to replay" in again
    assert erp_invoice(platform, "emea", dutch.id).status != "Draft"
    txn_id = f"billing:invoice:{dutch.id}"
    assert platform.store.exceptions(status=None, txn_ids=[txn_id])[-1].resolution == (
        "posted after replay"
    )
    replayed_attempt = [a for a in platform.store.attempts(txn_id) if a.to_stage == "replayed"]
    assert [a.message for a in replayed_attempt] == ["replay by ana: NL21 mapped to VAT21"]
