"""The audit trail: a hash chain the database will not let anyone change, whose every edit or
deletion (by someone who can switch that off) `sync-platform audit verify` finds."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from store_testing import ManualClock, at_once
from test_transactions import invoice

from sync_platform.audit import record_config_changes, verify_chain
from sync_platform.cli import main
from sync_platform.store import AuditEntry, Store, StoreError, TransactionIn
from sync_platform.store.audit import GENESIS_HASH, GUARD_TRIGGERS


def append_four(store: Store, clock: ManualClock) -> None:
    for n in range(1, 5):
        clock.advance()
        store.append_audit(
            AuditEntry(f"user{n}", "review_approved", f"review {n}", "looks right", {"n": n})
        )


def verify(url: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["audit", "verify", "--store", url])
    return code, capsys.readouterr().out


def as_database_admin(store: Store, *statements: str) -> None:
    """Run ``statements`` with the append-only triggers out of the way, and put them back
    after, as someone with the database's admin rights covering their tracks could."""
    with store.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_records DISABLE TRIGGER USER"))
            for statement in statements:
                conn.execute(text(statement))
            conn.execute(text("ALTER TABLE audit_records ENABLE TRIGGER USER"))
            return
        guards = conn.execute(
            text("SELECT name, sql FROM sqlite_master WHERE tbl_name = 'audit_records'")
        ).all()
        guards = [(name, sql) for name, sql in guards if name in GUARD_TRIGGERS["sqlite"]]
        for name, _ in guards:
            conn.execute(text(f"DROP TRIGGER {name}"))
        for statement in statements:
            conn.execute(text(statement))
        for _, sql in guards:
            conn.execute(text(sql))


def post_invoices(store: Store, clock: ManualClock, *source_ids: str) -> list[str]:
    """Receive and post an invoice per id (each posting appends its erp_posted record)."""
    txn_ids = []
    for source_id in source_ids:
        clock.advance()
        canonical = invoice(source_id)
        store.receive_transactions([TransactionIn.from_canonical(canonical)])
        store.record_attempt(canonical.txn_id, "validated", "ok")
        store.record_attempt(canonical.txn_id, "posted", "ok", erp_document_id=f"doc-{source_id}")
        txn_ids.append(canonical.txn_id)
    return txn_ids


def posted_at(store: Store, txn_id: str) -> str:
    return next(a.at for a in store.attempts(txn_id) if a.to_stage == "posted").isoformat()


