"""The legacy parallel run: the old ERP interface's flat-file export against the new postings.

During the phased migration the legacy interface keeps posting and exports what it posted as
CSV (UTF-8, comma-separated, one header line, in any column order)::

    document_type,external_document_number,document_number,customer_number,posting_date,currency,amount
    invoice,in_1QxYz...,PSI-104233,C00042,2026-10-15,EUR,1210.00

- ``document_type``: ``invoice``, ``payment`` or ``credit_memo`` (case and spaces ignored:
  ``Credit Memo`` will do);
- ``external_document_number``: the billing id (``in_...``, ``ch_...``, ``cn_...``), how a
  legacy posting is matched to ours (without regard to case, as Business Central keeps it);
- ``document_number``: the legacy ERP document number (reported, not compared);
- ``customer_number``: the ERP customer number;
- ``posting_date``: ``YYYY-MM-DD``;
- ``currency``: ISO 4217 code;
- ``amount``: the document's total as a plain decimal in major units with at most the
  currency's decimals (``1210.00`` EUR, ``5000`` JPY, ``12.345`` KWD), positive for every type;
  converted exactly to minor units, never rounded.

A line that breaks these rules is recorded with the file, line, column and value and left out;
the other lines are still compared.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal, get_args

import pycountry

from sync_platform.customers.erp_sync import erp_number_for
from sync_platform.money import format_amount, to_minor_units
from sync_platform.store import Store
from sync_platform.transactions.lifecycle import IN_ERP
from sync_platform.transactions.model import TransactionKind

LEGACY_COLUMNS = (
    "document_type",
    "external_document_number",
    "document_number",
    "customer_number",
    "posting_date",
    "currency",
    "amount",
)
DOCUMENT_TYPES: Mapping[str, TransactionKind] = {
    "invoice": "invoice",
    "payment": "payment",
    "credit_memo": "credit_note",
}
LEGACY_TYPE: Mapping[str, str] = {kind: name for name, kind in DOCUMENT_TYPES.items()}


class LegacyFileError(ValueError):
    """The file as a whole cannot be read (missing, not UTF-8, wrong header)."""


@dataclass(frozen=True)
class BadLine:
    path: str
    line: int
    column: str
    value: str
    message: str

    def __str__(self) -> str:
        return f"{self.path} line {self.line}, column {self.column}: {self.value!r} {self.message}"


@dataclass(frozen=True)
class LegacyPosting:
    line: int
    kind: TransactionKind
    external_document_number: str
    document_number: str
    customer_number: str
    posting_date: date
    currency: str
    amount: int  # minor units


@dataclass(frozen=True)
class LegacyExport:
    postings: tuple[LegacyPosting, ...]
    bad_lines: tuple[BadLine, ...]


def read_legacy_export(path: Path) -> LegacyExport:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return parse_legacy_export(handle, str(path))
    except OSError as exc:
        raise LegacyFileError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise LegacyFileError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def parse_legacy_export(lines: Iterable[str], name: str) -> LegacyExport:
    """Parse the export's lines (``name`` is the file, for messages)."""
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        raise LegacyFileError(f"{name}: empty file; expected the header {','.join(LEGACY_COLUMNS)}")
    columns = [c.strip().lower() for c in header]
    missing = [c for c in LEGACY_COLUMNS if c not in columns]
    unknown = [c for c in columns if c not in LEGACY_COLUMNS]
    if missing or unknown or len(set(columns)) != len(columns):
        problems = [f"lacks {', '.join(missing)}"] if missing else []
        problems += [f"has unknown columns {', '.join(unknown)}"] if unknown else []
        problems += ["names a column twice"] if len(set(columns)) != len(columns) else []
        raise LegacyFileError(
            f"{name} line 1: the header {'; '.join(problems)}; "
            f"expected the columns {','.join(LEGACY_COLUMNS)}"
        )
    postings: list[LegacyPosting] = []
    bad: list[BadLine] = []
    for values in reader:
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(columns):
            bad.append(
                BadLine(
                    name,
                    line,
                    "*",
                    ",".join(values),
                    f"has {len(values)} fields where the header has {len(columns)}",
                )
            )
            continue
        parsed = _posting(dict(zip(columns, (v.strip() for v in values), strict=True)), line)
        if isinstance(parsed, LegacyPosting):
            postings.append(parsed)
        else:
            column, value, message = parsed
            bad.append(BadLine(name, line, column, value, message))
    return LegacyExport(tuple(postings), tuple(bad))


def _posting(row: dict[str, str], line: int) -> LegacyPosting | tuple[str, str, str]:
    """The posting, or (column, value, what is wrong) for the first bad field."""
    type_name = row["document_type"].lower().replace(" ", "_")
    if type_name not in DOCUMENT_TYPES:
        return "document_type", row["document_type"], f"is not one of {', '.join(DOCUMENT_TYPES)}"
    for column in ("external_document_number", "document_number", "customer_number"):
        if not row[column]:
            return column, row[column], "is empty"
    try:
        posting_date = date.fromisoformat(row["posting_date"])
    except ValueError:
        return "posting_date", row["posting_date"], "is not a date (YYYY-MM-DD)"
    currency = row["currency"].upper()
    if len(currency) != 3 or pycountry.currencies.get(alpha_3=currency) is None:
        return "currency", row["currency"], "is not an ISO 4217 currency code"
    try:
        amount = to_minor_units(row["amount"], currency)
    except ValueError as exc:
        return "amount", row["amount"], f"is not an exact amount: {exc}"
    if amount < 0:
        return "amount", row["amount"], "is negative; amounts are positive for every type"
    return LegacyPosting(
        line=line,
        kind=DOCUMENT_TYPES[type_name],
        external_document_number=row["external_document_number"],
        document_number=row["document_number"],
        customer_number=row["customer_number"],
        posting_date=posting_date,
        currency=currency,
        amount=amount,
    )


