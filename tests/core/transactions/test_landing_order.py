"""An older read of billing never replaces a newer one, whatever order runs land in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from transaction_factories import DAY, invoice

from sync_platform.store import Store
from sync_platform.transactions import flow
from sync_platform.transactions.billing_extract import ExtractResult
from sync_platform.transactions.model import CanonicalInvoice


def result(*docs: CanonicalInvoice) -> ExtractResult[CanonicalInvoice]:
    start, end = flow.day_window(DAY)
    return ExtractResult("invoice", start, end, records=list(docs))


def test_a_run_that_read_earlier_but_lands_later_does_not_bring_back_the_old_state(
    tmp_path: Path,
) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    early = datetime(2026, 10, 15, 12, tzinfo=UTC)
    late = early + timedelta(seconds=5)

    flow.land(store, "invoice", "emea", DAY, result(invoice(status="void")), read_at=late)
    stale = flow.land(store, "invoice", "emea", DAY, result(invoice(status="open")), read_at=early)
    flow.receive(store, "invoice", "emea", DAY)

    [record] = store.source_records("billing", "invoice", "emea", business_date=DAY)
    assert record.payload["status"] == "void"
    assert stale["updated"] == 0
    [txn] = store.transactions(kind="invoice")
    assert txn.payload["status"] == "void"


def test_a_later_read_does_replace_an_earlier_one(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    early = datetime(2026, 10, 15, 12, tzinfo=UTC)

    flow.land(store, "invoice", "emea", DAY, result(invoice(status="open")), read_at=early)
    newer = flow.land(
        store, "invoice", "emea", DAY, result(invoice(status="void")), read_at=early + timedelta(1)
    )

    assert newer["updated"] == 1
    [record] = store.source_records("billing", "invoice", "emea", business_date=DAY)
    assert record.payload["status"] == "void"
