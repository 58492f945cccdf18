"""Typed store errors; each message says what was wrong and what to do about it."""

from __future__ import annotations

from sync_platform.transactions.lifecycle import TransitionError


class StoreError(Exception):
    """Base of every error the integration store raises."""


class NaiveDatetimeError(StoreError, ValueError):
    """A datetime without a timezone reached the store, which keeps only UTC instants."""

    def __init__(self, value: object) -> None:
        super().__init__(
            f"naive datetime {value!r}: the store keeps timezone-aware UTC instants; "
            "pass e.g. datetime.now(UTC) or value.replace(tzinfo=UTC) if it is UTC already"
        )


class DuplicateExternalId(StoreError):
    """An external id is already mapped to another canonical customer."""

    def __init__(self, system: str, external_id: str, existing_canonical_id: str) -> None:
        self.system = system
        self.external_id = external_id
        self.existing_canonical_id = existing_canonical_id
        super().__init__(
            f"{system} id {external_id!r} already belongs to canonical customer "
            f"{existing_canonical_id!r}; merge or unlink that customer first, "
            "the store never re-points an external id silently"
        )


class UnknownCanonicalId(StoreError):
    """A canonical record names a customer that has no cross-reference row."""

    def __init__(self, canonical_ids: list[str]) -> None:
        self.canonical_ids = canonical_ids
        shown = ", ".join(repr(c) for c in canonical_ids[:5])
        super().__init__(
            f"no cross-reference for canonical customer(s) {shown}; save_xref() them first"
        )


class ReviewError(StoreError):
    """A review cannot make the requested transition, or the decision is incomplete."""


class ReviewNotFound(ReviewError, LookupError):
    def __init__(self, review_id: int) -> None:
        self.review_id = review_id
        super().__init__(f"review {review_id} does not exist")


class LedgerError(StoreError):
    """A write-ledger entry is missing or cannot make the requested transition."""


class TransactionNotFound(StoreError, LookupError):
    def __init__(self, txn_id: str) -> None:
        self.txn_id = txn_id
        super().__init__(f"transaction {txn_id!r} does not exist; receive_transactions() it first")


class InvalidTransition(StoreError, TransitionError):
    """The lifecycle does not allow the move; ``txn_id``, ``current`` and ``new`` say which."""
