"""Modes per region for the customer workflow, against the three sandboxes: a live region
writes to the ERP, a shadow region plans and reports its writes without making them, a
read_only region extracts and validates and neither plans nor writes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from dagster import DagsterInstance, materialize
from e2e_platform import running_platform
from sqlalchemy import select

from assets.checks.customers import customer_checks
from assets.customers import customer_assets
from assets.partitions import REGIONS
from resources.erp import ErpResource
from sandboxes.kit.server import RunningSandbox
from sync_platform.customers import region_flow
from sync_platform.settings import Mode
from sync_platform.store import Store
from sync_platform.store.schema import write_ledger

pytestmark = pytest.mark.slow
WORLD = 40  # every region holds customers the ERP already has and customers it lacks
CHECKS = {
    "ownership_respected",
    "no_duplicate_external_ids",
    "required_fields_valid",
    "every_active_customer_in_erp",
}


@dataclass(frozen=True)
class Run:
    run_id: str
    metadata: dict[str, dict[str, Any]]  # asset path → metadata
    checks: dict[str, bool]
    check_metadata: dict[str, dict[str, Any]]

    @property
    def sync(self) -> dict[str, Any]:
        return self.metadata["erp/customer_sync"]


@dataclass
class Platform:
    sandboxes: dict[str, RunningSandbox]
    resources: dict[str, Any]
    instance: DagsterInstance
    config_dir: Path

    @property
    def store(self) -> Store:
        return self.resources["store"].store

    @property
    def erp(self) -> ErpResource:
        return self.resources["erp"]

    def set_customer_modes(self, **modes: Mode) -> None:
        """Write modes.yaml: the customers workflow of each named region in its mode."""
        document = {
            "default": "live",
            "regions": {region: {"customers": mode} for region, mode in modes.items()},
        }
        (self.config_dir / "modes.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")

    def materialize(self, region: str) -> Run:
        result = materialize(
            [*customer_assets, *customer_checks],
            partition_key=region,
            resources=self.resources,
            instance=self.instance,
        )
        assert result.success
        metadata = {
            "/".join(e.materialization.asset_key.path): {
                k: v.value for k, v in e.materialization.metadata.items()
            }
            for e in result.get_asset_materialization_events()
        }
        evaluations = result.get_asset_check_evaluations()
        return Run(
            run_id=result.run_id,
            metadata=metadata,
            checks={e.check_name: e.passed for e in evaluations},
            check_metadata={
                e.check_name: {k: v.value for k, v in e.metadata.items()} for e in evaluations
            },
        )

    def erp_customers(self, region: str) -> dict[str, dict[str, Any]]:
        """The region's ERP customers as the ERP holds them now, by number (ETags included)."""
        company = self.erp.company_for_region(region)
        return {
            c.number: c.model_dump(by_alias=True, mode="json")
            for c in self.erp.list_customers(company.id)
        }

    def ledger(self) -> list[dict[str, Any]]:
        with self.store.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(select(write_ledger))]

    def written_in(self, run: Run) -> set[tuple[str, str]]:
        """(operation, canonical id) of each successful ERP customer write of the run."""
        return {
            (row["operation"], canonical_id_of(row["idempotency_key"]))
            for row in self.ledger()
            if row["correlation_id"] == run.run_id and row["status"] == "succeeded"
        }

    def billing(self) -> httpx.Client:
        sandbox = self.sandboxes["billing"]
        return httpx.Client(
            base_url=sandbox.base_url, headers={"Authorization": f"Bearer {sandbox.api_key}"}
        )


def canonical_id_of(idempotency_key: str) -> str:
    # erp:customer:<operation>:<canonical id>:<revision>:<payload hash>
    return idempotency_key.split(":")[3]


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    with running_platform(tmp_path, WORLD) as base:
        yield Platform(base.sandboxes, base.resources, base.instance, base.config_dir)


