"""Billing against the ERP: counts and amounts per kind and currency on both sides, their
differences, and the drift list naming each document that does not match.

Each side is a DataFrame with one row per document:

- billing: ``kind, key, billing_id, currency, amount``
- ERP:     ``kind, key, document_number, currency, amount``

``kind`` is ``invoice``, ``payment`` or ``credit_note``; ``key`` is what matches a billing
document to the ERP document made for it (``daily.match_key``: the external document number
as the ERP keeps it); ``amount`` is integer minor units of ``currency``. Only the billing
documents that should be in the ERP (finalized, settled, issued) and only posted ERP
documents belong in the frames.

Memory stays bounded for any number of documents: ``reconcile_sorted`` takes each side as a
stream of DataFrames sorted by (kind, key), cuts both streams at the same key boundaries
(``aligned_chunks``) and compares one key range at a time, adding up the totals and keeping
the first ``drift_limit`` drift records (all of them are counted).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

BILLING_COLUMNS = ("kind", "key", "billing_id", "currency", "amount")
ERP_COLUMNS = ("kind", "key", "document_number", "currency", "amount")
KEY = ["kind", "key"]
DRIFT_LIMIT = 10_000  # drift records kept in full; the rest are only counted

Issue = Literal[
    "missing_in_erp", "not_billed", "amount_differs", "currency_differs", "posted_twice"
]
ISSUES: tuple[Issue, ...] = get_args(Issue)
ISSUE_TEXT: Mapping[str, str] = {
    "missing_in_erp": "missing in the ERP",
    "not_billed": "in the ERP but not billed",
    "amount_differs": "amount differs",
    "currency_differs": "currency differs",
    "posted_twice": "posted more than once",
}


@dataclass(frozen=True)
class Totals:
    """Documents of one kind and currency on each side; amounts in minor units."""

    kind: str
    currency: str
    billing_count: int = 0
    billing_amount: int = 0
    erp_count: int = 0
    erp_amount: int = 0

    @property
    def count_difference(self) -> int:
        """ERP minus billing: negative when documents are missing in the ERP."""
        return self.erp_count - self.billing_count

    @property
    def amount_difference(self) -> int:
        return self.erp_amount - self.billing_amount

    def __add__(self, other: Totals) -> Totals:
        return Totals(
            self.kind,
            self.currency,
            self.billing_count + other.billing_count,
            self.billing_amount + other.billing_amount,
            self.erp_count + other.erp_count,
            self.erp_amount + other.erp_amount,
        )


@dataclass(frozen=True)
class Drift:
    """One document that does not match: which, on which side, and what differs."""

    kind: str
    issue: Issue
    key: str
    billing_id: str | None
    erp_document_number: str | None
    currency: str
    billing_amount: int | None
    erp_amount: int | None
    note: str = ""

    def describe(self) -> str:
        what = ISSUE_TEXT[self.issue]
        if self.issue in ("amount_differs", "posted_twice"):
            what += f": billing {self.billing_amount}, ERP {self.erp_amount} {self.currency}"
        if self.issue == "currency_differs":
            what += f": {self.note}"
        return what


@dataclass(frozen=True)
class Reconciliation:
    totals: tuple[Totals, ...]  # by kind, then currency
    drift: tuple[Drift, ...]  # the first ``drift_limit`` in (kind, key) order
    drift_count: int  # all of them
    drift_by_issue: Mapping[str, int] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return self.drift_count == 0 and all(
            t.count_difference == 0 and t.amount_difference == 0 for t in self.totals
        )


def billing_frame(rows: Iterable[Mapping[str, Any]] = ()) -> pd.DataFrame:
    return _frame(rows, BILLING_COLUMNS, "billing_id")


def erp_frame(rows: Iterable[Mapping[str, Any]] = ()) -> pd.DataFrame:
    return _frame(rows, ERP_COLUMNS, "document_number")


def _frame(rows: Iterable[Mapping[str, Any]], columns: tuple[str, ...], name: str) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=list(columns))
    return frame.astype({"kind": object, "key": object, name: object, "currency": object}).astype(
        {"amount": "int64"}
    )


# -- one key range -------------------------------------------------------------------------------
def reconcile(
    billing: pd.DataFrame, erp: pd.DataFrame, *, drift_limit: int = DRIFT_LIMIT
) -> Reconciliation:
    """Compare two complete frames (one partition, say)."""
    return reconcile_chunks([(billing, erp)], drift_limit=drift_limit)


def reconcile_chunks(
    chunks: Iterable[tuple[pd.DataFrame, pd.DataFrame]], *, drift_limit: int = DRIFT_LIMIT
) -> Reconciliation:
    """Compare chunk by chunk; each chunk must hold every document of its keys, on both
    sides (``aligned_chunks`` makes such chunks from sorted streams)."""
    totals: dict[tuple[str, str], Totals] = {}
    kept: list[Drift] = []
    by_issue: Counter[str] = Counter()
    for billing, erp in chunks:
        _check_columns(billing, BILLING_COLUMNS, "billing")
        _check_columns(erp, ERP_COLUMNS, "ERP")
        for t in _totals(billing, erp):
            key = (t.kind, t.currency)
            totals[key] = totals[key] + t if key in totals else t
        drift = _drift(billing, erp)
        by_issue.update(drift["issue"].value_counts().to_dict())
        room = drift_limit - len(kept)
        if room > 0:
            kept += [_as_drift(row) for row in drift.head(room).itertuples(index=False)]
    return Reconciliation(
        totals=tuple(totals[k] for k in sorted(totals)),
        drift=tuple(kept),
        drift_count=sum(by_issue.values()),
        drift_by_issue={issue: by_issue[issue] for issue in ISSUES if by_issue[issue]},
    )


def reconcile_sorted(
    billing: Iterable[pd.DataFrame],
    erp: Iterable[pd.DataFrame],
    *,
    drift_limit: int = DRIFT_LIMIT,
) -> Reconciliation:
    """Compare two streams of frames, each sorted by (kind, key), a key range at a time."""
    return reconcile_chunks(aligned_chunks(billing, erp), drift_limit=drift_limit)


def _check_columns(frame: pd.DataFrame, columns: tuple[str, ...], side: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"the {side} frame has no column {', '.join(missing)}")


def _totals(billing: pd.DataFrame, erp: pd.DataFrame) -> list[Totals]:
    def side(frame: pd.DataFrame) -> dict[tuple[str, str], tuple[int, int]]:
        grouped = frame.groupby(["kind", "currency"], sort=False)["amount"].agg(["size", "sum"])
        return {
            (str(kind), str(currency)): (int(size), int(total))
            for (kind, currency), size, total in zip(
                grouped.index, grouped["size"], grouped["sum"], strict=True
            )
        }

    billed, posted = side(billing), side(erp)
    return [
        Totals(
            kind,
            currency,
            *billed.get((kind, currency), (0, 0)),
            *posted.get((kind, currency), (0, 0)),
        )
        for kind, currency in sorted(billed.keys() | posted.keys())
    ]


DRIFT_COLUMNS = [
    "kind",
    "key",
    "issue",
    "billing_id",
    "erp_document_number",
    "currency",
    "billing_amount",
    "erp_amount",
    "note",
]


def _drift(billing: pd.DataFrame, erp: pd.DataFrame) -> pd.DataFrame:
    """One row per offending document, in (kind, key) order."""
    left = billing.drop_duplicates(KEY)[list(BILLING_COLUMNS)].astype({"amount": "Int64"})
    right = erp[list(ERP_COLUMNS)].rename(
        columns={
            "document_number": "erp_document_number",
            "currency": "erp_currency",
            "amount": "erp_amount",
        }
    )
    twice = right.duplicated(KEY, keep=False).to_numpy()
    once = right[~twice].astype({"erp_amount": "Int64"})
    merged = left.merge(once, on=KEY, how="outer", indicator=True)
    side = merged["_merge"].astype(str)
    repeated = right[twice]
    repeated_keys = pd.MultiIndex.from_frame(repeated[KEY]) if len(repeated) else None
    in_repeated = (
        pd.MultiIndex.from_frame(merged[KEY]).isin(repeated_keys)
        if repeated_keys is not None
        else np.zeros(len(merged), dtype=bool)
    )
    both = (side == "both").to_numpy()
    currency_differs = both & (merged["currency"] != merged["erp_currency"]).to_numpy()
    amount_differs = (
        both
        & ~currency_differs
        & (merged["amount"] != merged["erp_amount"]).fillna(False).to_numpy(dtype=bool)
    )
    issues = np.select(
        [
            (side == "left_only").to_numpy() & ~in_repeated,
            (side == "right_only").to_numpy(),
            currency_differs,
            amount_differs,
        ],
        ["missing_in_erp", "not_billed", "currency_differs", "amount_differs"],
        default="",
    )
    found = merged[issues != ""].assign(issue=issues[issues != ""])
    found = found.assign(
        currency=found["currency"].where(found["currency"].notna(), found["erp_currency"]),
        billing_amount=found["amount"],
        note=np.where(
            found["issue"] == "currency_differs",
            "billing "
            + found["currency"].astype(str)
            + ", ERP "
            + found["erp_currency"].astype(str),
            "",
        ),
    )
    frames = [found[DRIFT_COLUMNS]]
    if len(repeated):
        frames.append(_posted_twice(left, repeated))
    drift = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return drift.sort_values(KEY, kind="stable", ignore_index=True)


def _posted_twice(billing: pd.DataFrame, repeated: pd.DataFrame) -> pd.DataFrame:
    """One row per key the ERP holds more than once (few: built in Python)."""
    concerned = pd.MultiIndex.from_frame(billing[KEY]).isin(pd.MultiIndex.from_frame(repeated[KEY]))
    billed = {(row.kind, row.key): row for row in billing[concerned].itertuples(index=False)}
    rows = []
    for (kind, key), group in repeated.groupby(KEY, sort=True):
        bill = billed.get((kind, key))
        rows.append(
            {
                "kind": kind,
                "key": key,
                "issue": "posted_twice",
                "billing_id": None if bill is None else bill.billing_id,
                "erp_document_number": ", ".join(str(n) for n in group["erp_document_number"]),
                "currency": bill.currency if bill is not None else group["erp_currency"].iloc[0],
                "billing_amount": None if bill is None else int(bill.amount),
                "erp_amount": int(group["erp_amount"].sum()),
                "note": f"{len(group)} ERP documents",
            }
        )
    return pd.DataFrame(rows, columns=DRIFT_COLUMNS)


def _as_drift(row: Any) -> Drift:
    return Drift(
        kind=str(row.kind),
        issue=row.issue,
        key=str(row.key),
        billing_id=_text(row.billing_id),
        erp_document_number=_text(row.erp_document_number),
        currency=str(row.currency),
        billing_amount=_whole(row.billing_amount),
        erp_amount=_whole(row.erp_amount),
        note=str(row.note or ""),
    )


def _text(value: Any) -> str | None:
    return (
        None
        if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))
        else str(value)
    )


def _whole(value: Any) -> int | None:
    return None if _text(value) is None else int(value)


# -- streams sorted by key -------------------------------------------------------------------------
class _SortedStream:
    """Frames from one side, checked to be sorted by (kind, key), buffered until compared."""

    def __init__(self, frames: Iterable[pd.DataFrame], side: str) -> None:
        self._frames = iter(frames)
        self.side = side
        self.buffer: pd.DataFrame | None = None
        self.done = False
        self._last: tuple[str, str] | None = None

    @property
    def empty(self) -> bool:
        return self.buffer is None or len(self.buffer) == 0

    @property
    def last(self) -> tuple[str, str]:
        assert self.buffer is not None and len(self.buffer)
        return str(self.buffer["kind"].iat[-1]), str(self.buffer["key"].iat[-1])

    def read(self) -> None:
        """Append the next non-empty frame, or mark the stream done."""
        for frame in self._frames:
            if len(frame) == 0:
                continue
            self._check_sorted(frame)
            self.buffer = (
                frame if self.empty else pd.concat([self.buffer, frame], ignore_index=True)
            )
            return
        self.done = True

    def take_below(self, bound: tuple[str, str] | None) -> pd.DataFrame:
        """Remove and return the buffered rows whose (kind, key) is below ``bound`` (all of
        them for None)."""
        if self.buffer is None:
            return pd.DataFrame()
        if bound is None:
            below = np.ones(len(self.buffer), dtype=bool)
        else:
            kinds, keys = self.buffer["kind"].to_numpy(), self.buffer["key"].to_numpy()
            below = (kinds < bound[0]) | ((kinds == bound[0]) & (keys < bound[1]))
        taken = self.buffer[below]
        self.buffer = self.buffer[~below].reset_index(drop=True)
        return taken.reset_index(drop=True)

    def _check_sorted(self, frame: pd.DataFrame) -> None:
        kinds = frame["kind"].to_numpy(dtype=object)
        keys = frame["key"].to_numpy(dtype=object)
        if self._last is not None:
            kinds = np.concatenate([[self._last[0]], kinds])
            keys = np.concatenate([[self._last[1]], keys])
        ordered = (kinds[1:] > kinds[:-1]) | ((kinds[1:] == kinds[:-1]) & (keys[1:] >= keys[:-1]))
        if not ordered.all():
            at = int(np.argmin(ordered)) + 1
            raise ValueError(
                f"the {self.side} stream is not sorted by (kind, key): "
                f"{(kinds[at], keys[at])!r} comes after {(kinds[at - 1], keys[at - 1])!r}"
            )
        self._last = (str(kinds[-1]), str(keys[-1]))


def aligned_chunks(
    billing: Iterable[pd.DataFrame], erp: Iterable[pd.DataFrame]
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """Cut two streams sorted by (kind, key) into chunks that hold every row of their keys on
    both sides. A row is released once both streams have moved past its key, so at most about
    one frame per side (plus the rows of one key) is held at a time."""
    sides = (_SortedStream(billing, "billing"), _SortedStream(erp, "ERP"))
    while True:
        for stream in sides:
            while stream.empty and not stream.done:
                stream.read()
        open_sides = [s for s in sides if not s.done]
        bound = min((s.last for s in open_sides), default=None)
        left, right = (s.take_below(bound) for s in sides)
        if len(left) or len(right):
            yield _or_empty(left, BILLING_COLUMNS), _or_empty(right, ERP_COLUMNS)
        if bound is None:
            return
        for stream in open_sides:
            if stream.last == bound:
                stream.read()


def _or_empty(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    return frame if len(frame.columns) else _frame([], columns, columns[2])
