"""The legacy ERP interface's CSV export: its layout, exact amounts, bad lines reported with the
rest still compared, and the comparison with the new postings."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from sync_platform.cli import main
from sync_platform.money import format_amount, to_minor_units
from sync_platform.reconciliation.legacy import (
    LegacyFileError,
    NewPosting,
    compare_legacy,
    parse_legacy_export,
    read_legacy_export,
)

HEADER = (
    "document_type,external_document_number,document_number,customer_number,"
    "posting_date,currency,amount"
)


def export(*lines: str) -> list[str]:
    return [HEADER, *lines]


def new(
    billing_id: str,
    amount: int,
    *,
    kind: str = "invoice",
    currency: str = "EUR",
    customer: str = "C00042",
    day: date = date(2026, 10, 15),
) -> NewPosting:
    return NewPosting(kind, billing_id, "PSI-9", customer, day, currency, amount)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("1210.00", "EUR", 121_000),
        ("1210", "EUR", 121_000),
        ("0.10", "usd", 10),
        ("5000", "JPY", 5_000),
        ("12.345", "KWD", 12_345),
        ("0.1", "BHD", 100),
        # As text, never through a float: 0.1 + 0.2 is exactly 30 cents.
        ("9007199254740993.01", "USD", 900_719_925_474_099_301),
    ],
)
def test_amounts_convert_exactly_to_minor_units(text: str, currency: str, minor: int) -> None:
    assert to_minor_units(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency"),
    [("1.5", "JPY"), ("0.001", "USD"), ("12.3456", "KWD"), ("1,210.00", "EUR"), ("1e3", "EUR")],
)
def test_amounts_with_more_decimals_than_the_currency_or_not_plain_decimals_are_refused(
    text: str, currency: str
) -> None:
    with pytest.raises(ValueError):
        to_minor_units(text, currency)


def test_amounts_read_back_as_decimals_of_their_currency() -> None:
    assert format_amount(121_000, "EUR") == "1210.00 EUR"
    assert format_amount(5_000, "JPY") == "5000 JPY"
    assert format_amount(12_345, "KWD") == "12.345 KWD"


def test_a_good_export_in_any_column_order() -> None:
    parsed = parse_legacy_export(
        [
            "amount,currency,posting_date,customer_number,document_number,"
            "external_document_number,document_type",
            "1210.00,EUR,2026-10-15,C00042,PSI-104233,in_1QxYz,invoice",
            "5000,jpy,2026-10-15,C00043,PAY-7,ch_3Qabc,Payment",
            "12.345,KWD,2026-10-16,C00044,PSCM-3,cn_1Qdef,Credit Memo",
            "",
        ],
        "legacy.csv",
    )
    assert parsed.bad_lines == ()
    assert [(p.line, p.kind, p.currency, p.amount) for p in parsed.postings] == [
        (2, "invoice", "EUR", 121_000),
        (3, "payment", "JPY", 5_000),
        (4, "credit_note", "KWD", 12_345),
    ]
    assert parsed.postings[0].posting_date == date(2026, 10, 15)


def test_bad_lines_name_file_line_column_and_value_and_the_rest_is_kept() -> None:
    parsed = parse_legacy_export(
        export(
            "invoice,in_1,PSI-1,C1,2026-10-15,EUR,100.00",
            "invoice,in_2,PSI-2,C1,2026-10-15,JPY,1.5",
            "receipt,in_3,PSI-3,C1,2026-10-15,EUR,1.00",
            "invoice,in_4,PSI-4,C1,15/10/2026,EUR,1.00",
            "invoice,in_5,PSI-5,C1,2026-10-15,EUX,1.00",
            "invoice,,PSI-6,C1,2026-10-15,EUR,1.00",
            "invoice,in_7,PSI-7,C1,2026-10-15,EUR",
            "invoice,in_8,PSI-8,C1,2026-10-15,EUR,-3.00",
            "payment,ch_9,PAY-9,C1,2026-10-15,USD,0.005",
        ),
        "legacy.csv",
    )
    assert [p.external_document_number for p in parsed.postings] == ["in_1"]
    assert [(b.line, b.column, b.value) for b in parsed.bad_lines] == [
        (3, "amount", "1.5"),
        (4, "document_type", "receipt"),
        (5, "posting_date", "15/10/2026"),
        (6, "currency", "EUX"),
        (7, "external_document_number", ""),
        (8, "*", "invoice,in_7,PSI-7,C1,2026-10-15,EUR"),
        (9, "amount", "-3.00"),
        (10, "amount", "0.005"),
    ]
    assert str(parsed.bad_lines[0]) == (
        "legacy.csv line 3, column amount: '1.5' is not an exact amount: "
        "1.5 has more decimals than JPY, which has 0"
    )


def test_a_file_whose_header_is_wrong_is_refused_whole(tmp_path: Path) -> None:
    with pytest.raises(LegacyFileError, match=r"legacy.csv line 1: the header lacks .*amount"):
        parse_legacy_export(["document_type,external_document_number"], "legacy.csv")
    with pytest.raises(LegacyFileError, match="empty file"):
        parse_legacy_export([], "legacy.csv")
    with pytest.raises(LegacyFileError, match="cannot be read"):
        read_legacy_export(tmp_path / "absent.csv")
    latin = tmp_path / "latin.csv"
    latin.write_bytes(
        (HEADER + "\ninvoice,in_1,PSI-1,Müller,2026-10-15,EUR,1.00\n").encode("latin-1")
    )
    with pytest.raises(LegacyFileError, match="not UTF-8"):
        read_legacy_export(latin)


def test_an_excel_export_with_a_byte_order_mark_reads(tmp_path: Path) -> None:
    path = tmp_path / "legacy.csv"
    path.write_text(HEADER + "\r\ninvoice,in_1,PSI-1,C1,2026-10-15,EUR,1.00\r\n", "utf-8-sig")
    assert [p.amount for p in read_legacy_export(path).postings] == [100]


def test_matching_postings_agree() -> None:
    legacy = parse_legacy_export(
        export("invoice,IN_1QXYZ,PSI-104233,C00042,2026-10-15,EUR,1210.00"), "legacy.csv"
    )
    result = compare_legacy(legacy.postings, [new("in_1QxYz", 121_000)])
    assert (result.legacy_count, result.new_count, result.matched) == (1, 1, 1)
    assert result.differences == ()


def test_differences_name_the_document_and_both_values() -> None:
    legacy = parse_legacy_export(
        export(
            "invoice,in_amount,PSI-1,C00042,2026-10-15,EUR,1210.00",
            "invoice,in_customer,PSI-2,C00099,2026-10-15,EUR,10.00",
            "invoice,in_date,PSI-3,C00042,2026-10-14,EUR,10.00",
            "invoice,in_currency,PSI-4,C00042,2026-10-15,GBP,10.00",
            "invoice,in_legacy_only,PSI-5,C00042,2026-10-15,EUR,10.00",
            "invoice,in_legacy_only,PSI-6,C00042,2026-10-15,EUR,10.00",
            "payment,in_amount,PAY-1,C00042,2026-10-15,EUR,1210.00",
        ),
        "legacy.csv",
    )
    ours = [
        new("in_amount", 121_001),
        new("in_customer", 1_000),
        new("in_date", 1_000),
        new("in_currency", 1_000),
        new("in_new_only", 1_000),
        new("in_amount", 121_000, kind="payment"),
    ]
    result = compare_legacy(legacy.postings, ours)
    assert {(d.kind, d.external_document_number, d.issue) for d in result.differences} == {
        ("invoice", "in_amount", "amount_differs"),
        ("invoice", "in_customer", "customer_differs"),
        ("invoice", "in_date", "date_differs"),
        ("invoice", "in_currency", "currency_differs"),
        ("invoice", "in_legacy_only", "missing_in_new"),
        ("invoice", "in_legacy_only", "duplicate_in_legacy"),
        ("invoice", "in_new_only", "missing_in_legacy"),
    }
    amount = next(d for d in result.differences if d.issue == "amount_differs")
    assert amount.describe() == (
        "invoice in_amount (line 2): amount differs: legacy 1210.00 EUR, new 1210.01 EUR"
    )
    assert result.by_issue()["missing_in_new"] == 1
    assert result.matched == 5


def test_the_command_exits_0_when_both_sides_agree_1_when_they_differ_and_2_for_no_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = ["--store", f"sqlite:///{tmp_path / 'store.sqlite3'}"]
    path = tmp_path / "legacy.csv"
    path.write_text(HEADER + "\n", "utf-8")
    assert main(["legacy-reconcile", "--csv", str(path), *store]) == 0
    assert "legacy postings 0 (bad lines 0), new postings 0, matched 0; differences: none" in (
        capsys.readouterr().out
    )
    path.write_text(HEADER + "\ninvoice,in_1,PSI-1,C1,2026-10-15,EUR,1.00\n", "utf-8")
    assert main(["legacy-reconcile", "--csv", str(path), *store]) == 1
    assert "invoice in_1 (line 2): missing in new: legacy PSI-1, new -" in capsys.readouterr().out
    # Outside the dates asked for, the line is not compared.
    dates = ["--from", "2026-10-16", "--to", "2026-10-31"]
    assert main(["legacy-reconcile", "--csv", str(path), *store, *dates]) == 0
    capsys.readouterr()
    assert main(["legacy-reconcile", "--csv", str(tmp_path / "absent.csv"), *store]) == 2
    assert "absent.csv: cannot be read" in capsys.readouterr().err
