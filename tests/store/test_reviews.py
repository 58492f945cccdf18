"""Reviews: idempotent by dedupe key; decided once, by someone, for a reason."""

from __future__ import annotations

import pytest
from store_testing import ManualClock

from sync_platform.store import Review, ReviewError, ReviewNotFound, Store


def open_name_change(store: Store, dedupe_key: str = "change:cust_a:r2") -> Review:
    return store.open_review(
        region="emea",
        kind="change_policy",
        subject="cust_a",
        summary="Legal name Acme AG -> Acme Holding AG",
        payload={"erp_changes": {"displayName": "Acme Holding AG"}},
        dedupe_key=dedupe_key,
    )


def test_a_review_opens_pending(store: Store, clock: ManualClock) -> None:
    review = open_name_change(store)

    assert (review.status, review.kind, review.created_at) == (
        "pending",
        "change_policy",
        clock.now,
    )
    assert review.payload == {"erp_changes": {"displayName": "Acme Holding AG"}}
    assert store.review(review.id) == review


def test_opening_again_with_the_same_dedupe_key_returns_the_existing_review(
    store: Store,
) -> None:
    first = open_name_change(store)
    store.decide(first.id, approve=False, by="finance@example.com", reason="wrong entity")

    again = open_name_change(store)

    assert (again.id, again.status) == (first.id, "rejected")
    assert len(store.reviews()) == 1


def test_approve_then_apply(store: Store, clock: ManualClock) -> None:
    review = open_name_change(store)
    decided_at = clock.advance()

    approved = store.decide(review.id, approve=True, by="finance@example.com", reason="checked")
    applied = store.mark_applied(review.id)

    assert (approved.status, approved.decided_by, approved.reason) == (
        "approved",
        "finance@example.com",
        "checked",
    )
    assert approved.decided_at == decided_at
    assert (applied.status, applied.applied_at) == ("applied", decided_at)


def test_a_decided_review_cannot_be_decided_again(store: Store) -> None:
    review = open_name_change(store)
    store.decide(review.id, approve=True, by="anna", reason="ok")

    with pytest.raises(ReviewError, match=rf"cannot reject review {review.id} .* it is approved"):
        store.decide(review.id, approve=False, by="ben", reason="changed my mind")


@pytest.mark.parametrize(("by", "reason"), [("", "ok"), ("anna", "  ")])
def test_a_decision_needs_a_name_and_a_reason(store: Store, by: str, reason: str) -> None:
    review = open_name_change(store)

    with pytest.raises(ReviewError, match="non-blank"):
        store.decide(review.id, approve=True, by=by, reason=reason)
    assert store.review(review.id).status == "pending"


def test_only_an_approved_review_can_be_applied(store: Store) -> None:
    review = open_name_change(store)

    with pytest.raises(ReviewError, match="it is pending, and only a review that is approved"):
        store.mark_applied(review.id)


def test_supersede_retires_open_reviews_but_not_applied_ones(store: Store) -> None:
    pending = open_name_change(store, "k1")
    applied = open_name_change(store, "k2")
    store.decide(applied.id, approve=True, by="anna", reason="ok")
    store.mark_applied(applied.id)

    assert store.supersede(pending.id).status == "superseded"
    with pytest.raises(ReviewError, match="it is applied"):
        store.supersede(applied.id)


def test_filters_and_unknown_ids(store: Store) -> None:
    open_name_change(store, "k1")
    store.open_review("na", "identity", "billing:cus_x", "Match?", {}, "k2")

    assert [r.dedupe_key for r in store.reviews(kind="identity")] == ["k2"]
    assert [r.dedupe_key for r in store.reviews(status="pending", region="emea")] == ["k1"]
    with pytest.raises(ReviewNotFound, match="review 999 does not exist"):
        store.review(999)
    with pytest.raises(ReviewError, match="kind 'merge'"):
        store.open_review("na", "merge", "x", "y", {}, "k3")
