"""What the audit trail records of the platform's work: an ERP posting, a replay (who and
why), an approval decision and its application, and the config in force for a replay, each
against the ERP sandbox and a real store, in one chain that verifies."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from dagster import build_init_resource_context
from transaction_factories import invoice, line

from resources.erp import ErpResource
from resources.store import StoreResource
from sandboxes.kit.server import SandboxConfig, running_sandbox
from sync_platform.audit import verify_chain
from sync_platform.settings import REPO_CONFIG
from sync_platform.store import CustomerXref, Store, TransactionIn
from sync_platform.transactions.erp_gateway import post_documents, replay_exceptions
from sync_platform.transactions.flow import ReplaySelection, load_items

# 21 % Dutch VAT on 2 x 199.00: the ERP computes the same once txr_NL21 maps to VAT21.
DUTCH = invoice(lines=(line(tax_rate_id="txr_NL21", tax_amount=8_358),))


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "config"
    shutil.copytree(REPO_CONFIG, folder)
    monkeypatch.setenv("SYNC_CONFIG_DIR", str(folder))
    return folder


@pytest.fixture
def erp(tmp_path: Path) -> Iterator[ErpResource]:
    sandbox_config = SandboxConfig(
        kind="erp", state_dir=tmp_path, customers=20, anchor=date(2026, 11, 1)
    )
    with running_sandbox(sandbox_config) as sandbox:
        yield ErpResource(base_url=sandbox.base_url, access_token=sandbox.api_key)


@pytest.fixture
def store(tmp_path: Path, erp: ErpResource) -> Iterator[Store]:
    opened = Store.open(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    company = erp.company_for_region("emea")
    customer = next(iter(erp.list_customers(company.id)))
    opened.save_xref(
        CustomerXref(
            "cust_1",
            "emea",
            "test",
            billing_customer_id="cus_1",
            erp_customer_number=customer.number,
        )
    )
    yield opened
    opened.close()


def test_a_replayed_posting_and_an_approval_each_leave_an_audit_record(
    store: Store, erp: ErpResource, config: Path
) -> None:
    store.receive_transactions([TransactionIn.from_canonical(DUTCH)])
    post_documents(erp, store, "invoice", "emea", load_items(store, [DUTCH.txn_id]))
    assert store.transaction(DUTCH.txn_id).stage == "dead_lettered"  # type: ignore[union-attr]
    assert store.audit_records() == []  # nothing posted, nobody asked for anything yet

    posting = config / "posting.yaml"
    posting.write_text(
        posting.read_text().replace("tax_rates:\n", "tax_rates:\n  txr_NL21: {emea: VAT21}\n")
    )
    selection = ReplaySelection(reason="tax_code_unmapped", region="emea")
    replay_exceptions(erp, store, selection, note="NL21 mapped to VAT21", by="ana")
    review = store.open_review("emea", "change_policy", "cust_1", "New legal name", {}, "r1")
    store.decide(review.id, approve=True, by="bob", reason="confirmed with the customer")
    store.mark_applied(review.id)

    records = store.audit_records()
    config_records = [r for r in records if r.action == "config_changed"]
    assert {r.subject for r in config_records} >= {"config/posting.yaml", "config/modes.yaml"}
    assert {r.actor for r in config_records} == {"sync-platform"}
    assert [(r.action, r.actor, r.subject, r.reason) for r in records[len(config_records) :]] == [
        (
            "replay_requested",
            "ana",
            "open exceptions (reason=tax_code_unmapped, region=emea)",
            "NL21 mapped to VAT21",
        ),
        ("erp_posted", "sync-platform", DUTCH.txn_id, "posted after a replay"),
        ("review_approved", "bob", f"review {review.id}", "confirmed with the customer"),
        ("review_applied", "sync-platform", f"review {review.id}", "approved by bob"),
    ]
    replay, posted = records[len(config_records)], records[len(config_records) + 1]
    assert replay.details["transactions"] == [DUTCH.txn_id]
    txn = store.transaction(DUTCH.txn_id)
    assert txn is not None and txn.stage in ("posted", "reconciled")
    assert posted.details["erp_document_number"] == txn.erp_document_number
    assert (posted.details["amount"], posted.details["currency"]) == (48_158, "EUR")
    assert verify_chain(records).intact


def test_a_dagster_run_opening_the_store_records_changed_config_once(
    tmp_path: Path, config: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'runs.sqlite3'}"

    def open_for_a_run() -> list[tuple[str, str]]:
        resource = StoreResource(url=url)
        resource.setup_for_execution(build_init_resource_context())
        try:
            return [(r.action, r.subject) for r in resource.store.audit_records()]
        finally:
            resource.teardown_after_execution(build_init_resource_context())

    first = open_for_a_run()
    assert ("config_changed", "config/posting.yaml") in first
    assert open_for_a_run() == first
    (config / "sla.yaml").write_text("invoice_posted_within_minutes: 30\n")
    assert open_for_a_run() == [*first, ("config_changed", "config/sla.yaml")]


def test_a_replay_nobody_answers_for_is_refused(store: Store, erp: ErpResource) -> None:
    with pytest.raises(ValueError, match="who asks for it"):
        replay_exceptions(erp, store, ReplaySelection(), note="fixed it")

    assert store.audit_records() == []
