"""Catch-up lands what the webhooks missed, from the billing and CRM sandboxes' own feeds:
each event exactly once whoever landed it first, nothing skipped or re-read forever when many
events share one second, a vendor error never losing the cursor, and a cursor older than the
events billing keeps reported as days to re-read, not skipped."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from dagster import SkipReason, build_sensor_context
from polling import wait_for

from resources.billing import BillingResource
from resources.crm import CrmResource
from resources.store import StoreResource
from sandboxes.kit.faults import Faults
from sandboxes.kit.server import (
    DEFAULT_WEBHOOK_SECRETS,
    RunningSandbox,
    SandboxConfig,
    free_port,
    running_sandbox,
    serving_in_thread,
)
from sensors.catch_up import catch_up_sensor
from sync_platform import catch_up
from sync_platform.catch_up import (
    BillingCursor,
    CatchUpCursor,
    CrmCursor,
    catch_up_billing,
    catch_up_crm,
)
from sync_platform.gateway.app import create_gateway
from sync_platform.gateway.settings import GatewaySettings
from sync_platform.store import LandCounts, Store

NO_RETRIES: dict[str, Any] = {"max_attempts": 1}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    yield opened
    opened.close()


def sandbox_config(tmp_path: Path, kind: str, **extra: Any) -> SandboxConfig:
    return SandboxConfig(
        kind=kind,  # type: ignore[arg-type]
        state_dir=tmp_path / kind,
        customers=20,
        **extra,
    )


@pytest.fixture
def billing_sandbox(tmp_path: Path) -> Iterator[RunningSandbox]:
    with running_sandbox(sandbox_config(tmp_path, "billing")) as sandbox:
        yield sandbox


@pytest.fixture
def crm_sandbox(tmp_path: Path) -> Iterator[RunningSandbox]:
    with running_sandbox(sandbox_config(tmp_path, "crm")) as sandbox:
        yield sandbox


def billing_of(sandbox: RunningSandbox, **options: Any) -> BillingResource:
    return BillingResource(base_url=sandbox.base_url, api_key=sandbox.api_key, **options)


def crm_of(sandbox: RunningSandbox, **options: Any) -> CrmResource:
    return CrmResource(base_url=sandbox.base_url, access_token=sandbox.api_key, **options)


def settled() -> datetime:
    """A pass's clock once everything made so far is older than the settle time."""
    return datetime.now(UTC) + timedelta(seconds=catch_up.SETTLE_SECONDS + 1)


def just_before() -> BillingCursor:
    return BillingCursor(int(time.time()) - 1)


def change_customers(billing: BillingResource, count: int) -> None:
    """``count`` customer updates, each of which the sandbox records as an event."""
    customers = [c.id for _, c in zip(range(count), billing.list_customers(), strict=False)]
    for n, customer_id in enumerate(customers):
        billing.update_customer(
            customer_id, {"metadata": {"catch_up": f"{n}-{uuid.uuid4().hex[:6]}"}}, uuid.uuid4().hex
        )


def inbox_ids(store: Store, source: str) -> Counter[str]:
    return Counter(e.event_id for e in store.pending_events(source=source, limit=10_000))


def event_ids(billing: BillingResource) -> set[str]:
    return {e.id for e in billing.list_events()}


# -- billing -----------------------------------------------------------------------------------
def test_every_missed_event_lands_once_and_a_second_pass_lands_nothing(
    billing_sandbox: RunningSandbox, store: Store
) -> None:
    billing = billing_of(billing_sandbox)
    cursor = just_before()
    change_customers(billing, 6)

    first = catch_up_billing(billing, store, cursor, now=settled())
    again = catch_up_billing(billing, store, first.cursor, now=settled())

    assert first.counts == LandCounts(new=6, duplicate=0)
    assert first.error is None and first.reread is None
    assert inbox_ids(store, "billing") == Counter(event_ids(billing))
    assert again.counts == LandCounts()
    assert again.cursor.created >= first.cursor.created


