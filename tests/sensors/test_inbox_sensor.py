"""The landing sensor against a real (SQLite) store: one run per partition, stable run keys,
cursor advance, unroutable events ignored with the reason."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from dagster import (
    AssetsDefinition,
    DagsterInstance,
    RunRequest,
    SensorResult,
    asset,
    build_sensor_context,
    materialize,
)

from resources.billing import BillingResource
from resources.billing_models import StripeCustomer
from resources.crm import CrmResource
from resources.errors import NotFound
from resources.store import StoreResource
from sensors.inbox import inbox_sensor
from sync_platform.inbox_routing import INBOX_RUN_TAG
from sync_platform.store import InboxEventIn, SourceRecordIn, Store

NOV_2 = int(datetime(2026, 11, 2, 10, tzinfo=UTC).timestamp())


@pytest.fixture
def store_url(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    store = Store.open(url)
    store.upsert_source_records(
        "billing",
        "customer",
        [
            SourceRecordIn("cus_A", datetime(2026, 1, 1, tzinfo=UTC), {}, region="emea"),
            SourceRecordIn("cus_N", datetime(2026, 1, 1, tzinfo=UTC), {}, region="na"),
        ],
    )
    store.close()
    yield url


def stripe(n: int, event_type: str, obj: dict[str, Any]) -> InboxEventIn:
    payload = {"id": f"evt_{n}", "type": event_type, "data": {"object": obj}}
    return InboxEventIn(f"evt_{n}", event_type, payload, obj["id"], obj.get("object"))


def invoice(invoice_id: str, customer: str) -> dict[str, Any]:
    return {
        "id": invoice_id,
        "object": "invoice",
        "customer": customer,
        "status_transitions": {"finalized_at": NOV_2},
    }


class BillingWithoutCustomers(BillingResource):
    """Billing that knows none of the customers the store has no snapshot of."""

    def get_customer(self, customer_id: str) -> StripeCustomer:
        raise NotFound("billing", f"No such customer: '{customer_id}'")


def evaluate(url: str, cursor: str | None, instance: DagsterInstance | None = None) -> SensorResult:
    # Unreachable systems: every lookup here is answered from the store's snapshots.
    resources = {
        "store": StoreResource(url=url),
        "billing": BillingWithoutCustomers(base_url="http://127.0.0.1:9", api_key="sk_unused"),
        "crm": CrmResource(base_url="http://127.0.0.1:9", access_token="unused"),
    }
    with build_sensor_context(
        cursor=cursor, instance=instance or DagsterInstance.ephemeral(), resources=resources
    ) as context:
        result = inbox_sensor(context)
    assert isinstance(result, SensorResult)
    return result


def requested(url: str, cursor: str | None, instance: DagsterInstance) -> list[RunRequest]:
    """The run requests of one tick; none when it skipped."""
    resources = {
        "store": StoreResource(url=url),
        "billing": BillingWithoutCustomers(base_url="http://127.0.0.1:9", api_key="sk_unused"),
        "crm": CrmResource(base_url="http://127.0.0.1:9", access_token="unused"),
    }
    with build_sensor_context(cursor=cursor, instance=instance, resources=resources) as context:
        result = inbox_sensor(context)
    return list(result.run_requests or ()) if isinstance(result, SensorResult) else []


def keys(requests: list[RunRequest] | None) -> list[tuple[str | None, str | None]]:
    return [(r.run_key, r.partition_key) for r in requests or ()]


def test_events_become_one_run_per_partition_and_a_tick_again_asks_the_same(
    store_url: str,
) -> None:
    store = Store.open(store_url)
    store.land_events(
        "billing",
        [
            stripe(1, "invoice.finalized", invoice("in_1", "cus_A")),
            stripe(2, "invoice.paid", invoice("in_1", "cus_A")),
            stripe(3, "charge.succeeded", {"id": "ch_1", "created": NOV_2, "customer": "cus_A"}),
            stripe(4, "invoice.finalized", invoice("in_2", "cus_N")),
            stripe(5, "invoice.finalized", invoice("in_3", "cus_unknown")),
            stripe(6, "product.updated", {"id": "prod_1", "object": "product"}),
        ],
    )
    first = evaluate(store_url, None)
    assert keys(first.run_requests) == [
        ("inbox:2026-11-02|emea:1-3", "2026-11-02|emea"),
        ("inbox:2026-11-02|na:4-4", "2026-11-02|na"),
    ]
    emea = first.run_requests[0]  # type: ignore[index]
    assert {"/".join(k.path) for k in emea.asset_selection or ()} == {
        "billing/invoices",
        "canonical/invoices",
        "erp/invoice_postings",
        "billing/payments",
        "canonical/payments",
        "erp/cash_applications",
    }
    assert emea.tags == {
        "sync/inbox_run_key": "inbox:2026-11-02|emea:1-3",
        "sync/correlation": "evt_1",
    }
    assert first.cursor == "6"

    # The tick evaluated again from the old cursor (it never committed): the same runs.
    again = evaluate(store_url, None)
    assert keys(again.run_requests) == keys(first.run_requests)

    assert [e.id for e in store.run_events("inbox:2026-11-02|emea:1-3")] == [1, 2, 3]
    counts = store.inbox_counts()["billing"]
    assert counts == {"pending": 4, "processed": 0, "ignored": 2}
    ignored = {e.event_id: e for e in _all_events(store)}
    assert "cus_unknown" in (ignored["evt_5"].reason or "")
    assert "product.updated" in (ignored["evt_6"].reason or "")


def test_the_cursor_moves_on_and_new_events_make_new_runs(store_url: str) -> None:
    store = Store.open(store_url)
    store.land_events("billing", [stripe(1, "invoice.finalized", invoice("in_1", "cus_A"))])
    first = evaluate(store_url, None)
    store.land_events("billing", [stripe(2, "invoice.paid", invoice("in_1", "cus_A"))])
    second = evaluate(store_url, first.cursor)
    assert keys(second.run_requests) == [("inbox:2026-11-02|emea:2-2", "2026-11-02|emea")]
    assert second.cursor == "2"


def test_customer_events_request_the_customer_assets_of_the_region(store_url: str) -> None:
    store = Store.open(store_url)
    customer = {"id": "cus_A", "object": "customer", "metadata": {"region": "emea"}}
    store.land_events("billing", [stripe(1, "customer.updated", customer)])
    result = evaluate(store_url, None)
    (request,) = result.run_requests or ()
    assert (request.run_key, request.partition_key) == ("inbox:customers|emea:1-1", "emea")
    assert {"/".join(k.path) for k in request.asset_selection or ()} >= {
        "crm/companies",
        "billing/customers",
        "canonical/customers",
        "erp/customer_sync",
    }


@asset
def erp_step_that_fails() -> None:
    raise RuntimeError("the ERP answered 503 for the whole run")


@asset
def erp_step_that_works() -> None:
    return None


def run_under(instance: DagsterInstance, run_key: str, step: AssetsDefinition) -> None:
    """A real run on ``instance`` carrying the inbox run key, as the sensor's runs do."""
    materialize([step], instance=instance, tags={INBOX_RUN_TAG: run_key}, raise_on_error=False)


