"""The webhook gateway served for real, on SQLite and on PostgreSQL: what the sandboxes send
lands in the inbox once; forged, replayed, malformed and oversized requests get a 4xx, land
nothing and are recorded as rejections, without the body or a secret in the logs."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
from polling import wait_for

from sandboxes.crm.webhooks import v3_signature
from sandboxes.kit.server import (
    DEFAULT_WEBHOOK_SECRETS,
    SandboxConfig,
    free_port,
    running_sandbox,
    serving_in_thread,
)
from sync_platform.gateway.app import create_gateway
from sync_platform.gateway.settings import GatewaySettings
from sync_platform.store import Store

pytestmark = pytest.mark.slow

BILLING_SECRET = DEFAULT_WEBHOOK_SECRETS["billing"]
CRM_SECRET = DEFAULT_WEBHOOK_SECRETS["crm"]
ROTATED_OUT_SECRET = "whsec_the_secret_before_the_last_rotation"
LIMIT = 64 * 1024


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_url")
    opened = Store.open(url)
    yield opened
    opened.close()


@pytest.fixture
def gateway(store: Store) -> Iterator[str]:
    settings = GatewaySettings(
        billing_webhook_secrets=(BILLING_SECRET, ROTATED_OUT_SECRET),
        crm_app_secret=CRM_SECRET,
        max_body_bytes=LIMIT,
    )
    port = free_port()
    with serving_in_thread(create_gateway(store, settings), "127.0.0.1", port, "gateway"):
        yield f"http://127.0.0.1:{port}"


def stripe_signed(body: bytes, secret: str = BILLING_SECRET, at: float | None = None) -> str:
    t = int(time.time() if at is None else at)
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def stripe_event(event_id: str = "evt_test_1", email: str = "ada@example.com") -> bytes:
    event = {
        "id": event_id,
        "object": "event",
        "created": 1_790_000_000,
        "type": "customer.updated",
        "data": {"object": {"id": "cus_1", "object": "customer", "email": email}},
    }
    return json.dumps(event).encode()


def post_billing(gateway: str, body: bytes, signature: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return httpx.post(f"{gateway}/webhooks/billing", content=body, headers=headers)


def delivered(sandbox_url: str, api_key: str) -> int:
    health = httpx.get(
        f"{sandbox_url}/_sandbox/health", headers={"Authorization": f"Bearer {api_key}"}
    )
    return int(health.json()["webhooks"]["delivered"])


# -- billing, from the sandbox -----------------------------------------------------------------
def test_a_webhook_sent_by_the_billing_sandbox_lands_once_even_when_sent_twice(
    store: Store, gateway: str, tmp_path: Path
) -> None:
    config = SandboxConfig(
        kind="billing",
        state_dir=tmp_path / "sandboxes",
        customers=10,
        anchor=date(2026, 11, 1),
        webhook_url=f"{gateway}/webhooks/billing",
    )
    with running_sandbox(config) as sandbox:
        client = stripe.StripeClient(sandbox.api_key, base_addresses={"api": sandbox.base_url})
        customer = client.v1.customers.create(params={"name": "Inbox Ltd"})

        landed = wait_for(lambda: store.pending_events(source="billing"), "the event to land")
        assert [(e.event_type, e.object_id, e.object_type) for e in landed] == [
            ("customer.created", customer.id, "customer")
        ]
        assert landed[0].payload["data"]["object"]["name"] == "Inbox Ltd"

        sandbox.set_faults(webhook_duplicate=1.0)
        before = delivered(sandbox.base_url, sandbox.api_key)
        client.v1.customers.update(customer.id, params={"name": "Inbox Twice Ltd"})
        wait_for(
            lambda: delivered(sandbox.base_url, sandbox.api_key) == before + 2,
            "both copies to be delivered (and answered 2xx)",
        )

    events = store.pending_events(source="billing")
    assert [e.event_type for e in events] == ["customer.created", "customer.updated"]
    assert store.rejections() == []


def test_a_redelivery_is_answered_200_and_lands_nothing_new(store: Store, gateway: str) -> None:
    body = stripe_event()

    first = post_billing(gateway, body, stripe_signed(body))
    again = post_billing(gateway, body, stripe_signed(body))

    assert first.status_code == again.status_code == 200
    assert first.json() == {"received": 1, "new": 1, "duplicate": 0}
    assert again.json() == {"received": 1, "new": 0, "duplicate": 1}
    (event,) = store.pending_events()
    assert (event.source, event.event_id, event.object_id) == ("billing", "evt_test_1", "cus_1")


def test_a_secret_being_rotated_out_is_still_accepted(store: Store, gateway: str) -> None:
    body = stripe_event()

    response = post_billing(gateway, body, stripe_signed(body, secret=ROTATED_OUT_SECRET))

    assert response.status_code == 200
    assert len(store.pending_events()) == 1


# -- billing, refused ----------------------------------------------------------------------------
def test_a_forged_webhook_is_rejected_lands_nothing_and_is_recorded(
    store: Store, gateway: str, caplog: pytest.LogCaptureFixture
) -> None:
    body = stripe_event(email="forged-pii@example.com")

    response = post_billing(gateway, body, stripe_signed(body, secret="whsec_attacker"))

    assert response.status_code == 401
    assert response.json()["error"]["reason"] == "bad_signature"
    assert store.pending_events() == []
    (rejection,) = store.rejections()
    assert (rejection.source, rejection.reason_code, rejection.remote) == (
        "billing",
        "bad_signature",
        "127.0.0.1",
    )
    assert rejection.body_sha256 == hashlib.sha256(body).hexdigest()
    assert rejection.body_bytes == len(body)
    assert "forged-pii" not in rejection.detail and BILLING_SECRET not in rejection.detail
    assert "bad_signature" in caplog.text
    assert "forged-pii" not in caplog.text and BILLING_SECRET not in caplog.text


def test_a_replayed_webhook_with_an_old_timestamp_is_rejected_and_lands_nothing(
    store: Store, gateway: str
) -> None:
    body = stripe_event()
    captured_an_hour_ago = stripe_signed(body, at=time.time() - 3600)

    response = post_billing(gateway, body, captured_an_hour_ago)

    assert response.status_code == 401
    assert response.json()["error"]["reason"] == "stale_timestamp"
    assert store.pending_events() == []
    assert store.inbox_counts()["billing"] == {"pending": 0, "processed": 0, "ignored": 0}
    assert [r.reason_code for r in store.rejections()] == ["stale_timestamp"]


def test_a_request_without_a_signature_is_rejected(store: Store, gateway: str) -> None:
    response = post_billing(gateway, stripe_event(), None)

    assert response.status_code == 401
    assert [r.reason_code for r in store.rejections()] == ["missing_signature"]
    assert store.pending_events() == []


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[]", b'{"object": "event", "type": "customer.created"}', b"\xff\xfe"],
    ids=["not-json", "not-an-object", "no-id", "not-utf8"],
)
def test_a_signed_but_malformed_body_is_a_400(store: Store, gateway: str, body: bytes) -> None:
    response = post_billing(gateway, body, stripe_signed(body))

    assert response.status_code == 400
    assert response.json()["error"]["reason"] == "malformed"
    assert [r.reason_code for r in store.rejections()] == ["malformed"]
    assert store.pending_events() == []


def test_an_oversized_body_gets_413_whether_declared_or_streamed(
    store: Store, gateway: str
) -> None:
    big = b"x" * (LIMIT + 1)

    declared = post_billing(gateway, big, stripe_signed(big))
    streamed = httpx.post(
        f"{gateway}/webhooks/billing",
        content=iter([big[:LIMIT], big[LIMIT:]]),
        headers={"Stripe-Signature": stripe_signed(big)},
    )

    assert declared.status_code == streamed.status_code == 413
    assert declared.json()["error"]["reason"] == "too_large"
    rejections = store.rejections()
    assert [r.reason_code for r in rejections] == ["too_large", "too_large"]
    assert all(r.body_sha256 is None and r.body_bytes > LIMIT for r in rejections)
    assert store.pending_events() == []


def test_an_unknown_source_is_a_404_and_recorded(store: Store, gateway: str) -> None:
    response = httpx.post(f"{gateway}/webhooks/erp", content=b"{}")

    assert response.status_code == 404
    assert [(r.source, r.reason_code) for r in store.rejections()] == [("erp", "unknown_source")]


# -- CRM ---------------------------------------------------------------------------------------
def hubspot_batch(*event_ids: int) -> bytes:
    events = [
        {
            "eventId": event_id,
            "subscriptionId": 11,
            "portalId": 62515,
            "occurredAt": 1_790_000_000_000,
            "subscriptionType": "company.propertyChange",
            "attemptNumber": 0,
            "objectId": 1000 + event_id,
            "propertyName": "name",
            "propertyValue": "Renamed",
        }
        for event_id in event_ids
    ]
    return json.dumps(events).encode()


def post_crm(gateway: str, body: bytes, at_ms: int | None = None, secret: str = CRM_SECRET) -> Any:
    uri = f"{gateway}/webhooks/crm"
    timestamp = str(int(time.time() * 1000) if at_ms is None else at_ms)
    return httpx.post(
        uri,
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-HubSpot-Request-Timestamp": timestamp,
            "X-HubSpot-Signature-v3": v3_signature(secret, "POST", uri, body, timestamp),
        },
    )


def test_a_hubspot_batch_lands_each_event_once(store: Store, gateway: str) -> None:
    body = hubspot_batch(1, 2, 3)

    first = post_crm(gateway, body)
    again = post_crm(gateway, hubspot_batch(3, 4))

    assert first.status_code == again.status_code == 200
    assert again.json() == {"received": 2, "new": 1, "duplicate": 1}
    events = store.pending_events(source="crm")
    assert [e.event_id for e in events] == ["1", "2", "3", "4"]
    assert {(e.event_type, e.object_type) for e in events} == {
        ("company.propertyChange", "company")
    }
    assert events[0].object_id == "1001"


@pytest.mark.parametrize(
    ("body", "at_ms", "secret", "status", "reason"),
    [
        (hubspot_batch(1), None, "another-apps-secret", 401, "bad_signature"),
        (hubspot_batch(1), int((time.time() - 3600) * 1000), CRM_SECRET, 401, "stale_timestamp"),
        (hubspot_batch(*range(1, 102)), None, CRM_SECRET, 400, "malformed"),
        (b'[{"subscriptionType": "company.creation"}]', None, CRM_SECRET, 400, "malformed"),
        (b"{}", None, CRM_SECRET, 400, "malformed"),
    ],
    ids=["forged", "replayed", "over-100-events", "no-event-id", "not-an-array"],
)
def test_refused_hubspot_requests_land_nothing(
    store: Store,
    gateway: str,
    body: bytes,
    at_ms: int | None,
    secret: str,
    status: int,
    reason: str,
) -> None:
    response = post_crm(gateway, body, at_ms=at_ms, secret=secret)

    assert response.status_code == status
    assert [(r.source, r.reason_code) for r in store.rejections()] == [("crm", reason)]
    assert store.pending_events() == []


def test_webhooks_from_the_crm_sandbox_land(store: Store, gateway: str, tmp_path: Path) -> None:
    config = SandboxConfig(
        kind="crm",
        state_dir=tmp_path / "sandboxes",
        customers=10,
        webhook_url=f"{gateway}/webhooks/crm",
    )
    with running_sandbox(config) as sandbox:
        created = httpx.post(
            f"{sandbox.base_url}/crm/v3/objects/companies",
            json={"properties": {"name": "Webhook GmbH", "country": "DE"}},
            headers={"Authorization": f"Bearer {sandbox.api_key}"},
        )
        assert created.status_code == 201, created.text
        company_id = created.json()["id"]

        events = wait_for(
            lambda: [
                e
                for e in store.pending_events(source="crm")
                if e.event_type == "company.creation" and e.object_id == company_id
            ],
            "the creation event to land",
        )
    assert events[0].object_type == "company"
    assert store.rejections() == []


# -- health ------------------------------------------------------------------------------------
def test_healthz_answers(gateway: str) -> None:
    response = httpx.get(f"{gateway}/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
