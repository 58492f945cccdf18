"""The working state of identity resolution: which records form one account so far.

An account holds at most one record per system. Two accounts are joined only when nothing
speaks against it; whatever does is kept as a finding for ``AmbiguousMatch``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sync_platform.customers.model import SYSTEMS, System

RecordKey = tuple[System, str]

_ANCHOR_ORDER: tuple[System, ...] = ("billing", "crm", "erp")
_RULE_LABELS = {
    "explicit": "stated links",
    "tax_id": "a valid tax registration",
    "domain": "web/email domain",
}


@dataclass
class Account:
    canonical_id: str | None  # set when a cross-reference already names the account
    members: dict[System, str]
    rules: list[str] = field(default_factory=list)

    def record_keys(self) -> list[RecordKey]:
        return [(system, self.members[system]) for system in SYSTEMS if system in self.members]

    def anchor(self) -> RecordKey:
        """The record a new canonical id is derived from: billing, else CRM, else ERP."""
        system = next(system for system in _ANCHOR_ORDER if system in self.members)
        return (system, self.members[system])

    def match_rule(self) -> str:
        return "+".join(dict.fromkeys(self.rules)) or "single"


class Accounts:
    def __init__(self) -> None:
        self._account_of: dict[RecordKey, Account] = {}
        # (record, system): the record may not be linked to any record of that system,
        # because a rule found it ambiguous there.
        self._barred: set[tuple[RecordKey, System]] = set()
        self.findings: list[dict[str, Any]] = []

    def add_existing(self, canonical_id: str, members: dict[System, str], rule: str) -> None:
        # The link's own rule is kept, so a link nothing adds to comes back unchanged.
        rules = [] if rule == "single" else rule.split("+")
        account = Account(canonical_id, dict(members), rules)
        for key in account.record_keys():
            if key in self._account_of:
                held = self._account_of[key].canonical_id
                raise ValueError(f"{key[0]} record {key[1]} is in both {held} and {canonical_id}")
            self._account_of[key] = account

    def add_record(self, key: RecordKey) -> None:
        if key not in self._account_of:
            self._account_of[key] = Account(None, {key[0]: key[1]})

    def account_of(self, key: RecordKey) -> Account:
        return self._account_of[key]

    def all(self) -> Iterator[Account]:
        seen: set[int] = set()
        for account in self._account_of.values():
            if id(account) not in seen:
                seen.add(id(account))
                yield account

    def report(self, subject: RecordKey, candidates: Iterable[RecordKey], reason: str) -> None:
        ordered = tuple(sorted(candidates))
        self.findings.append(
            {
                "subject_system": subject[0],
                "subject_id": subject[1],
                "candidates": ordered,
                "reason": reason,
            }
        )
        for candidate in ordered:
            self._barred.add((subject, candidate[0]))
            self._barred.add((candidate, subject[0]))

    def link_unique(
        self, rule: str, left: System, right: System, pairs: Iterable[tuple[str, str]]
    ) -> None:
        """Join each left and right record that are one another's only candidate."""
        open_pairs = {
            (left_id, right_id)
            for left_id, right_id in pairs
            if self._is_open((left, left_id), right) and self._is_open((right, right_id), left)
        }
        of_left = _candidates(open_pairs)
        of_right = _candidates((right_id, left_id) for left_id, right_id in open_pairs)
        self._report_several(rule, left, right, of_left)
        self._report_several(rule, right, left, of_right)
        for left_id, right_ids in sorted(of_left.items()):
            right_id = min(right_ids)
            if len(right_ids) == 1 and of_right[right_id] == {left_id}:
                self._join(rule, (left, left_id), (right, right_id))

    def _is_open(self, key: RecordKey, system: System) -> bool:
        account = self._account_of.get(key)
        if account is None or system in account.members:
            return False
        return not any((member, system) in self._barred for member in account.record_keys())

    def _report_several(
        self, rule: str, subject: System, other: System, candidates: dict[str, set[str]]
    ) -> None:
        for subject_id, other_ids in sorted(candidates.items()):
            if len(other_ids) > 1:
                reason = f"{len(other_ids)} {other} records match by {_RULE_LABELS[rule]}"
                self.report((subject, subject_id), [(other, i) for i in other_ids], reason)

    def _join(self, rule: str, left: RecordKey, right: RecordKey) -> None:
        first, second = self._account_of[left], self._account_of[right]
        problem = self._why_not_join(first, second)
        if problem:
            self.report(left, [right], f"matches by {_RULE_LABELS[rule]} but {problem}")
            return
        joined = Account(
            first.canonical_id or second.canonical_id,
            {**first.members, **second.members},
            [*first.rules, *second.rules, rule],
        )
        for key in joined.record_keys():
            self._account_of[key] = joined

    def _why_not_join(self, first: Account, second: Account) -> str | None:
        if first.canonical_id and second.canonical_id:
            return (
                f"both already have canonical customers ({first.canonical_id}, "
                f"{second.canonical_id}); merge them by hand if they are one company"
            )
        for system in SYSTEMS:
            if system in first.members and system in second.members:
                return (
                    f"they are linked to different {system} records "
                    f"({first.members[system]}, {second.members[system]})"
                )
        for key in first.record_keys():
            if any((key, system) in self._barred for system in second.members):
                return f"{key[0]} record {key[1]} is ambiguous there"
        for key in second.record_keys():
            if any((key, system) in self._barred for system in first.members):
                return f"{key[0]} record {key[1]} is ambiguous there"
        return None


def _candidates(pairs: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for subject_id, other_id in pairs:
        found.setdefault(subject_id, set()).add(other_id)
    return found
