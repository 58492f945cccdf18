"""A billing address that changes after the customer was invoiced, end to end: the change
policy decides ``new_ship_to``, the ERP customer keeps the address its posted invoices carry,
and the new address reaches the ERP as a ship-to address through the companion extension's
API, once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from dagster import materialize
from e2e_platform import Platform, running_platform
from sqlalchemy import select

from assets.checks.customers import customer_checks
from assets.customers import customer_assets
from sync_platform.customers import region_flow
from sync_platform.customers.erp_sync import ship_to_code
from sync_platform.customers.model import CanonicalCustomer
from sync_platform.store.schema import write_ledger

pytestmark = pytest.mark.slow
WORLD = 40
REGION = "na"
NEW_ADDRESS = {
    "address[line1]": "500 Harbor Boulevard",
    "address[line2]": "Suite 12",
    "address[city]": "Seattle",
    "address[state]": "WA",
    "address[postal_code]": "98101",
    "address[country]": "US",
}


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    with running_platform(tmp_path, WORLD) as running:
        yield running


def run_customers(platform: Platform) -> tuple[dict[str, Any], dict[str, bool]]:
    """Materialize the customer assets and checks of the region: the sync's metadata, and
    whether each check passed."""
    result = materialize(
        [*customer_assets, *customer_checks],
        partition_key=REGION,
        resources=platform.resources,
        instance=platform.instance,
    )
    assert result.success
    sync = next(
        {k: v.value for k, v in e.materialization.metadata.items()}
        for e in result.get_asset_materialization_events()
        if e.materialization.asset_key.path == ["erp", "customer_sync"]
    )
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    return sync, checks


def client(platform: Platform, kind: str) -> httpx.Client:
    sandbox = platform.sandboxes[kind]
    return httpx.Client(
        base_url=sandbox.base_url, headers={"Authorization": f"Bearer {sandbox.api_key}"}
    )


def post_an_invoice(platform: Platform, company_id: str, number: str) -> None:
    with client(platform, "erp") as erp:
        base = f"/api/v2.0/companies({company_id})"
        item = erp.get(f"{base}/items").json()["value"][0]
        invoice = erp.post(
            f"{base}/salesInvoices",
            json={
                "customerNumber": number,
                "invoiceDate": "2026-10-20",
                "salesInvoiceLines": [
                    {"lineObjectNumber": item["number"], "quantity": 1, "unitPrice": 100}
                ],
            },
        )
        assert invoice.status_code == 201, invoice.text
        posted = erp.post(f"{base}/salesInvoices({invoice.json()['id']})/Microsoft.NAV.post")
        assert posted.status_code == 204, posted.text


def test_a_billing_address_changed_after_an_invoice_becomes_an_erp_ship_to(
    platform: Platform,
) -> None:
    run_customers(platform)
    waiting = region_flow.plan_only(platform.store, REGION).waiting
    cid, record = next(
        (cid, row.record)
        for cid, row in sorted(platform.store.canonical_customers(REGION).items())
        if {"billing", "erp"} <= set(row.record["external_ids"]) and cid not in waiting
    )
    number = record["external_ids"]["erp"]
    company = platform.erp.company_for_region(REGION)
    before = platform.erp.find_customer_by_number(company.id, number)
    assert before is not None
    post_an_invoice(platform, company.id, number)
    with client(platform, "billing") as billing:
        billing.post(
            f"/v1/customers/{record['external_ids']['billing']}", data=NEW_ADDRESS
        ).raise_for_status()

    sync, checks = run_customers(platform)

    canonical = CanonicalCustomer.model_validate(
        platform.store.canonical_customers(REGION)[cid].record
    )
    assert canonical.bill_to is not None and canonical.bill_to.city == "Seattle"
    code = ship_to_code(canonical)
    sites = platform.erp.list_ship_to_addresses(company.id, number)
    assert [
        (s.code, s.name, s.addressLine1, s.addressLine2, s.city, s.state, s.postalCode, s.country)
        for s in sites
        if s.code != "MAIN"  # a site the ERP had already
    ] == [
        (
            code,
            before.displayName,
            "500 Harbor Boulevard",
            "Suite 12",
            "Seattle",
            "WA",
            "98101",
            "US",
        )
    ]
    after = platform.erp.find_customer_by_number(company.id, number)
    assert after is not None
    address = ("addressLine1", "addressLine2", "city", "state", "postalCode", "country")
    assert [getattr(after, f) for f in address] == [getattr(before, f) for f in address]
    assert (sync["created"], sync["updated"], sync["ship_tos_created"]) == (0, 1, 1)
    assert all(checks.values()), checks

    (review,) = [
        r for r in platform.store.reviews(region=REGION, kind="change_policy") if r.subject == cid
    ]
    assert (review.status, review.decided_by) == ("applied", "sync-platform")
    assert review.payload["action"] == "new_ship_to"
    assert review.payload["ship_to_code"] == code
    assert review.reason is not None
    assert review.reason.startswith(f"Created ERP ship-to {code} of customer {number}")
    with platform.store.engine.connect() as conn:
        (write,) = [
            row
            for row in conn.execute(select(write_ledger))
            if row.idempotency_key.startswith(f"erp:customer:update:{cid}:")
        ]
    assert write.status == "succeeded" and write.object_id == number
    assert (write.response["ship_to"]["code"], write.response["ship_to"]["created"]) == (code, True)

    again, checks = run_customers(platform)

    assert (again["created"], again["updated"], again["ship_tos_created"]) == (0, 0, 0)
    assert all(checks.values()), checks
    assert len(platform.erp.list_ship_to_addresses(company.id, number)) == len(sites)
    assert region_flow.plan_against_erp(platform.store, platform.erp, REGION).actions == ()
