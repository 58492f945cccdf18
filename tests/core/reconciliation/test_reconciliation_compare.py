"""Billing against the ERP: totals per kind and currency, their differences and the drift list;
the same answer whole or a key range at a time."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync_platform.reconciliation.compare import (
    Drift,
    Totals,
    aligned_chunks,
    billing_frame,
    erp_frame,
    reconcile,
    reconcile_sorted,
)
from sync_platform.reconciliation.daily import drift_table, match_key, numeric_metadata


def billed(kind: str, billing_id: str, amount: int, currency: str = "EUR") -> dict[str, Any]:
    return {
        "kind": kind,
        "key": match_key(kind, billing_id),
        "billing_id": billing_id,
        "currency": currency,
        "amount": amount,
    }


def posted(kind: str, key: str, number: str, amount: int, currency: str = "EUR") -> dict[str, Any]:
    return {
        "kind": kind,
        "key": key,
        "document_number": number,
        "currency": currency,
        "amount": amount,
    }


def issues(drift: tuple[Drift, ...]) -> dict[tuple[str, str | None, str | None], str]:
    return {(d.kind, d.billing_id, d.erp_document_number): d.issue for d in drift}


def test_everything_posted_once_with_its_amount_is_clean() -> None:
    billing = billing_frame(
        [
            billed("invoice", "in_1", 12_100),
            billed("invoice", "in_2", 5_000, "USD"),
            billed("payment", "ch_1", 12_100),
            billed("credit_note", "cn_1", 1_000),
        ]
    )
    erp = erp_frame(
        [
            posted("invoice", "IN_1", "PSI-1", 12_100),
            posted("invoice", "IN_2", "PSI-2", 5_000, "USD"),
            posted("payment", "CH_1", "CH_1", 12_100),
            posted("credit_note", "CN_1", "PSCM-1", 1_000),
        ]
    )
    result = reconcile(billing, erp)
    assert result.clean
    assert result.drift == () and result.drift_count == 0
    assert result.totals == (
        Totals("credit_note", "EUR", 1, 1_000, 1, 1_000),
        Totals("invoice", "EUR", 1, 12_100, 1, 12_100),
        Totals("invoice", "USD", 1, 5_000, 1, 5_000),
        Totals("payment", "EUR", 1, 12_100, 1, 12_100),
    )


def test_each_kind_of_drift_names_the_record_and_what_differs() -> None:
    billing = billing_frame(
        [
            billed("invoice", "in_missing", 1_000),
            billed("invoice", "in_edited", 2_000),
            billed("invoice", "in_twice", 3_000),
            billed("invoice", "in_currency", 4_000),
            billed("payment", "ch_ok", 500),
        ]
    )
    erp = erp_frame(
        [
            posted("invoice", "IN_EDITED", "PSI-2", 2_500),
            posted("invoice", "IN_TWICE", "PSI-3", 3_000),
            posted("invoice", "IN_TWICE", "PSI-4", 3_000),
            posted("invoice", "IN_CURRENCY", "PSI-5", 4_000, "GBP"),
            posted("invoice", "#PSI-9", "PSI-9", 700),  # typed into the ERP by hand
            posted("payment", "CH_OK", "CH_OK", 500),
        ]
    )
    result = reconcile(billing, erp)
    assert issues(result.drift) == {
        ("invoice", "in_missing", None): "missing_in_erp",
        ("invoice", "in_edited", "PSI-2"): "amount_differs",
        ("invoice", "in_twice", "PSI-3, PSI-4"): "posted_twice",
        ("invoice", "in_currency", "PSI-5"): "currency_differs",
        ("invoice", None, "PSI-9"): "not_billed",
    }
    edited = next(d for d in result.drift if d.issue == "amount_differs")
    assert (edited.billing_amount, edited.erp_amount, edited.currency) == (2_000, 2_500, "EUR")
    assert edited.describe() == "amount differs: billing 2000, ERP 2500 EUR"
    twice = next(d for d in result.drift if d.issue == "posted_twice")
    assert (twice.billing_amount, twice.erp_amount) == (3_000, 6_000)
    assert result.drift_count == 5
    assert result.drift_by_issue == {
        "missing_in_erp": 1,
        "not_billed": 1,
        "amount_differs": 1,
        "currency_differs": 1,
        "posted_twice": 1,
    }
    assert not result.clean


def test_totals_and_their_differences_per_currency() -> None:
    billing = billing_frame([billed("invoice", f"in_{i}", 1_000) for i in range(3)])
    erp = erp_frame(
        [posted("invoice", "IN_0", "PSI-0", 1_000), posted("invoice", "IN_1", "PSI-1", 1_250)]
    )
    (totals,) = reconcile(billing, erp).totals
    assert (totals.billing_count, totals.billing_amount) == (3, 3_000)
    assert (totals.erp_count, totals.erp_amount) == (2, 2_250)
    assert (totals.count_difference, totals.amount_difference) == (-1, -750)
    metadata = numeric_metadata(reconcile(billing, erp))
    assert metadata["invoices.EUR.count_difference"] == -1
    assert metadata["invoices.EUR.amount_difference"] == -750
    assert metadata["drift.missing_in_erp"] == 1
    assert metadata["drift.posted_twice"] == 0
    assert all(isinstance(v, int) for v in metadata.values())


def test_a_payment_is_matched_by_the_document_number_its_billing_id_gives() -> None:
    charge = "ch_3QabcdefghijklmnopqrstUV"
    assert match_key("payment", charge) == charge[-20:].upper()
    assert match_key("invoice", "in_1Qab") == "IN_1QAB"
    billing = billing_frame([billed("payment", charge, 900)])
    erp = erp_frame([posted("payment", charge[-20:].upper(), charge[-20:].upper(), 900)])
    assert reconcile(billing, erp).clean


def test_the_drift_table_shows_the_first_records_and_says_how_many_more() -> None:
    billing = billing_frame([billed("invoice", f"in_{i:03d}", 100) for i in range(25)])
    result = reconcile(billing, erp_frame())
    table = drift_table(result, rows=20)
    assert table.count("| invoice | in_") == 20
    assert "5 more not shown" in table
    assert "No drift" in drift_table(reconcile(billing_frame(), erp_frame()))


def test_only_the_first_drift_records_are_kept_but_all_are_counted() -> None:
    billing = billing_frame([billed("invoice", f"in_{i:03d}", 100) for i in range(50)])
    result = reconcile(billing, erp_frame(), drift_limit=10)
    assert len(result.drift) == 10 and result.drift_count == 50
    assert [d.billing_id for d in result.drift] == [f"in_{i:03d}" for i in range(10)]


def test_a_key_split_across_frames_stays_in_one_chunk() -> None:
    billing = [billing_frame([billed("invoice", "a", 1), billed("invoice", "b", 1)])]
    erp = [
        erp_frame([posted("invoice", "A", "1", 1), posted("invoice", "B", "2", 1)]),
        erp_frame([posted("invoice", "B", "3", 1), posted("invoice", "C", "4", 1)]),
    ]
    chunks = list(aligned_chunks(billing, erp))
    assert len(chunks) > 1
    with_b = [(list(b["key"]), list(e["key"])) for b, e in chunks if "B" in set(e["key"])]
    assert len(with_b) == 1  # both ERP rows of B and the billing row with them
    assert with_b[0][1].count("B") == 2 and "B" in with_b[0][0]
    result = reconcile_sorted(billing, erp)
    assert issues(result.drift) == {
        ("invoice", "b", "2, 3"): "posted_twice",
        ("invoice", None, "4"): "not_billed",
    }


def test_an_unsorted_stream_is_refused() -> None:
    billing = [billing_frame([billed("invoice", "b", 1), billed("invoice", "a", 1)])]
    with pytest.raises(ValueError, match="billing stream is not sorted"):
        reconcile_sorted(billing, [erp_frame()])


documents = st.lists(
    st.tuples(
        st.sampled_from(["invoice", "payment", "credit_note"]),
        st.text(alphabet="ABCDEF", min_size=1, max_size=3),
        st.integers(0, 5),
        st.sampled_from(["EUR", "USD"]),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(documents, documents, st.integers(1, 7), st.integers(1, 7))
def test_chunked_and_whole_comparisons_agree(
    left: list[tuple[str, str, int, str]],
    right: list[tuple[str, str, int, str]],
    left_size: int,
    right_size: int,
) -> None:
    billing = billing_frame(
        {"kind": k, "key": key, "billing_id": key.lower(), "currency": c, "amount": a}
        for k, key, a, c in {(k, key): (k, key, a, c) for k, key, a, c in left}.values()
    ).sort_values(["kind", "key"], ignore_index=True)
    erp = erp_frame(
        {"kind": k, "key": key, "document_number": f"D{i}", "currency": c, "amount": a}
        for i, (k, key, a, c) in enumerate(right)
    ).sort_values(["kind", "key"], ignore_index=True)

    def frames(frame: pd.DataFrame, size: int) -> list[pd.DataFrame]:
        return [frame.iloc[i : i + size] for i in range(0, len(frame), size)]

    whole = reconcile(billing, erp)
    chunked = reconcile_sorted(frames(billing, left_size), frames(erp, right_size))
    assert chunked.totals == whole.totals
    assert chunked.drift_by_issue == whole.drift_by_issue
    assert sorted(chunked.drift, key=repr) == sorted(whole.drift, key=repr)
