"""An ERP sandbox seeded with a 60-company world, and that world, for the ERP resource tests
(a test module may define its own ``erp`` fixture instead)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from resources.erp import ErpResource
from sandboxes.kit.server import SandboxConfig, running_sandbox
from sandboxes.kit.world import World, build_world

ERP_ANCHOR = date(2026, 11, 1)
ERP_WORLD = 60


@pytest.fixture(scope="module")
def erp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ErpResource]:
    state = tmp_path_factory.mktemp("erp")
    config = SandboxConfig(kind="erp", state_dir=state, customers=ERP_WORLD, anchor=ERP_ANCHOR)
    with running_sandbox(config) as sandbox:
        yield ErpResource(base_url=sandbox.base_url, access_token=sandbox.api_key)


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(42, ERP_WORLD, ERP_ANCHOR)