def test_each_region_runs_in_its_own_mode(platform: Platform) -> None:
    platform.set_customer_modes(na="live", emea="shadow", apac="read_only")
    erp_before = {region: platform.erp_customers(region) for region in REGIONS}

    na = platform.materialize("na")
    assert na.sync["mode"] == "live"
    assert na.sync["created"] + na.sync["updated"] > 0
    assert platform.erp_customers("na") != erp_before["na"]
    assert len(platform.written_in(na)) == na.sync["created"] + na.sync["updated"]
    ledger_after_na = platform.ledger()

    emea = platform.materialize("emea")
    emea_ids = set(platform.store.canonical_customers("emea"))
    plan = region_flow.plan_only(platform.store, "emea")
    assert emea.sync["mode"] == "shadow"
    assert (emea.sync["created"], emea.sync["updated"]) == (0, 0)
    assert emea.sync["would_create"] == sum(a.kind == "create" for a in plan.actions) > 0
    assert emea.sync["would_update"] == sum(a.kind == "update" for a in plan.actions)
    assert "nothing was written" in emea.sync["mode_note"]
    assert platform.erp_customers("emea") == erp_before["emea"]
    assert platform.ledger() == ledger_after_na
    assert not {canonical_id_of(row["idempotency_key"]) for row in platform.ledger()} & emea_ids
    # Reconciliation still runs in shadow and sees what the sync would bring in line.
    assert emea.checks.keys() == CHECKS
    assert emea.check_metadata["every_active_customer_in_erp"]["out_of_line"] == len(plan.actions)

    apac = platform.materialize("apac")
    assert apac.sync["mode"] == "read_only"
    assert "would_create" not in apac.sync and "would_update" not in apac.sync
    assert "no ERP plan" in apac.sync["mode_note"]
    assert (apac.sync["planned_creates"], apac.sync["planned_updates"]) == (0, 0)
    assert (apac.sync["created"], apac.sync["updated"]) == (0, 0)
    assert platform.erp_customers("apac") == erp_before["apac"]
    assert platform.ledger() == ledger_after_na
    # read_only still extracts, builds and validates the canonical set, and checks it.
    assert apac.metadata["canonical/customers"]["customers"] > 0
    assert (
        len(platform.store.canonical_customers("apac"))
        == (apac.metadata["canonical/customers"]["customers"])
    )
    assert apac.checks.keys() == CHECKS
    assert apac.checks["ownership_respected"] and apac.checks["no_duplicate_external_ids"]
    assert apac.check_metadata["every_active_customer_in_erp"]["out_of_line"] > 0


def test_a_shadow_region_switched_to_live_makes_exactly_the_writes_it_reported(
    platform: Platform,
) -> None:
    platform.set_customer_modes(emea="shadow")
    shadow = platform.materialize("emea")
    reported = {
        (a.kind, a.canonical_id) for a in region_flow.plan_only(platform.store, "emea").actions
    }
    assert shadow.sync["would_create"] + shadow.sync["would_update"] == len(reported) > 0

    platform.set_customer_modes(emea="live")
    live = platform.materialize("emea")
    assert live.sync["mode"] == "live"
    assert (live.sync["created"], live.sync["updated"]) == (
        shadow.sync["would_create"],
        shadow.sync["would_update"],
    )
    assert platform.written_in(live) == reported
    assert live.checks["every_active_customer_in_erp"]
    assert region_flow.plan_against_erp(platform.store, platform.erp, "emea").actions == ()

    # A billing-owned change: shadow reports the one update and leaves the ERP alone.
    cid, customer = next(
        (cid, row.record)
        for cid, row in sorted(platform.store.canonical_customers("emea").items())
        if {"billing", "erp"} <= set(row.record["external_ids"])
        and cid not in region_flow.plan_only(platform.store, "emea").waiting
    )
    with platform.billing() as billing:
        billing.post(
            f"/v1/customers/{customer['external_ids']['billing']}",
            data={"email": "accounts-payable@renamed.example"},
        ).raise_for_status()
    platform.set_customer_modes(emea="shadow")
    erp_before = platform.erp_customers("emea")
    shadow = platform.materialize("emea")
    assert (shadow.sync["would_create"], shadow.sync["would_update"]) == (0, 1)
    assert platform.erp_customers("emea") == erp_before
    assert not shadow.checks["every_active_customer_in_erp"]

    platform.set_customer_modes(emea="live")
    live = platform.materialize("emea")
    assert (live.sync["created"], live.sync["updated"]) == (0, 1)
    assert platform.written_in(live) == {("update", cid)}
    number = customer["external_ids"]["erp"]
    assert platform.erp_customers("emea")[number]["email"] == "accounts-payable@renamed.example"
