"""Customer changes through the inbox: the landing sensor's run reads only the records the
events name, brings the ERP in line, and only then marks the events processed; a run that
fails leaves them pending, and the sensor gives them to a new run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from dagster import RunRequest, SensorResult, build_sensor_context, materialize
from e2e_platform import Platform, running_platform

from assets.customers import customer_assets
from resources.erp import ErpResource
from resources.store import StoreResource
from sensors.inbox import inbox_sensor
from sync_platform.gateway.events import hubspot_inbox_event, stripe_inbox_event

pytestmark = pytest.mark.slow
REGION = "na"


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    with running_platform(tmp_path, 150) as running:
        running.materialize(customer_assets, REGION)
        yield running


def http(platform: Platform, kind: str) -> httpx.Client:
    sandbox = platform.sandboxes[kind]
    return httpx.Client(
        base_url=sandbox.base_url, headers={"Authorization": f"Bearer {sandbox.api_key}"}
    )


def synced_customer(platform: Platform) -> dict[str, Any]:
    """A canonical customer of the region known to CRM, billing and the ERP."""
    for _, row in sorted(platform.store.canonical_customers(REGION).items()):
        if {"crm", "billing", "erp"} <= set(row.record["external_ids"]):
            return row.record
    raise AssertionError(f"no customer of {REGION} is in all three systems")


def change_billing_email(platform: Platform, customer_id: str, email: str) -> None:
    """Change the invoice email in billing and land its ``customer.updated`` event, as the
    gateway would."""
    with http(platform, "billing") as billing:
        billing.post(f"/v1/customers/{customer_id}", data={"email": email}).raise_for_status()
        events = billing.get("/v1/events", params={"type": "customer.updated", "limit": 100})
    (event,) = [e for e in events.json()["data"] if e["data"]["object"]["id"] == customer_id][:1]
    platform.store.land_events("billing", [stripe_inbox_event(event)])


def touch_crm_company(platform: Platform, company_id: str) -> None:
    with http(platform, "crm") as crm:
        crm.patch(
            f"/crm/v3/objects/companies/{company_id}",
            json={"properties": {"name": "Renamed In CRM Inc"}},
        ).raise_for_status()
    hubspot = {"eventId": 9001, "subscriptionType": "company.propertyChange"}
    platform.store.land_events("crm", [hubspot_inbox_event({**hubspot, "objectId": company_id})])


def sensor_requests(platform: Platform) -> list[RunRequest]:
    resources = {**platform.resources, "store": StoreResource(url=platform.store_url)}
    with build_sensor_context(instance=platform.instance, resources=resources) as context:
        result = inbox_sensor(context)
    return list(result.run_requests or ()) if isinstance(result, SensorResult) else []


def run(
    platform: Platform, request: RunRequest, **resources: Any
) -> tuple[bool, dict[str, dict[str, Any]]]:
    """The requested run, as the daemon would launch it (with ``resources`` replacing the
    platform's); its success and each asset's metadata."""
    result = materialize(
        customer_assets,
        partition_key=request.partition_key,
        selection=request.asset_selection,
        tags=request.tags,
        resources={**platform.resources, **resources},
        instance=platform.instance,
        raise_on_error=False,
    )
    metadata = {
        "/".join(e.materialization.asset_key.path): {
            k: v.value for k, v in e.materialization.metadata.items()
        }
        for e in result.get_asset_materialization_events()
    }
    return result.success, metadata


def erp_email(platform: Platform, number: str) -> str | None:
    company = platform.erp.company_for_region(REGION)
    customer = platform.erp.find_customer_by_number(company.id, number)
    assert customer is not None
    return customer.model_dump(by_alias=True)["email"]


def test_a_customer_event_reads_only_the_changed_records_and_reaches_the_erp(
    platform: Platform,
) -> None:
    record = synced_customer(platform)
    ids = record["external_ids"]
    change_billing_email(platform, ids["billing"], "invoices@renamed.example")
    touch_crm_company(platform, ids["crm"])

    (request,) = sensor_requests(platform)
    assert request.partition_key == REGION
    success, assets = run(platform, request)

    assert success
    assert assets["billing/customers"]["customers"] == 1
    assert assets["billing/customers"]["read"] == "records named by the inbox events"
    assert assets["crm/companies"]["companies"] == 1
    assert assets["crm/contacts"]["contacts"] == 0
    assert assets["erp/customers"]["modified_since"] != "(full read)"
    assert assets["erp/customer_sync"]["updated"] == 1
    assert assets["erp/customer_sync"]["inbox_events"] == 2
    assert erp_email(platform, ids["erp"]) == "invoices@renamed.example"
    assert platform.store.inbox_counts()["billing"]["processed"] == 1
    assert platform.store.inbox_counts()["crm"]["processed"] == 1
    assert sensor_requests(platform) == []


def test_events_of_a_run_that_failed_are_retried_by_a_new_run(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNC_INBOX_RETRY_DELAYS_SECONDS", "0")
    record = synced_customer(platform)
    ids = record["external_ids"]
    change_billing_email(platform, ids["billing"], "ap@outage.example")
    (request,) = sensor_requests(platform)

    erp = platform.sandboxes["erp"]
    expired = ErpResource(base_url=erp.base_url, access_token="expired-token")
    success, _ = run(platform, request, erp=expired)

    assert not success
    assert platform.store.inbox_counts()["billing"]["pending"] == 1
    (retry,) = sensor_requests(platform)
    assert retry.run_key == f"{request.run_key}~retry1"
    assert retry.partition_key == REGION
    success, assets = run(platform, retry)
    assert success
    assert assets["erp/customer_sync"]["updated"] == 1
    assert erp_email(platform, ids["erp"]) == "ap@outage.example"
    assert platform.store.inbox_counts()["billing"] == {
        "pending": 0,
        "processed": 1,
        "ignored": 0,
    }
    assert sensor_requests(platform) == []