# -- the new postings --------------------------------------------------------------------------
@dataclass(frozen=True)
class NewPosting:
    kind: TransactionKind
    billing_id: str
    erp_document_number: str
    customer_number: str
    posting_date: date
    currency: str
    amount: int  # minor units


def new_postings(
    store: Store, region: str | None = None, start: date | None = None, end: date | None = None
) -> Iterator[NewPosting]:
    """What the platform has posted (posted or reconciled transactions), read a chunk at a
    time; ``start`` and ``end`` are inclusive posting dates."""
    customers = {
        x.billing_customer_id: x.erp_customer_number or erp_number_for(x.canonical_id)
        for x in store.xrefs(region)
        if x.billing_customer_id
    }
    for row in store.iter_transactions(region=region, stages=IN_ERP):
        if not in_range(row.business_date, start, end):
            continue
        payload = row.payload
        kind: TransactionKind = row.kind  # type: ignore[assignment]
        yield NewPosting(
            kind=kind,
            billing_id=row.source_id,
            erp_document_number=row.erp_document_number or row.erp_document_id or "",
            customer_number=customers.get(payload["billing_customer_id"], ""),
            posting_date=row.business_date,
            currency=str(payload["currency"]),
            amount=int(payload["amount"] if kind == "payment" else payload["total"]),
        )


def in_range(day: date, start: date | None, end: date | None) -> bool:
    return (start is None or day >= start) and (end is None or day <= end)


# -- the comparison ----------------------------------------------------------------------------
LegacyIssue = Literal[
    "missing_in_legacy",
    "missing_in_new",
    "amount_differs",
    "currency_differs",
    "customer_differs",
    "date_differs",
    "duplicate_in_legacy",
]
LEGACY_ISSUES: tuple[LegacyIssue, ...] = get_args(LegacyIssue)


@dataclass(frozen=True)
class LegacyDifference:
    kind: TransactionKind
    external_document_number: str
    issue: LegacyIssue
    legacy: str = ""  # the legacy value (or document number) where there is one
    new: str = ""  # ours
    legacy_line: int | None = None

    def describe(self) -> str:
        where = f" (line {self.legacy_line})" if self.legacy_line else ""
        what = self.issue.replace("_", " ")
        values = f": legacy {self.legacy or '-'}, new {self.new or '-'}"
        return f"{LEGACY_TYPE[self.kind]} {self.external_document_number}{where}: {what}{values}"


@dataclass(frozen=True)
class LegacyComparison:
    legacy_count: int
    new_count: int
    matched: int
    differences: tuple[LegacyDifference, ...]

    def by_issue(self) -> dict[str, int]:
        counts = Counter(d.issue for d in self.differences)
        return {issue: counts[issue] for issue in LEGACY_ISSUES if counts[issue]}


def compare_legacy(legacy: Iterable[LegacyPosting], new: Iterable[NewPosting]) -> LegacyComparison:
    """Match on (type, external document number) without regard to case; report what one
    side lacks and, for matched postings, each field that differs (amount, currency,
    customer, posting date). A number the legacy file holds twice is reported as such."""
    legacy_by_key: dict[tuple[str, str], LegacyPosting] = {}
    differences: list[LegacyDifference] = []
    legacy_count = 0
    for posting in legacy:
        legacy_count += 1
        key = (posting.kind, posting.external_document_number.upper())
        if key in legacy_by_key:
            first = legacy_by_key[key]
            differences.append(
                LegacyDifference(
                    posting.kind,
                    posting.external_document_number,
                    "duplicate_in_legacy",
                    legacy=f"{first.document_number} (line {first.line}), "
                    f"{posting.document_number}",
                    legacy_line=posting.line,
                )
            )
            continue
        legacy_by_key[key] = posting
    new_count = matched = 0
    for ours in new:
        new_count += 1
        theirs = legacy_by_key.pop((ours.kind, ours.billing_id.upper()), None)
        if theirs is None:
            differences.append(
                LegacyDifference(
                    ours.kind, ours.billing_id, "missing_in_legacy", new=ours.erp_document_number
                )
            )
            continue
        matched += 1
        differences += _field_differences(theirs, ours)
    differences += [
        LegacyDifference(
            p.kind,
            p.external_document_number,
            "missing_in_new",
            legacy=p.document_number,
            legacy_line=p.line,
        )
        for p in legacy_by_key.values()
    ]
    differences.sort(key=lambda d: (d.kind, d.external_document_number.upper(), d.issue))
    return LegacyComparison(legacy_count, new_count, matched, tuple(differences))


def _field_differences(theirs: LegacyPosting, ours: NewPosting) -> list[LegacyDifference]:
    found: list[LegacyDifference] = []

    def differs(issue: LegacyIssue, legacy: str, new: str) -> None:
        found.append(LegacyDifference(ours.kind, ours.billing_id, issue, legacy, new, theirs.line))

    if theirs.currency != ours.currency:
        differs("currency_differs", theirs.currency, ours.currency)
    elif theirs.amount != ours.amount:
        differs(
            "amount_differs",
            format_amount(theirs.amount, theirs.currency),
            format_amount(ours.amount, ours.currency),
        )
    if theirs.customer_number.upper() != ours.customer_number.upper():
        differs("customer_differs", theirs.customer_number, ours.customer_number)
    if theirs.posting_date != ours.posting_date:
        differs("date_differs", theirs.posting_date.isoformat(), ours.posting_date.isoformat())
    return found
