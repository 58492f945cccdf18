"""Alert messages for check breaches: Slack-compatible JSON (``text`` plus ``blocks``).

Plain functions over plain values; the alert sensor (``sensors/alerts.py``) reads the check
evaluations from Dagster, keeps the breaches in the store and posts what these build.

What a check's metadata must hold for its alert to be useful: the offending records as a list
under ``offenders`` (or the first list-valued entry), and their number under one of
``OFFENDING_COUNT_KEYS`` (else the one integer entry, else the length of the list). A check
that judged nothing (its region not live) says why under ``SKIPPED``; such an evaluation
neither opens nor recovers a breach.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from sync_platform.settings import REGIONS

OFFENDING_COUNT_KEYS = (
    "offending",
    "count",
    "violations",
    "duplicates",
    "breaches",
    "unposted",
    "unapplied",
    "missing",
    "missing_count",
    "drift",
    "differences",
    "invalid_customers",
    "out_of_line",
)
RECORDS_KEY = "offenders"
SKIPPED = "skipped"
RECORDS_SHOWN = 5
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True, slots=True)
class Offending:
    count: int | None
    records: list[str]


def offending(metadata: Mapping[str, Any]) -> Offending:
    """The offending count and records named by a check's metadata (plain values)."""
    records_value = metadata.get(RECORDS_KEY)
    if not isinstance(records_value, list):
        records_value = next((v for _, v in sorted(metadata.items()) if isinstance(v, list)), [])
    records = [r if isinstance(r, str) else str(r) for r in records_value]
    integers = {k: v for k, v in metadata.items() if isinstance(v, int) and not isinstance(v, bool)}
    named = next((integers[k] for k in OFFENDING_COUNT_KEYS if k in integers), None)
    if named is not None:
        return Offending(named, records)
    if len(integers) == 1:
        return Offending(next(iter(integers.values())), records)
    return Offending(len(records) if records else None, records)


def partition_parts(partition: str) -> tuple[str | None, str | None]:
    """(day, region) of a partition key: ``2026-11-02|emea``, ``emea`` or ``2026-11-02``."""
    day = region = None
    for part in partition.split("|") if partition else ():
        if _DAY.match(part):
            day = part
        elif part in REGIONS:
            region = part
    return day, region


def breach_message(
    *,
    notice: str,
    check_name: str,
    asset_key: str,
    partition: str,
    details: Mapping[str, Any],
    ui_url: str | None = None,
) -> dict[str, Any]:
    """The Slack-compatible body for ``notice`` (opened, recovered, opened_and_recovered)."""
    day, region = partition_parts(partition)
    where = ", ".join(
        part
        for part in (
            f"region {region}" if region else None,
            f"day {day}" if day else None,
            f"partition {partition}" if partition and not (day or region) else None,
        )
        if part
    )
    subject = f"`{check_name}` on `{asset_key}`" + (f" ({where})" if where else "")
    count = details.get("count")
    records: list[str] = list(details.get("records") or [])[:RECORDS_SHOWN]
    if notice == "recovered":
        headline = f"Recovered: {subject} passes again"
    elif notice == "opened_and_recovered":
        headline = f"Failed and since recovered: {subject}"
    else:
        severity = str(details.get("severity") or "ERROR").lower()
        headline = f"Check failed ({severity}): {subject}"
    text = headline
    if notice != "recovered":
        if count is not None:
            text += f"; {count} offending"
        if records:
            text += "; first: " + ", ".join(records)
    fields = [
        {"type": "mrkdwn", "text": f"*Check*\n`{check_name}`"},
        {"type": "mrkdwn", "text": f"*Asset*\n`{asset_key}`"},
        {"type": "mrkdwn", "text": f"*Region*\n{region or 'n/a'}"},
        {"type": "mrkdwn", "text": f"*Day*\n{day or 'n/a'}"},
    ]
    if notice != "recovered":
        offending_text = "unknown" if count is None else str(count)
        fields.append({"type": "mrkdwn", "text": f"*Offending*\n{offending_text}"})
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": headline}},
        {"type": "section", "fields": fields},
    ]
    if records and notice != "recovered":
        listing = "\n".join(f"• `{r}`" for r in records)
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*First offending*\n{listing}"}}
        )
    links = _links(ui_url, asset_key, details.get("run_id"))
    if links:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": links}]})
        text += f" ({links})"
    return {"text": text, "blocks": blocks}


def _links(ui_url: str | None, asset_key: str, run_id: object) -> str:
    if not ui_url:
        return ""
    base = ui_url.rstrip("/")
    asset_path = "/".join(quote(part, safe="") for part in asset_key.split("/"))
    links = [f"<{base}/assets/{asset_path}?view=checks|checks in Dagster>"]
    if isinstance(run_id, str) and run_id:
        links.append(f"<{base}/runs/{run_id}|run>")
    return " · ".join(links)