def test_events_of_a_failed_run_go_to_a_new_run_until_the_retries_are_used_up(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNC_INBOX_RETRY_DELAYS_SECONDS", "0,0")
    instance = DagsterInstance.ephemeral()
    store = Store.open(store_url)
    store.land_events("billing", [stripe(1, "invoice.finalized", invoice("in_1", "cus_A"))])
    first = evaluate(store_url, None, instance)
    assert keys(first.run_requests) == [("inbox:2026-11-02|emea:1-1", "2026-11-02|emea")]

    # Its run still to come, or succeeded: nothing to retry.
    assert requested(store_url, first.cursor, instance) == []
    run_under(instance, "inbox:2026-11-02|emea:1-1", erp_step_that_works)
    assert requested(store_url, first.cursor, instance) == []

    run_under(instance, "inbox:2026-11-02|emea:1-1", erp_step_that_fails)
    assert requested(store_url, first.cursor, instance) == [], "one run succeeded"

    store.land_events("billing", [stripe(2, "invoice.finalized", invoice("in_2", "cus_A"))])
    second = evaluate(store_url, first.cursor, instance)
    (request,) = second.run_requests or ()
    run_under(instance, "inbox:2026-11-02|emea:2-2", erp_step_that_fails)

    retry = requested(store_url, second.cursor, instance)
    assert keys(retry) == [("inbox:2026-11-02|emea:2-2~retry1", "2026-11-02|emea")]
    (again,) = retry
    assert again.asset_selection == request.asset_selection
    assert again.tags[INBOX_RUN_TAG] == "inbox:2026-11-02|emea:2-2~retry1"
    assert [e.event_id for e in store.run_events("inbox:2026-11-02|emea:2-2~retry1")] == ["evt_2"]
    # The tick did not commit (no run yet under the new key): the same request again.
    assert keys(requested(store_url, second.cursor, instance)) == keys(retry)

    run_under(instance, "inbox:2026-11-02|emea:2-2~retry1", erp_step_that_fails)
    last = requested(store_url, second.cursor, instance)
    assert keys(last) == [("inbox:2026-11-02|emea:2-2~retry2", "2026-11-02|emea")]
    run_under(instance, "inbox:2026-11-02|emea:2-2~retry2", erp_step_that_fails)
    assert requested(store_url, second.cursor, instance) == []
    # Retries used up: the event waits, pending, for the partition's next backfill.
    assert store.inbox_counts()["billing"]["pending"] == 2


def _all_events(store: Store) -> list[Any]:
    from sqlalchemy import select

    from sync_platform.store.schema import inbox_events

    with store.engine.begin() as conn:
        rows = conn.execute(select(inbox_events)).all()
    return [row for row in rows]
