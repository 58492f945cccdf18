"""The transaction lifecycle: which stage may follow which, and what a refusal says."""

from __future__ import annotations

from itertools import pairwise

import pytest

from sync_platform.transactions.lifecycle import (
    ALLOWED,
    STAGES,
    TransitionError,
    check_transition,
)

HAPPY_PATH = ["received", "validated", "posted", "reconciled"]


def test_every_stage_has_a_rule_and_every_rule_names_stages() -> None:
    assert set(ALLOWED) == set(STAGES)
    for onward in ALLOWED.values():
        assert onward <= set(STAGES)


def test_the_happy_path_is_allowed() -> None:
    for current, new in pairwise(HAPPY_PATH):
        check_transition(current, new)


@pytest.mark.parametrize(
    ("current", "new"),
    [
        ("failed", "retried"),
        ("failed", "replayed"),
        ("retried", "posted"),
        ("replayed", "validated"),
        ("dead_lettered", "replayed"),
        ("skipped", "received"),
        ("received", "received"),
    ],
)
def test_recovery_moves_are_allowed(current: str, new: str) -> None:
    check_transition(current, new)


@pytest.mark.parametrize(
    ("current", "new"),
    [
        ("received", "posted"),  # never posted unvalidated
        ("posted", "failed"),  # in the ERP: only reconciliation follows
        ("posted", "posted"),  # a second posting would duplicate the document
        ("dead_lettered", "retried"),  # only an operator's replay revives it
        ("failed", "posted"),  # a retry or replay comes first
        ("reconciled", "received"),
    ],
)
def test_other_moves_are_refused(current: str, new: str) -> None:
    with pytest.raises(TransitionError) as refused:
        check_transition(current, new)

    assert (refused.value.current, refused.value.new) == (current, new)


def test_a_refusal_says_where_the_transaction_may_go() -> None:
    with pytest.raises(
        TransitionError,
        match="a validated transaction cannot move to reconciled; it may move to: "
        "posted, failed, dead_lettered, skipped",
    ):
        check_transition("validated", "reconciled")


def test_a_refusal_from_a_final_stage_says_it_is_final() -> None:
    with pytest.raises(TransitionError, match=r"nothing \(it is final\)"):
        check_transition("reconciled", "posted")


def test_a_refusal_can_name_the_transaction() -> None:
    error = TransitionError("posted", "failed", txn_id="billing:invoice:in_1")

    assert str(error).startswith("transaction 'billing:invoice:in_1': a posted transaction")


@pytest.mark.parametrize(("current", "new"), [("received", "sent"), ("draft", "received")])
def test_an_unknown_stage_is_refused_with_the_list_of_stages(current: str, new: str) -> None:
    with pytest.raises(TransitionError, match="is not a stage; the stages are received, "):
        check_transition(current, new)
