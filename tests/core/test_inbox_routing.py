"""Routing inbox events to the assets and partitions they affect, and planning runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sync_platform.inbox_routing import (
    ChargeRef,
    CustomerTarget,
    Lookups,
    TransactionTarget,
    Unroutable,
    changed_customer_records,
    objects_of_kind,
    plan_runs,
    retry_run_key,
    route,
    transaction_kind_of,
)

NOV_2 = int(datetime(2026, 11, 2, 23, 30, tzinfo=UTC).timestamp())
LOOKUPS = Lookups(
    billing_customer_region={"cus_A": "emea"}.get,
    crm_company_region={"101": "na"}.get,
    crm_contact_region={"201": "apac"}.get,
    charge_of_intent={"pi_1": ChargeRef("ch_1", datetime.fromtimestamp(NOV_2, UTC), "cus_A")}.get,
)


@dataclass(frozen=True)
class Event:
    id: int
    source: str
    event_type: str
    payload: Any
    object_id: str | None = None
    event_id: str = ""
    run_key: str | None = None


def stripe(event_type: str, obj: dict[str, Any], id: int = 1) -> Event:
    payload = {"id": f"evt_{id}", "type": event_type, "data": {"object": obj}}
    return Event(id, "billing", event_type, payload, obj.get("id"), f"evt_{id}")


def invoice(finalized_at: int | None, customer: str = "cus_A") -> dict[str, Any]:
    return {
        "id": "in_1",
        "object": "invoice",
        "customer": customer,
        "created": NOV_2 - 7200,
        "status_transitions": {"finalized_at": finalized_at},
    }


def test_an_invoice_event_affects_the_day_it_was_finalized_in_its_customers_region() -> None:
    for event_type in ("invoice.finalized", "invoice.paid", "invoice.voided"):
        routed = route(stripe(event_type, invoice(NOV_2)), LOOKUPS)
        assert routed == TransactionTarget("invoice", "in_1", date(2026, 11, 2), "emea")


def test_a_draft_invoice_affects_nothing_yet_and_says_why() -> None:
    routed = route(stripe("invoice.created", invoice(None)), LOOKUPS)
    assert isinstance(routed, Unroutable) and "draft" in routed.reason


def test_payments_are_routed_by_their_charge_also_from_intents_and_invoice_payments() -> None:
    charge = {"id": "ch_1", "object": "charge", "created": NOV_2, "customer": "cus_A"}
    intent = {"id": "pi_1", "object": "payment_intent", "customer": "cus_A"}
    link = {"id": "inpay_1", "object": "invoice_payment", "payment": {"payment_intent": "pi_1"}}
    expected = TransactionTarget("payment", "ch_1", date(2026, 11, 2), "emea")
    assert route(stripe("charge.succeeded", charge), LOOKUPS) == expected
    assert route(stripe("charge.refunded", charge), LOOKUPS) == expected
    assert route(stripe("payment_intent.succeeded", intent), LOOKUPS) == expected
    assert route(stripe("invoice_payment.paid", link), LOOKUPS) == expected


def test_credit_notes_and_customers() -> None:
    note = {"id": "cn_1", "object": "credit_note", "created": NOV_2, "customer": "cus_A"}
    assert route(stripe("credit_note.created", note), LOOKUPS) == TransactionTarget(
        "credit_note", "cn_1", date(2026, 11, 2), "emea"
    )
    customer = {"id": "cus_B", "object": "customer", "metadata": {}, "address": {"country": "AU"}}
    assert route(stripe("customer.updated", customer), LOOKUPS) == CustomerTarget(
        "apac", "billing_customer", "cus_B"
    )
    subscription = {"id": "sub_1", "object": "subscription", "customer": "cus_A"}
    assert route(stripe("customer.subscription.updated", subscription), LOOKUPS) == (
        CustomerTarget("emea", "billing_customer", "cus_A")
    )


def test_crm_events_go_to_the_customer_workflow_of_the_companys_region() -> None:
    def hubspot(event_type: str, object_id: int) -> Event:
        payload = {"subscriptionType": event_type, "objectId": object_id}
        return Event(1, "crm", event_type, payload, str(object_id))

    company = CustomerTarget("na", "crm_company", "101")
    assert route(hubspot("company.propertyChange", 101), LOOKUPS) == company
    assert route(hubspot("company.creation", 101), LOOKUPS) == company
    assert route(hubspot("contact.propertyChange", 201), LOOKUPS) == CustomerTarget(
        "apac", "crm_contact", "201"
    )
    unknown = route(hubspot("company.creation", 999), LOOKUPS)
    assert isinstance(unknown, Unroutable) and "999" in unknown.reason
    assert isinstance(route(hubspot("deal.creation", 5), LOOKUPS), Unroutable)


def test_unknown_customers_and_unsynced_types_are_unroutable_with_a_reason() -> None:
    stranger = route(stripe("invoice.finalized", invoice(NOV_2, "cus_Z")), LOOKUPS)
    assert isinstance(stranger, Unroutable) and "cus_Z" in stranger.reason
    product = route(stripe("product.updated", {"id": "prod_1", "object": "product"}), LOOKUPS)
    assert isinstance(product, Unroutable) and "product.updated" in product.reason


def test_many_events_become_one_run_per_partition_with_a_stable_key() -> None:
    events = [
        stripe("invoice.finalized", invoice(NOV_2), 1),
        stripe("invoice.paid", invoice(NOV_2), 2),
        stripe("charge.succeeded", {"id": "ch_1", "created": NOV_2, "customer": "cus_A"}, 3),
        stripe("product.updated", {"id": "prod_1"}, 4),
        stripe("customer.updated", {"id": "cus_A", "object": "customer", "metadata": {}}, 5),
    ]
    routes = [route(e, LOOKUPS) for e in events]
    plan = plan_runs(events, routes)
    assert [(r.partition, r.kinds, r.event_ids) for r in plan.runs] == [
        ("2026-11-02|emea", ("invoice", "payment"), (1, 2, 3)),
        ("emea", (), (5,)),
    ]
    assert plan.runs[0].run_key == "inbox:2026-11-02|emea:1-3"
    assert plan.runs[0].first_event_id == "evt_1"
    assert [i for i, _ in plan.ignored] == [4]
    assert plan_runs(events, routes) == plan
    assert objects_of_kind(routes, "invoice") == ["in_1"]


def test_events_scheduled_before_keep_their_run() -> None:
    first = stripe("invoice.finalized", invoice(NOV_2), 1)
    scheduled = Event(**{**first.__dict__, "run_key": "inbox:2026-11-02|emea:1-1"})
    later = stripe("invoice.paid", invoice(NOV_2), 2)
    plan = plan_runs([scheduled, later], [route(scheduled, LOOKUPS), route(later, LOOKUPS)])
    assert [(r.run_key, r.event_ids) for r in plan.runs] == [
        ("inbox:2026-11-02|emea:1-1", (1,)),
        ("inbox:2026-11-02|emea:2-2", (2,)),
    ]


def test_a_customer_run_reads_exactly_the_records_its_events_name() -> None:
    subscription = {"id": "sub_1", "object": "subscription", "customer": "cus_A"}
    events = [
        stripe("customer.updated", {"id": "cus_B", "object": "customer"}, id=1),
        stripe("customer.subscription.updated", subscription, id=2),
        stripe("customer.updated", {"id": "cus_B", "object": "customer"}, id=3),
        Event(4, "crm", "company.propertyChange", {}, "101"),
        Event(5, "crm", "contact.creation", {}, "201"),
        stripe("invoice.finalized", invoice(NOV_2), id=6),
    ]
    assert changed_customer_records(events, "billing_customer") == ["cus_B", "cus_A"]
    assert changed_customer_records(events, "crm_company") == ["101"]
    assert changed_customer_records(events, "crm_contact") == ["201"]


def test_the_kind_of_document_an_event_is_about_needs_no_lookup() -> None:
    kinds = {
        "invoice.finalized": "invoice",
        "invoice.voided": "invoice",
        "invoice_payment.paid": "payment",
        "charge.refunded": "payment",
        "payment_intent.succeeded": "payment",
        "credit_note.created": "credit_note",
        "payment_intent.created": None,
        "customer.updated": None,
    }
    for event_type, kind in kinds.items():
        assert transaction_kind_of(stripe(event_type, {"id": "x"})) == kind, event_type
    assert transaction_kind_of(Event(1, "crm", "invoice.creation", {}, "1")) is None


def test_a_failed_run_is_retried_three_times_after_growing_delays() -> None:
    failed = datetime(2026, 11, 2, 10, tzinfo=UTC)
    key = "inbox:2026-11-02|emea:1-3"
    assert retry_run_key(key, failed, failed + timedelta(seconds=29)) is None
    first = retry_run_key(key, failed, failed + timedelta(seconds=30))
    assert first == f"{key}~retry1"
    assert retry_run_key(first, failed, failed + timedelta(seconds=119)) is None
    second = retry_run_key(first, failed, failed + timedelta(minutes=2))
    assert second == f"{key}~retry2"
    third = retry_run_key(second, failed, failed + timedelta(minutes=8))
    assert third == f"{key}~retry3"
    assert retry_run_key(third, failed, failed + timedelta(days=1)) is None
