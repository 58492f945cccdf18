"""Alert messages: what a check's metadata says is offending, and where the partition is."""

from __future__ import annotations

from sync_platform.alerts import Offending, breach_message, offending, partition_parts


def test_the_count_is_the_named_entry_and_the_records_the_offenders_list() -> None:
    metadata = {
        "offending": 42,
        "in_flight_count": 3,
        "offenders": ["in_1 missing in the ERP", "in_2 amount differs"],
        "offender_rows": [{"record": "in_1"}],
    }
    assert offending(metadata) == Offending(42, ["in_1 missing in the ERP", "in_2 amount differs"])


def test_without_a_known_name_one_integer_is_the_count_else_the_list_length() -> None:
    assert offending({"late": 7, "offenders": ["a"]}) == Offending(7, ["a"])
    assert offending({"a": 1, "b": 2, "rows": ["x", "y"]}) == Offending(2, ["x", "y"])
    assert offending({"mode": "shadow"}) == Offending(None, [])
    assert offending({"passed_ok": True, "offenders": []}) == Offending(None, [])


def test_partitions_name_their_day_and_region() -> None:
    assert partition_parts("2026-11-02|emea") == ("2026-11-02", "emea")
    assert partition_parts("apac") == (None, "apac")
    assert partition_parts("") == (None, None)


def test_a_breach_that_recovered_before_it_was_announced_says_both() -> None:
    message = breach_message(
        notice="opened_and_recovered",
        check_name="every_settled_payment_applied",
        asset_key="erp/cash_applications",
        partition="2026-11-02|na",
        details={"count": 1, "records": ["ch_1"], "run_id": "r1"},
        ui_url="http://ui:3000/",
    )
    text = message["text"]
    assert text.startswith("Failed and since recovered: `every_settled_payment_applied`")
    assert "region na, day 2026-11-02" in text and "1 offending" in text
    assert "<http://ui:3000/runs/r1|run>" in text
    assert message["blocks"][-1]["type"] == "context"


def test_an_unpartitioned_check_has_no_region_and_no_links_without_a_ui() -> None:
    message = breach_message(
        notice="opened",
        check_name="c",
        asset_key="a/b",
        partition="",
        details={"severity": "WARN", "count": None, "records": []},
    )
    assert message["text"] == "Check failed (warn): `c` on `a/b`"
    assert all(block["type"] != "context" for block in message["blocks"])
