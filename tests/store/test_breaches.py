"""Check breaches: one per failing stretch of a (check, asset, partition), applied once and in
order whatever the sensor re-reads, and announced only once per notice."""

from __future__ import annotations

from datetime import UTC, datetime

from sync_platform.store import BreachCounts, CheckEvaluation, Store

AT = datetime(2026, 11, 3, 2, 5, tzinfo=UTC)


def evaluation(
    event_id: int,
    passed: bool,
    partition: str = "2026-11-02|emea",
    check: str = "sla",
    skipped: bool = False,
) -> CheckEvaluation:
    return CheckEvaluation(
        event_id=event_id,
        check_name=check,
        asset_key="erp/invoice_postings",
        partition=partition,
        passed=passed,
        evaluated_at=AT,
        details={"count": 0 if passed else 2, "records": ["in_1", "in_2"]},
        skipped=skipped,
    )


def test_a_breach_opens_once_and_recovers_on_the_next_pass(store: Store) -> None:
    counts = store.record_check_evaluations([evaluation(10, False), evaluation(12, False)])
    assert counts == BreachCounts(opened=1, recovered=0, unchanged=1)
    (breach,) = store.breaches()
    assert (breach.status, breach.opened_event_id, breach.last_event_id) == ("open", 10, 12)
    assert breach.details == {"count": 2, "records": ["in_1", "in_2"]}
    assert breach.pending_notice == "opened"

    assert store.record_check_evaluations([evaluation(15, True)]).recovered == 1
    (breach,) = store.breaches()
    assert (breach.status, breach.recovered_at) == ("recovered", AT)

    # A new failure of the same identity is a new breach.
    store.record_check_evaluations([evaluation(20, False)])
    assert [b.status for b in store.breaches()] == ["recovered", "open"]


def test_reading_the_same_or_older_evaluations_again_changes_nothing(store: Store) -> None:
    store.record_check_evaluations([evaluation(10, False), evaluation(15, True)])
    before = store.breaches()

    again = store.record_check_evaluations([evaluation(10, False), evaluation(15, True)])
    late = store.record_check_evaluations([evaluation(11, False)])  # committed late, older

    assert again == BreachCounts(unchanged=2)
    assert late == BreachCounts(unchanged=1)
    assert store.breaches() == before


def test_identities_are_separate_and_a_pass_with_nothing_open_is_nothing(store: Store) -> None:
    counts = store.record_check_evaluations(
        [
            evaluation(1, True),
            evaluation(2, False, partition="2026-11-02|na"),
            evaluation(3, False, check="other"),
        ]
    )
    assert counts == BreachCounts(opened=2, recovered=0, unchanged=1)
    assert [(b.check_name, b.partition) for b in store.breaches("open")] == [
        ("sla", "2026-11-02|na"),
        ("other", "2026-11-02|emea"),
    ]


def test_a_skipped_evaluation_neither_recovers_nor_opens_a_breach(store: Store) -> None:
    store.record_check_evaluations([evaluation(1, False)])
    # The region left live mode: the check passes with "skipped", which is no recovery.
    skipped = store.record_check_evaluations([evaluation(2, True, skipped=True)])
    assert skipped == BreachCounts(unchanged=1)
    (breach,) = store.breaches()
    assert (breach.status, breach.last_event_id) == ("open", 1)

    other = "2026-11-02|na"
    assert store.record_check_evaluations([evaluation(3, True, other, skipped=True)]) == (
        BreachCounts(unchanged=1)
    )
    assert [b.partition for b in store.breaches()] == ["2026-11-02|emea"]

    assert store.record_check_evaluations([evaluation(4, True)]).recovered == 1


def test_notices_are_pending_until_marked_and_marked_once(store: Store) -> None:
    store.record_check_evaluations([evaluation(1, False)])
    (pending,) = store.pending_breach_notices()

    store.record_breach_delivery_failure(pending.id, "HTTP 500")
    (still,) = store.pending_breach_notices()
    assert (still.delivery_attempts, still.last_delivery_error) == (1, "HTTP 500")

    assert store.mark_breach_notified(pending.id, "opened") is True
    assert store.mark_breach_notified(pending.id, "opened") is False
    assert store.pending_breach_notices() == []

    store.record_check_evaluations([evaluation(2, True)])
    (recovered,) = store.pending_breach_notices()
    assert recovered.pending_notice == "recovered"
    assert store.mark_breach_notified(recovered.id, "recovered") is True
    assert store.pending_breach_notices() == []
    assert store.breaches()[0].last_delivery_error is None


def test_a_breach_that_recovered_before_any_alert_got_through_is_one_notice(
    store: Store,
) -> None:
    store.record_check_evaluations([evaluation(1, False), evaluation(2, True)])
    (breach,) = store.pending_breach_notices()
    assert breach.pending_notice == "opened_and_recovered"
    assert store.mark_breach_notified(breach.id, "opened_and_recovered") is True
    assert store.pending_breach_notices() == []
