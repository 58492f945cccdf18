"""The stages a financial transaction moves through on its way into the ERP.

The happy path is received -> validated -> posted -> reconciled. A transaction that cannot be
posted yet is failed (and retried, or replayed by an operator after a fix) or dead-lettered
(replayed only); one that must not be posted (a void invoice) is skipped, and received again
if it changes. ``ALLOWED`` is the whole rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal, get_args

Stage = Literal[
    "received",
    "validated",
    "posted",
    "reconciled",
    "failed",
    "retried",
    "dead_lettered",
    "replayed",
    "skipped",
]
STAGES: tuple[Stage, ...] = get_args(Stage)

# Current stage -> the stages it may move to.
ALLOWED: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "received": frozenset({"received", "validated", "failed", "dead_lettered", "skipped"}),
        "validated": frozenset({"posted", "failed", "dead_lettered", "skipped"}),
        "failed": frozenset({"retried", "replayed", "dead_lettered"}),
        "retried": frozenset({"validated", "posted", "failed", "dead_lettered", "skipped"}),
        "dead_lettered": frozenset({"replayed"}),
        "replayed": frozenset({"validated", "posted", "failed", "dead_lettered", "skipped"}),
        "posted": frozenset({"reconciled"}),
        "reconciled": frozenset(),
        "skipped": frozenset({"received"}),
    }
)

# Moves that count as an attempt to post: the ERP was asked, or we gave up asking.
COUNTED_AS_ATTEMPT = frozenset({"posted", "failed", "dead_lettered"})

# Once in the ERP, a transaction's content is fixed: a later change needs a new document.
IN_ERP = frozenset({"posted", "reconciled"})


class TransitionError(ValueError):
    """A transaction cannot move from its current stage to the requested one."""

    def __init__(self, current: str, new: str, txn_id: str | None = None) -> None:
        self.current = current
        self.new = new
        self.txn_id = txn_id
        refusal = describe_refusal(current, new)
        super().__init__(refusal if txn_id is None else f"transaction {txn_id!r}: {refusal}")


def describe_refusal(current: str, new: str) -> str:
    if new not in ALLOWED:
        return f"{new!r} is not a stage; the stages are {', '.join(STAGES)}"
    if current not in ALLOWED:
        return f"{current!r} is not a stage; the stages are {', '.join(STAGES)}"
    onward = ", ".join(s for s in STAGES if s in ALLOWED[current]) or "nothing (it is final)"
    return f"a {current} transaction cannot move to {new}; it may move to: {onward}"


def check_transition(current: str, new: str) -> None:
    """Raise ``TransitionError`` unless a transaction in stage ``current`` may move to ``new``."""
    if new not in ALLOWED.get(current, frozenset()):
        raise TransitionError(current, new)