def test_events_the_webhooks_delivered_are_not_landed_again(store: Store, tmp_path: Path) -> None:
    secret = DEFAULT_WEBHOOK_SECRETS["billing"]
    port = free_port()
    settings = GatewaySettings(
        billing_webhook_secrets=(secret,), crm_app_secret=DEFAULT_WEBHOOK_SECRETS["crm"]
    )
    gateway = create_gateway(store, settings)
    with (
        serving_in_thread(gateway, "127.0.0.1", port, "gateway"),
        running_sandbox(
            sandbox_config(
                tmp_path,
                "billing",
                webhook_url=f"http://127.0.0.1:{port}/webhooks/billing",
                faults=Faults(webhook_drop=0.5),
            )
        ) as sandbox,
    ):
        billing = billing_of(sandbox)
        cursor = just_before()
        change_customers(billing, 12)
        stats = wait_for(lambda: _settled_webhooks(sandbox, 12), "every webhook sent or dropped")
        assert 0 < stats["dropped"] < 12, "the drop fault should lose some, not all"
        webhook_landed = sum(inbox_ids(store, "billing").values())

        result = catch_up_billing(billing, store, cursor, now=settled())

        assert webhook_landed == stats["delivered"]
        assert result.counts == LandCounts(new=stats["dropped"], duplicate=webhook_landed)
        assert inbox_ids(store, "billing") == Counter(event_ids(billing))


def _settled_webhooks(sandbox: RunningSandbox, expected: int) -> dict[str, int] | None:
    health = httpx.get(
        f"{sandbox.base_url}/_sandbox/health",
        headers={"Authorization": f"Bearer {sandbox.api_key}"},
    ).json()["webhooks"]
    done = int(health["delivered"]) + int(health["dropped"])
    return {k: int(v) for k, v in health.items()} if done >= expected else None


def test_events_sharing_a_second_are_neither_skipped_nor_read_forever(
    billing_sandbox: RunningSandbox, store: Store
) -> None:
    billing = billing_of(billing_sandbox)
    change_customers(billing, 8)
    by_second: dict[int, list[str]] = {}
    for event in billing.list_events():
        by_second.setdefault(int(event.created.timestamp()), []).append(event.id)
    second, tied = max(by_second.items(), key=lambda item: len(item[1]))
    assert len(tied) >= 3, "the updates should share a second"
    tied.sort()
    # A pass that landed the first two events of that second, then stopped.
    cursor = BillingCursor(second, tied[1])

    resumed = catch_up_billing(billing, store, cursor, now=settled())
    again = catch_up_billing(billing, store, resumed.cursor, now=settled())

    expected = {i for s, ids in by_second.items() for i in ids if (s, i) > (second, tied[1])}
    assert set(inbox_ids(store, "billing")) == expected
    assert set(tied[2:]) <= expected
    assert resumed.counts == LandCounts(new=len(expected), duplicate=0)
    assert again.counts == LandCounts()


def test_a_vendor_error_keeps_the_cursor_and_the_next_pass_lands_everything(
    billing_sandbox: RunningSandbox, store: Store
) -> None:
    billing = billing_of(billing_sandbox, **NO_RETRIES)
    cursor = just_before()
    change_customers(billing, 4)

    billing_sandbox.set_faults(server_error=1.0)
    failed = catch_up_billing(billing, store, cursor, now=settled())
    billing_sandbox.set_faults(server_error=0.0)
    resumed = catch_up_billing(billing, store, failed.cursor, now=settled())

    assert failed.error is not None and "billing" in failed.error
    assert failed.cursor == cursor
    assert failed.counts == LandCounts()
    assert resumed.counts == LandCounts(new=4, duplicate=0)
    assert inbox_ids(store, "billing") == Counter(event_ids(billing))


def test_a_cursor_older_than_the_event_retention_reports_the_days_to_re_read(
    billing_sandbox: RunningSandbox, store: Store
) -> None:
    billing = billing_of(billing_sandbox)
    now = datetime.now(UTC)
    stale = BillingCursor(int((now - timedelta(days=40)).timestamp()))
    change_customers(billing, 2)

    result = catch_up_billing(billing, store, stale, now=settled())

    assert result.reread is not None
    assert result.reread.first_day == (now - timedelta(days=40)).date()
    assert result.reread.last_day in {
        (now - timedelta(days=30)).date(),
        (now - timedelta(days=29)).date(),
    }
    assert "30 days" in result.reread.reason
    assert result.counts == LandCounts(new=2, duplicate=0), "what is still kept still lands"


