"""The write ledger: one row per idempotency key, attempts counted, echoes recognised."""

from __future__ import annotations

import pytest
from store_testing import ManualClock

from sync_platform.store import LedgerEntry, LedgerError, Store


def begin(store: Store, key: str = "billing:in_1:post:v1", payload_hash: str = "h1") -> LedgerEntry:
    return store.begin_write(
        key=key,
        system="erp",
        object_type="salesInvoice",
        operation="post",
        source_version="v1",
        correlation_id="corr-1",
        payload_hash=payload_hash,
    )


def test_begin_records_a_pending_first_attempt(store: Store) -> None:
    entry = begin(store)

    assert (entry.status, entry.attempts, entry.object_id) == ("pending", 1, None)
    assert store.ledger_entry(entry.idempotency_key) == entry
    assert store.ledger_entry("unknown") is None


def test_complete_records_the_object_and_response(store: Store, clock: ManualClock) -> None:
    begin(store)
    done_at = clock.advance()

    entry = store.complete_write("billing:in_1:post:v1", "SI-1001", {"number": "SI-1001"})

    assert (entry.status, entry.object_id, entry.response) == (
        "succeeded",
        "SI-1001",
        {"number": "SI-1001"},
    )
    assert entry.updated_at == done_at


def test_fail_then_begin_again_counts_another_attempt(store: Store) -> None:
    begin(store)
    failed = store.fail_write("billing:in_1:post:v1", "503 from ERP")

    retried = begin(store, payload_hash="h2")

    assert (failed.status, failed.last_error) == ("failed", "503 from ERP")
    assert (retried.status, retried.attempts, retried.payload_hash) == ("pending", 2, "h2")


def test_begin_after_success_returns_the_succeeded_entry_unchanged(store: Store) -> None:
    begin(store)
    done = store.complete_write("billing:in_1:post:v1", "SI-1001", None)

    assert begin(store) == done


def test_transitions_that_would_lose_a_success_are_refused(store: Store) -> None:
    begin(store)
    store.complete_write("billing:in_1:post:v1", "SI-1001", None)

    assert store.complete_write("billing:in_1:post:v1", "SI-1001", None).status == "succeeded"
    with pytest.raises(LedgerError, match="already succeeded"):
        store.complete_write("billing:in_1:post:v1", "SI-2002", None)
    with pytest.raises(LedgerError, match="already succeeded"):
        store.fail_write("billing:in_1:post:v1", "late timeout")
    with pytest.raises(LedgerError, match="call begin_write first"):
        store.fail_write("never-begun", "boom")


def test_last_written_hash_is_the_latest_succeeded_write(store: Store, clock: ManualClock) -> None:
    assert store.last_written_hash("erp", "salesInvoice", "SI-1001") is None
    begin(store, "k1", payload_hash="h1")
    store.complete_write("k1", "SI-1001", None)
    clock.advance()
    begin(store, "k2", payload_hash="h2")
    store.complete_write("k2", "SI-1001", None)
    clock.advance()
    begin(store, "k3", payload_hash="h3")
    store.fail_write("k3", "rejected")

    assert store.last_written_hash("erp", "salesInvoice", "SI-1001") == "h2"
    assert store.last_written_hash("erp", "salesInvoice", "SI-9999") is None