def test_each_record_holds_the_hash_of_the_one_before(
    store: Store, clock: ManualClock, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    append_four(store, clock)

    records = store.audit_records()
    assert [r.id for r in records] == [1, 2, 3, 4]
    assert records[0].prev_hash == GENESIS_HASH
    assert [r.prev_hash for r in records[1:]] == [r.hash for r in records[:-1]]
    assert records[2].actor == "user3" and records[2].reason == "looks right"
    assert records[2].details == {"n": 3} and records[2].at == clock.now.replace(minute=3)
    assert verify(database_url, capsys) == (
        0,
        f"audit chain intact: 4 records\nhead: record 4 {records[3].hash}\n",
    )


def test_an_empty_trail_is_intact(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert verify(database_url, capsys) == (0, "audit chain intact: 0 records\n")


def test_the_database_refuses_update_and_delete(store: Store, clock: ManualClock) -> None:
    append_four(store, clock)
    refusals = ["UPDATE audit_records SET actor = 'mallory' WHERE id = 2"]
    refusals += ["DELETE FROM audit_records WHERE id = 2", "DELETE FROM audit_records"]
    if store.engine.dialect.name == "postgresql":
        refusals.append("TRUNCATE audit_records")

    for statement in refusals:
        with (
            pytest.raises(DBAPIError, match="audit_records is append-only"),
            store.engine.begin() as conn,
        ):
            conn.execute(text(statement))

    assert [r.actor for r in store.audit_records()] == ["user1", "user2", "user3", "user4"]


def test_the_database_refuses_an_insert_that_does_not_extend_the_chain(
    store: Store, clock: ManualClock
) -> None:
    append_four(store, clock)
    first, second, _, head = store.audit_records()
    columns = "id, at, actor, action, subject, reason, details, prev_hash, hash"

    def row(record_id: int, prev_hash: str) -> str:
        return (
            f"({record_id}, '2026-01-01 00:00:00+00:00', 'mallory', 'review_approved', "
            f"'review 2', NULL, '{{}}', '{prev_hash}', '{'f' * 64}')"
        )

    rewrite_second = f"INSERT INTO audit_records ({columns}) VALUES {row(2, first.hash)}"
    refusals = [
        f"{rewrite_second} ON CONFLICT (id) DO UPDATE SET actor = excluded.actor",
        # Out of order: a gap after the head, or the head's id + 1 not linked to the head.
        f"INSERT INTO audit_records ({columns}) VALUES {row(6, head.hash)}",
        f"INSERT INTO audit_records ({columns}) VALUES {row(5, second.hash)}",
    ]
    if store.engine.dialect.name == "sqlite":
        # REPLACE deletes the conflicting row without firing the DELETE trigger.
        refusals.append(rewrite_second.replace("INSERT", "INSERT OR REPLACE", 1))
        refusals.append(rewrite_second.replace("INSERT", "REPLACE", 1))

    for statement in refusals:
        with (
            pytest.raises(DBAPIError, match="audit_records is append-only: INSERT refused"),
            store.engine.begin() as conn,
        ):
            conn.execute(text(statement))

    assert [r.actor for r in store.audit_records()] == ["user1", "user2", "user3", "user4"]
    store.append_audit(AuditEntry("user5", "review_approved", "review 5"))
    assert verify_chain(store.iter_audit_records()).records == 5


def test_verify_names_the_first_edited_record(
    store: Store, clock: ManualClock, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    append_four(store, clock)
    as_database_admin(
        store,
        "UPDATE audit_records SET reason = 'never mind' WHERE id = 4",
        "UPDATE audit_records SET actor = 'mallory' WHERE id = 2",
    )

    assert verify(database_url, capsys) == (
        1,
        "audit chain broken: record 2: hash does not match its contents (edited)\n",
    )


def test_verify_names_the_first_deleted_record(
    store: Store, clock: ManualClock, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    append_four(store, clock)
    as_database_admin(store, "DELETE FROM audit_records WHERE id IN (2, 3)")

    assert verify(database_url, capsys) == (
        1,
        "audit chain broken: record 4 follows 1: records 2-3 are missing (deleted)\n",
    )


def test_verify_names_a_dropped_guard_trigger_and_the_posting_whose_record_was_cut_off(
    store: Store, clock: ManualClock, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _, second = post_invoices(store, clock, "in_1", "in_2")
    postgresql = store.engine.dialect.name == "postgresql"
    guard = "audit_records_no_change" if postgresql else "audit_records_no_delete"
    with store.engine.begin() as conn:
        conn.execute(text(f"DROP TRIGGER {guard}" + (" ON audit_records" if postgresql else "")))
        conn.execute(text("DELETE FROM audit_records WHERE id = 2"))

    assert verify(database_url, capsys) == (
        1,
        f"audit chain broken: guard trigger {guard} is missing\n"
        f"audit chain broken: posting of {second} at {posted_at(store, second)} has no audit "
        "record: records were deleted from the end of the chain (or the table was wiped)\n",
    )


def test_verify_notices_the_newest_records_cut_off_with_the_triggers_put_back(
    store: Store, clock: ManualClock, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = post_invoices(store, clock, "in_1", "in_2")
    append_four(store, clock)  # records 3-6, after both postings
    as_database_admin(store, "DELETE FROM audit_records WHERE id >= 2")

    code, out = verify(database_url, capsys)

    assert code == 1
    assert out.startswith(f"audit chain broken: posting of {second} at ")
    assert first not in out


def test_verify_notices_a_wiped_table(
    store: Store, clock: ManualClock, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    first, _ = post_invoices(store, clock, "in_1", "in_2")
    as_database_admin(store, "DELETE FROM audit_records")

    assert verify(database_url, capsys) == (
        1,
        f"audit chain broken: the audit table is empty but postings exist (the first: {first} "
        f"at {posted_at(store, first)}): the table was wiped (a store upgraded from before the "
        "audit trail shows this until its first run records the config files)\n",
    )


def test_verify_names_a_disabled_guard_trigger_on_postgresql(
    postgres_url: str, clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    # PostgreSQL only: SQLite cannot disable a trigger, only drop it (tested above).
    store = Store.open(postgres_url, clock=clock)
    append_four(store, clock)
    with store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE audit_records DISABLE TRIGGER audit_records_no_change"))

    try:
        assert verify(postgres_url, capsys) == (
            1,
            "audit chain broken: guard trigger audit_records_no_change is disabled\n",
        )
    finally:
        store.close()


def test_a_record_rewritten_with_a_fresh_hash_breaks_the_next_link(
    store: Store, clock: ManualClock
) -> None:
    append_four(store, clock)
    forged = store.audit_records()[1]
    forged_hash = type(forged)(
        **{**{f: getattr(forged, f) for f in forged.__slots__}, "actor": "mallory"}
    ).expected_hash()
    as_database_admin(
        store, f"UPDATE audit_records SET actor = 'mallory', hash = '{forged_hash}' WHERE id = 2"
    )

    verdict = verify_chain(store.iter_audit_records(chunk_size=3))

    assert verdict.first_break == (
        "record 3: prev_hash does not match record 2's hash "
        "(record 2 or 3 was rewritten, hash and all)"
    )
    assert verdict.records == 2


def test_concurrent_appenders_extend_one_chain(database_url: str) -> None:
    stores = [Store.open(database_url) for _ in range(4)]
    handed_out = iter(stores)

    def append_many() -> None:
        store = next(handed_out)
        for n in range(15):
            store.append_audit(AuditEntry("run", "erp_posted", f"txn {n}"))

    try:
        at_once(append_many, workers=4)
        records = list(stores[0].iter_audit_records())
    finally:
        for store in stores:
            store.close()

    assert [r.id for r in records] == list(range(1, 61))
    assert verify_chain(records).intact


def test_config_files_are_recorded_when_their_hash_changes(store: Store, tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "posting.yaml").write_text("max_attempts: 3\n")
    (config / "modes.yaml").write_text("default: live\n")

    first = record_config_changes(store, actor="sync-platform", folder=config)
    again = record_config_changes(store, actor="sync-platform", folder=config)
    (config / "posting.yaml").write_text("max_attempts: 5\n")
    (config / "modes.yaml").unlink()
    changed = record_config_changes(store, actor="sync-platform", folder=config)

    assert [(r.action, r.subject, r.reason) for r in first] == [
        ("config_changed", "config/modes.yaml", "first recorded"),
        ("config_changed", "config/posting.yaml", "first recorded"),
    ]
    assert again == []
    assert [(r.action, r.subject) for r in changed] == [
        ("config_changed", "config/posting.yaml"),
        ("config_removed", "config/modes.yaml"),
    ]
    assert changed[0].details["previous_sha256"] == first[1].details["sha256"]
    assert changed[0].details["sha256"] != first[1].details["sha256"]


def test_details_must_survive_the_database_unchanged(store: Store) -> None:
    with pytest.raises(StoreError, match="float"):
        store.append_audit(AuditEntry("ana", "erp_posted", "txn 1", details={"amount": 1.5}))
    with pytest.raises(StoreError, match="non-blank actor"):
        store.append_audit(AuditEntry(" ", "erp_posted", "txn 1"))

    assert store.audit_records() == []