def test_without_a_cursor_the_first_pass_starts_from_now(
    billing_sandbox: RunningSandbox, store: Store
) -> None:
    billing = billing_of(billing_sandbox)
    change_customers(billing, 2)

    result = catch_up_billing(billing, store, None)

    assert result.counts == LandCounts()
    assert result.cursor.created <= int(time.time())


# -- CRM ---------------------------------------------------------------------------------------
def patch(sandbox: RunningSandbox, object_type: str, object_id: str, **properties: str) -> None:
    response = httpx.patch(
        f"{sandbox.base_url}/crm/v3/objects/{object_type}/{object_id}",
        json={"properties": properties},
        headers={"Authorization": f"Bearer {sandbox.api_key}"},
    )
    assert response.status_code == 200, response.text


def test_companies_and_contacts_modified_since_the_cursor_land_once(
    crm_sandbox: RunningSandbox, store: Store
) -> None:
    crm = crm_of(crm_sandbox)
    companies = [c.id for _, c in zip(range(2), crm.list_objects("companies"), strict=False)]
    contact = next(iter(crm.list_objects("contacts"))).id
    cursor = CrmCursor.starting_at(datetime.now(UTC) - timedelta(seconds=1))
    for company in companies:
        patch(crm_sandbox, "companies", company, phone="+44 20 7946 0000")
    patch(crm_sandbox, "contacts", contact, jobtitle="Controller")

    first = catch_up_crm(crm, store, cursor, now=settled())
    again = catch_up_crm(crm, store, first.cursor, now=settled())
    reread = catch_up_crm(crm, store, cursor, now=settled())

    landed = store.pending_events(source="crm")
    assert sorted((e.event_type, e.object_type, e.object_id) for e in landed) == sorted(
        [("company.propertyChange", "company", c) for c in companies]
        + [("contact.propertyChange", "contact", contact)]
    )
    assert first.counts == LandCounts(new=3, duplicate=0)
    assert again.counts == LandCounts()
    assert reread.counts == LandCounts(new=0, duplicate=3), "same version, same event id"
    assert all(e.payload["changeSource"] == "CATCH_UP" for e in landed)


# -- the sensor --------------------------------------------------------------------------------
def test_the_sensor_lands_both_systems_and_keeps_its_cursor_through_an_error(
    billing_sandbox: RunningSandbox,
    crm_sandbox: RunningSandbox,
    store: Store,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(catch_up, "SETTLE_SECONDS", 0)
    billing = billing_of(billing_sandbox, **NO_RETRIES)
    crm = crm_of(crm_sandbox)
    resources = {
        "billing": billing,
        "crm": crm,
        "store": StoreResource(url=f"sqlite:///{tmp_path / 'store.sqlite3'}"),
    }
    start = CatchUpCursor(
        BillingCursor(int(time.time()) - 1),
        CrmCursor.starting_at(datetime.now(UTC) - timedelta(seconds=1)),
    )
    change_customers(billing, 3)
    company = next(iter(crm.list_objects("companies"))).id
    patch(crm_sandbox, "companies", company, phone="+33 1 23 45 67 89")
    changed_in = int(time.time())
    # Cursors count whole seconds: the second the changes happened in must be over.
    wait_for(lambda: int(time.time()) > changed_in, "the changes' second to be over", timeout=5)

    billing_sandbox.set_faults(server_error=1.0)
    failed, after_error = tick(start.to_text(), resources)
    billing_sandbox.set_faults(server_error=0.0)
    landed, after_success = tick(after_error, resources)

    assert "stopped early" in failed
    assert failed.endswith("crm: 1 new, 0 already landed"), "the CRM does not wait for billing"
    assert CatchUpCursor.from_text(after_error).billing == start.billing, (
        "a vendor error must not move billing's cursor"
    )
    assert landed == "billing: 3 new, 0 already landed; crm: 0 new, 0 already landed"
    assert inbox_ids(store, "billing") == Counter(event_ids(billing))
    assert [e.object_id for e in store.pending_events(source="crm")] == [company]
    assert CatchUpCursor.from_text(after_success).reread == ()


def tick(cursor: str, resources: dict[str, Any]) -> tuple[str, str]:
    """One evaluation of the sensor: its skip message and the cursor it leaves."""
    with build_sensor_context(cursor=cursor, resources=resources) as context:
        result = catch_up_sensor(context)
        assert isinstance(result, SkipReason)
        assert context.cursor is not None
        return str(result.skip_message), context.cursor
