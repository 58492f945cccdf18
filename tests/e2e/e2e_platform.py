"""The three sandboxes, the resources over them and a Dagster instance, for end-to-end tests
of the transaction assets; plus readers of what billing and the ERP hold."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from dagster import DagsterInstance, MultiPartitionKey, materialize

from assets.checks.customers import customer_checks
from assets.customers import customer_assets
from assets.partitions import REGIONS, date_region_key
from assets.transactions import transaction_assets
from resources.billing import BillingResource
from resources.crm import CrmResource
from resources.erp import ErpResource
from resources.store import StoreResource
from sandboxes.kit.server import RunningSandbox, SandboxConfig, running_sandbox
from sync_platform.settings import REPO_CONFIG
from sync_platform.store import Store
from sync_platform.transactions.billing_mapping import invoice_issued_at, utc_day
from sync_platform.transactions.flow import billing_regions

ANCHOR = date(2026, 11, 1)


@dataclass
class Platform:
    sandboxes: dict[str, RunningSandbox]
    resources: dict[str, Any]
    instance: DagsterInstance
    config_dir: Path  # a copy of config/ the platform reads (SYNC_CONFIG_DIR)
    store_url: str

    @property
    def store(self) -> Store:
        return self.resources["store"].store

    @property
    def erp(self) -> ErpResource:
        return self.resources["erp"]

    @property
    def billing(self) -> BillingResource:
        return self.resources["billing"]

    def materialize(self, assets: list[Any], key: str | MultiPartitionKey) -> dict[str, Any]:
        """Materialize ``assets`` for one partition; the metadata of each asset by key."""
        result = materialize(
            assets, partition_key=key, resources=self.resources, instance=self.instance
        )
        assert result.success
        out: dict[str, Any] = {}
        for event in result.get_asset_materialization_events():
            mat = event.materialization
            out["/".join(mat.asset_key.path)] = {k: v.value for k, v in mat.metadata.items()}
        return out

    def sync_customers(self) -> None:
        for region in REGIONS:
            self.materialize([*customer_assets, *customer_checks], region)

    def backfill(self, keys: list[MultiPartitionKey] | None = None) -> list[dict[str, Any]]:
        """Materialize the transaction assets for ``keys`` (default: every partition billing
        has a document for), one run per partition, in date order."""
        keys = partitions_with_documents(self) if keys is None else keys
        return [self.materialize(transaction_assets, key) for key in keys]


@contextmanager
def running_platform(tmp: Path, world: int, store_url: str | None = None) -> Iterator[Platform]:
    """Sandboxes seeded with ``world`` companies up to ANCHOR, an SQLite store by default."""
    config_dir = tmp / "config"
    shutil.copytree(REPO_CONFIG, config_dir)
    store_url = store_url or f"sqlite:///{tmp / 'store.sqlite3'}"
    with ExitStack() as stack:
        monkeypatch = pytest.MonkeyPatch()
        stack.callback(monkeypatch.undo)
        monkeypatch.setenv("SYNC_CONFIG_DIR", str(config_dir))
        sandboxes = {
            kind: stack.enter_context(
                running_sandbox(
                    SandboxConfig(kind=kind, state_dir=tmp, customers=world, anchor=ANCHOR)
                )
            )
            for kind in ("billing", "crm", "erp")
        }
        resources = {
            "billing": BillingResource(
                base_url=sandboxes["billing"].base_url, api_key=sandboxes["billing"].api_key
            ),
            "crm": CrmResource(
                base_url=sandboxes["crm"].base_url, access_token=sandboxes["crm"].api_key
            ),
            "erp": ErpResource(
                base_url=sandboxes["erp"].base_url, access_token=sandboxes["erp"].api_key
            ),
            "store": StoreResource(url=store_url),
        }
        stack.callback(lambda: resources["store"].store.close())
        yield Platform(sandboxes, resources, DagsterInstance.ephemeral(), config_dir, store_url)


def partitions_with_documents(platform: Platform) -> list[MultiPartitionKey]:
    """Every (day, region) billing has a document for, in date order (invoices before the
    payments and credit notes that refer to them)."""
    regions = billing_regions(platform.store)
    billing = platform.billing
    keys: set[tuple[date, str]] = set()
    for invoice in billing.list_invoices():
        if invoice.status != "draft":
            keys.add((utc_day(invoice_issued_at(invoice)), regions[str(invoice.customer)]))
    for charge in billing.list_charges():
        keys.add((utc_day(charge.created), regions[str(charge.customer)]))
    for note in billing.list_credit_notes():
        keys.add((utc_day(note.created), regions[str(note.customer)]))
    return [date_region_key(day.isoformat(), region) for day, region in sorted(keys)]


def erp_documents(platform: Platform, entity: str, region: str | None = None) -> list[Any]:
    """ERP sales invoices, credit memos, or the G/L entries of posted payments."""
    erp = platform.erp
    out: list[Any] = []
    for name in [region] if region else REGIONS:
        company = erp.company_for_region(name).id
        if entity == "invoices":
            out += list(erp.list_sales_invoices(company))
        elif entity == "credit_memos":
            out += list(erp.list_sales_credit_memos(company))
        else:
            out += list(erp.list_general_ledger_entries(company, document_type="Payment"))
    return out


def open_exceptions(platform: Platform) -> dict[str, str]:
    """Billing id → reason of its open exception."""
    return {
        e.txn_id.rsplit(":", 1)[1]: e.reason_code for e in platform.store.exceptions(status="open")
    }


def billing_customers_in_erp(platform: Platform) -> set[str]:
    erp_numbers = {
        c.number
        for region in REGIONS
        for c in platform.erp.list_customers(platform.erp.company_for_region(region).id)
    }
    return {
        x.billing_customer_id
        for x in platform.store.xrefs()
        if x.billing_customer_id and x.erp_customer_number in erp_numbers
    }


def out_of_band(platform: Platform, action: str, **body: Any) -> dict[str, Any]:
    """Change the ERP as a person would in its own client, through the ERP sandbox's
    sandbox-only ``/_sandbox/out_of_band/<action>`` routes."""
    sandbox = platform.sandboxes["erp"]
    response = httpx.post(
        f"{sandbox.base_url}/_sandbox/out_of_band/{action}",
        json=body,
        headers={"Authorization": f"Bearer {sandbox.api_key}"},
    )
    assert response.status_code == 200, response.text
    return dict(response.json())
