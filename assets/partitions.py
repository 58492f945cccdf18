"""Partition definitions, defined once and imported everywhere."""

from __future__ import annotations

from dagster import StaticPartitionsDefinition

REGIONS = ("na", "emea", "apac")

region_partitions = StaticPartitionsDefinition(list(REGIONS))
