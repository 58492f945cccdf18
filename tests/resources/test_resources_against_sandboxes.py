"""Each system API reads a 10,000-record collection completely, each record exactly once,
from its sandbox while the sandbox answers 20 % of calls with 5xx and rate-limits others."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from resources.billing import BillingResource
from resources.crm import CrmResource
from resources.erp import ErpResource
from sandboxes.kit.faults import Faults
from sandboxes.kit.server import RunningSandbox, SandboxConfig, running_sandbox
from sandboxes.kit.world import World, build_world

# World sizes that give each system a customer collection of more than 10,000 records.
BILLING_AND_CRM_WORLD = 10_400
ERP_WORLD = 19_000  # about 55 % of companies are ERP customers at the start
FAULTS = Faults(server_error=0.2, rate_limit=0.2)
ANCHOR = date(2026, 11, 1)
FAST_RETRIES: dict[str, Any] = {"retry_base_delay_seconds": 0.02, "max_attempts": 12}


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sandboxes")


def _sandbox(kind: str, state: Path, customers: int) -> Iterator[tuple[RunningSandbox, World]]:
    config = SandboxConfig(
        kind=kind,  # type: ignore[arg-type]
        state_dir=state,
        customers=customers,
        anchor=ANCHOR,
        faults=FAULTS,
    )
    with running_sandbox(config) as sandbox:
        yield sandbox, build_world(config.seed, customers, ANCHOR)


def _exactly_once(ids: list[str]) -> Counter[str]:
    return Counter(i for i, n in Counter(ids).items() if n > 1)


def test_billing_resource_reads_every_customer_once_through_faults(state: Path) -> None:
    for sandbox, world in _sandbox("billing", state, BILLING_AND_CRM_WORLD):
        billing = BillingResource(
            base_url=sandbox.base_url, api_key=sandbox.api_key, **FAST_RETRIES
        )
        ids = [c.id for c in billing.list_customers()]
        expected = {c.billing_customer_id for c in world.companies if c.in_billing}
        assert len(expected) > 10_000
        assert not _exactly_once(ids), "customers read more than once"
        assert set(ids) == expected
        assert billing.api.stats.retries > 0, "the faults were not exercised"


def test_crm_resource_reads_every_company_once_through_faults(state: Path) -> None:
    for sandbox, world in _sandbox("crm", state, BILLING_AND_CRM_WORLD):
        crm = CrmResource(base_url=sandbox.base_url, access_token=sandbox.api_key, **FAST_RETRIES)
        ids = [c.id for c in crm.list_objects("companies")]
        expected = {c.crm_company_id for c in world.companies if c.in_crm} | {
            c.crm_duplicate_id for c in world.companies if c.crm_duplicate
        }
        assert len(expected) > 10_000
        assert not _exactly_once(ids), "companies read more than once"
        assert set(ids) == expected
        assert crm.api.stats.retries > 0, "the faults were not exercised"


def test_erp_resource_reads_every_customer_once_through_faults(state: Path) -> None:
    for sandbox, world in _sandbox("erp", state, ERP_WORLD):
        erp = ErpResource(base_url=sandbox.base_url, access_token=sandbox.api_key, **FAST_RETRIES)
        numbers = [
            customer.number
            for company in erp.list_companies()
            for customer in erp.list_customers(company.id)
        ]
        expected = {c.erp_customer_number for c in world.companies if c.in_erp}
        assert len(expected) > 10_000
        assert not _exactly_once(numbers), "customers read more than once"
        assert set(numbers) == expected
        assert erp.api.stats.retries > 0, "the faults were not exercised"
