"""Partition definitions, defined once and imported everywhere."""

from __future__ import annotations

import os

from dagster import (
    DailyPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionsDefinition,
    StaticPartitionsDefinition,
)

from sync_platform.settings import REGIONS

# The first day of billing history the platform posts; set SYNC_HISTORY_START (YYYY-MM-DD)
# for an older account. Read once, when the code location loads.
HISTORY_START = os.environ.get("SYNC_HISTORY_START") or "2026-01-01"

region_partitions = StaticPartitionsDefinition(list(REGIONS))
# end_offset=1: today's partition exists, so the real-time path can run it before midnight.
daily_partitions = DailyPartitionsDefinition(start_date=HISTORY_START, end_offset=1)
date_region_partitions = MultiPartitionsDefinition(
    {"date": daily_partitions, "region": region_partitions}
)


def date_region_key(day: str, region: str) -> MultiPartitionKey:
    return MultiPartitionKey({"date": day, "region": region})
