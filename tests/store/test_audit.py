"""The audit trail: a hash chain the database will not let anyone change, whose every edit or
deletion (by someone who can switch that off) `sync-platform audit verify` finds."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from store_testing import ManualClock, at_once

from sync_platform.audit import record_config_changes, verify_chain
from sync_platform.cli import main
from sync_platform.store import AuditEntry, Store, StoreError
from sync_platform.store.audit import GENESIS_HASH


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
    """Run ``statements`` with the append-only triggers out of the way, as someone with the
    database's admin rights could."""
    with store.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_records DISABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER audit_records_no_update"))
            conn.execute(text("DROP TRIGGER audit_records_no_delete"))
        for statement in statements:
            conn.execute(text(statement))


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
