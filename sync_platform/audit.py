"""The audit trail above the store: checking the hash chain, and noticing config changes.

What is recorded (each record names who, and why where there is a why):

- ``erp_posted``: every ERP posting, in the database transaction that records it;
- ``review_approved`` / ``review_rejected`` / ``review_applied`` / ``review_superseded``:
  every approval decision and what became of it;
- ``replay_requested``: every replay, by whom and with what note, and what it selected;
- ``config_changed`` / ``config_removed``: a ``config/`` file whose sha256 differs from the
  last one recorded, checked when a Dagster run opens the store and before a command-line
  replay, i.e. before anything is posted under the new configuration.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sync_platform.settings import config_dir
from sync_platform.store import AuditEntry, AuditRecord, Store
from sync_platform.store.audit import GENESIS_HASH, GUARD_TRIGGERS

if TYPE_CHECKING:
    from sync_platform.transactions.flow import ReplaySelection


@dataclass(frozen=True)
class ChainVerdict:
    """What walking the chain found: how many records, the head, and the first break; and
    what else shows the trail cannot be trusted (a guard trigger gone, postings unrecorded)."""

    records: int
    head_id: int
    head_hash: str
    first_break: str | None = None
    other_breaks: tuple[str, ...] = ()

    @property
    def intact(self) -> bool:
        return self.first_break is None and not self.other_breaks

    def describe(self) -> str:
        if self.intact:
            return f"audit chain intact: {self.records} records"
        breaks = [self.first_break] if self.first_break is not None else []
        return "\n".join(f"audit chain broken: {b}" for b in [*breaks, *self.other_breaks])


def verify_store(store: Store) -> ChainVerdict:
    """The chain, the triggers that guard it, and that every posting since the first record
    has its record (what the chain alone cannot show: its newest records cut off, or all of
    them)."""
    chain = verify_chain(store.iter_audit_records())
    breaks = guard_breaks(store.audit_guard_states(), GUARD_TRIGGERS[store.engine.dialect.name])
    unaudited = store.first_unaudited_posting()
    if unaudited is not None:
        at = unaudited.at.isoformat()
        if chain.records == 0 and chain.first_break is None:
            breaks.append(
                f"the audit table is empty but postings exist (the first: {unaudited.txn_id} "
                f"at {at}): the table was wiped (a store upgraded from before the audit trail "
                "shows this until its first run records the config files)"
            )
        else:
            breaks.append(
                f"posting of {unaudited.txn_id} at {at} has no audit record: records were "
                "deleted from the end of the chain (or the table was wiped)"
            )
    return replace(chain, other_breaks=tuple(breaks))


def guard_breaks(found: Mapping[str, bool], expected: Iterable[str]) -> list[str]:
    """A break for each guard trigger missing or disabled."""
    return [
        f"guard trigger {name} is {'missing' if name not in found else 'disabled'}"
        for name in expected
        if not found.get(name, False)
    ]


def verify_chain(records: Iterable[AuditRecord]) -> ChainVerdict:
    """Walk ``records`` in id order: ids must run 1, 2, 3... with no gap, each hash must match
    its record's contents, and each prev_hash the hash of the record before. Stops at the first
    break. (Removing the newest records leaves a shorter chain that is intact: compare the head
    with one kept elsewhere to notice that.)"""
    count, last_id, last_hash = 0, 0, GENESIS_HASH
    for record in records:
        problem = _break_at(record, last_id, last_hash)
        if problem is not None:
            return ChainVerdict(count, last_id, last_hash, problem)
        count, last_id, last_hash = count + 1, record.id, record.hash
    return ChainVerdict(count, last_id, last_hash)


def _break_at(record: AuditRecord, last_id: int, last_hash: str) -> str | None:
    if record.id != last_id + 1:
        missing = (
            f"record {last_id + 1} is"
            if record.id == last_id + 2
            else f"records {last_id + 1}-{record.id - 1} are"
        )
        before = f"follows {last_id}" if last_id else "is the first"
        return f"record {record.id} {before}: {missing} missing (deleted)"
    if record.hash != record.expected_hash():
        return f"record {record.id}: hash does not match its contents (edited)"
    if record.prev_hash != last_hash:
        if not last_id:
            return f"record {record.id}: prev_hash is not the chain's start (rewritten)"
        return (
            f"record {record.id}: prev_hash does not match record {last_id}'s hash "
            f"(record {last_id} or {record.id} was rewritten, hash and all)"
        )
    return None


REPLAY_NOTE = re.compile(r"replay by (?P<by>[^:]+): (?P<note>.+)", re.DOTALL)


def replay_requester(by: str | None, note: str) -> tuple[str, str]:
    """(who, why) of a replay: ``by`` and ``note``, or read from a note of the form
    "replay by <who>: <why>". A replay nobody answers for is refused."""
    if by is None:
        named = REPLAY_NOTE.fullmatch(note.strip())
        if named is None:
            raise ValueError(
                f"a replay needs who asks for it: pass by=..., or a note that reads "
                f"'replay by <who>: <why>' (got {note!r})"
            )
        by, note = named["by"], named["note"]
    if not by.strip() or not note.strip():
        raise ValueError(f"a replay needs a non-blank who and why (by={by!r}, note={note!r})")
    return by.strip(), note.strip()


def replay_entry(
    selection: ReplaySelection,
    txn_ids: Iterable[str],
    *,
    by: str,
    note: str,
) -> AuditEntry:
    """The record of a replay: who asked, why, the filter, and the transactions it took."""
    filters: dict[str, Any] = {
        "reason": selection.reason,
        "region": selection.region,
        "since": selection.since.isoformat() if selection.since else None,
        "txn_ids": list(selection.txn_ids) if selection.txn_ids is not None else None,
    }
    named = ", ".join(f"{k}={_shown(v)}" for k, v in filters.items() if v is not None)
    return AuditEntry(
        actor=by,
        action="replay_requested",
        subject=f"open exceptions ({named or 'all'})",
        reason=note,
        details={
            "selection": filters,
            "transactions": sorted(txn_ids),
        },
    )


def _shown(value: Any) -> str:
    """A filter value for the record's subject (the details keep every id)."""
    if not isinstance(value, list):
        return str(value)
    return str(value[0]) if len(value) == 1 else f"{len(value)} ids"


def config_file_hashes(folder: Path | None = None) -> dict[str, str]:
    """``config/<relative path>`` → sha256 of the file's bytes, for every file in the folder
    (``SYNC_CONFIG_DIR`` or the repository's ``config/``)."""
    root = folder or config_dir()
    return {
        f"config/{path.relative_to(root).as_posix()}": hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def record_config_changes(
    store: Store,
    *,
    actor: str,
    details: Mapping[str, Any] | None = None,
    folder: Path | None = None,
) -> list[AuditRecord]:
    """Audit the config files that changed since they were last recorded (nothing when none
    did). ``actor`` is whoever noticed: who edited a file is not knowable from here."""
    root = folder or config_dir()
    if not root.is_dir():
        return []  # nothing can run without it: loading any config file fails and says so
    noticed = {"folder": str(root.resolve()), **(details or {})}
    return store.record_config_hashes(config_file_hashes(root), actor=actor, details=noticed)
