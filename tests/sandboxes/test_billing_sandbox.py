"""The billing sandbox, judged by the official ``stripe`` package.

Each test states one behaviour of Stripe's API v1 that our integration relies on; the
sandbox must behave that way for the unmodified SDK.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import stripe
from polling import wait_for

from sandboxes.billing.forms import parse_form
from sandboxes.kit.server import RunningSandbox, SandboxConfig, running_sandbox
from sandboxes.kit.world import build_world

CUSTOMERS = 60
ANCHOR = date(2026, 6, 1)
# The vendor specs live in shared/, beside the repository (see README "Tests").
FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "specs" / "stripe" / "fixtures3.json"
# Fixture keys the sandbox leaves out on purpose, per object.
OMITTED_KEYS: dict[str, set[str]] = {
    # Removed from invoices in API 2025-03-31.basil (the link is parent.subscription_details);
    # the fixture still lists it, the pinned SDK's Invoice class does not.
    "invoice": {"subscription"},
}
COMPARED_KINDS = {
    "customer": "/v1/customers",
    "invoice": "/v1/invoices",
    "charge": "/v1/charges",
    "refund": "/v1/refunds",
    "credit_note": "/v1/credit_notes",
    "payout": "/v1/payouts",
    "event": "/v1/events",
    "balance_transaction": "/v1/balance_transactions",
}


# -- helpers -----------------------------------------------------------------------------------
class Receiver:
    """A webhook receiver on a free loopback port that records every delivery."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    receiver.deliveries.append((dict(self.headers.items()), body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/stripe/webhooks"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def events(self, event_id: str | None = None) -> list[tuple[dict[str, str], bytes]]:
        with self._lock:
            found = list(self.deliveries)
        if event_id is None:
            return found
        return [(h, b) for h, b in found if json.loads(b)["id"] == event_id]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def client_for(sandbox: RunningSandbox, api_key: str | None = None) -> stripe.StripeClient:
    return stripe.StripeClient(
        api_key or sandbox.api_key,
        base_addresses={"api": sandbox.base_url},
        max_network_retries=0,
    )


def health(sandbox: RunningSandbox) -> dict[str, Any]:
    response = httpx.get(
        f"{sandbox.base_url}/_sandbox/health",
        headers={"Authorization": f"Bearer {sandbox.api_key}"},
    )
    response.raise_for_status()
    return dict(response.json())


def customer_count(client: stripe.StripeClient) -> int:
    return sum(1 for _ in client.v1.customers.list(params={"limit": 100}).auto_paging_iter())


def seeded_customer_ids(customers: int) -> set[str]:
    world = build_world(42, customers, ANCHOR)
    return {c.billing_customer_id for c in world.companies if c.in_billing}


# -- fixtures ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    config = SandboxConfig(
        kind="billing",
        state_dir=tmp_path_factory.mktemp("billing"),
        customers=CUSTOMERS,
        anchor=ANCHOR,
    )
    with running_sandbox(config) as running:
        yield running


@pytest.fixture
def client(sandbox: RunningSandbox) -> stripe.StripeClient:
    return client_for(sandbox)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


@pytest.fixture
def webhook(
    client: stripe.StripeClient, receiver: Receiver
) -> Iterator[tuple[Receiver, stripe.WebhookEndpoint]]:
    endpoint = client.v1.webhook_endpoints.create(
        params={"url": receiver.url, "enabled_events": ["*"]}
    )
    yield receiver, endpoint
    client.v1.webhook_endpoints.delete(endpoint.id)


@pytest.fixture
def faults_reset(sandbox: RunningSandbox) -> Iterator[RunningSandbox]:
    yield sandbox
    sandbox.set_faults(
        rate_limit=0, server_error=0, webhook_drop=0, webhook_duplicate=0, webhook_reorder=0
    )


# -- parameters --------------------------------------------------------------------------------
def test_nested_form_parameters_become_dicts_and_lists() -> None:
    params = parse_form(
        [
            ("metadata[account_key]", "SP-1"),
            ("items[0][price]", "price_a"),
            ("items[0][quantity]", "2"),
            ("items[1][price]", "price_b"),
            ("expand[]", "lines"),
            ("expand[]", "customer"),
            ("description", ""),
        ]
    )
    assert params == {
        "metadata": {"account_key": "SP-1"},
        "items": [{"price": "price_a", "quantity": "2"}, {"price": "price_b"}],
        "expand": ["lines", "customer"],
        "description": "",
    }


# -- lists -------------------------------------------------------------------------------------
def test_auto_pagination_lists_every_seeded_customer_exactly_once(
    client: stripe.StripeClient,
) -> None:
    pages = client.v1.customers.list(params={"limit": 7, "created": {"lte": 2_000_000_000}})
    ids = [c.id for c in pages.auto_paging_iter() if "account_key" in (c.metadata or {})]
    assert len(ids) == len(set(ids))
    assert set(ids) == seeded_customer_ids(CUSTOMERS)


def test_lists_are_newest_first_and_page_backwards_with_ending_before(
    client: stripe.StripeClient,
) -> None:
    first = client.v1.invoices.list(params={"limit": 5})
    created = [inv.created for inv in first.data]
    assert created == sorted(created, reverse=True)
    assert first.has_more and first.url == "/v1/invoices"
    second = client.v1.invoices.list(params={"limit": 5, "starting_after": first.data[-1].id})
    back = client.v1.invoices.list(params={"limit": 5, "ending_before": second.data[0].id})
    assert [i.id for i in back.data] == [i.id for i in first.data]


def test_starting_after_an_unknown_id_is_rejected(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.customers.list(params={"starting_after": "cus_doesnotexist"})
    assert caught.value.code == "resource_missing"
    assert caught.value.param == "starting_after"


# -- idempotency -------------------------------------------------------------------------------
def test_one_idempotency_key_creates_one_customer(client: stripe.StripeClient) -> None:
    before = customer_count(client)
    key = f"create-{uuid.uuid4()}"
    params: Any = {"name": "Once Only Ltd", "email": "once@example.com"}
    first = client.v1.customers.create(params=params, options={"idempotency_key": key})
    again = client.v1.customers.create(params=params, options={"idempotency_key": key})
    assert again.id == first.id
    assert again.last_response is not None
    assert again.last_response.headers.get("Idempotent-Replayed") == "true"
    assert customer_count(client) == before + 1


def test_reusing_an_idempotency_key_with_other_parameters_fails(
    client: stripe.StripeClient,
) -> None:
    key = f"reuse-{uuid.uuid4()}"
    client.v1.customers.create(params={"name": "First"}, options={"idempotency_key": key})
    with pytest.raises(stripe.IdempotencyError):
        client.v1.customers.create(params={"name": "Second"}, options={"idempotency_key": key})


def test_the_first_response_is_replayed_even_when_it_was_an_error(
    client: stripe.StripeClient,
) -> None:
    key = f"error-{uuid.uuid4()}"
    options: dict[str, Any] = {"idempotency_key": key}
    for _ in range(2):
        with pytest.raises(stripe.InvalidRequestError) as caught:
            client.v1.invoices.pay("in_doesnotexist", options=options)  # type: ignore[arg-type]
        assert caught.value.code == "resource_missing"
    assert (caught.value.headers or {}).get("Idempotent-Replayed") == "true"


# -- invoices ----------------------------------------------------------------------------------
def test_expanded_invoice_has_lines_customer_and_consistent_totals(
    client: stripe.StripeClient,
) -> None:
    listed = client.v1.invoices.list(params={"status": "paid", "limit": 1}).data[0]
    invoice = client.v1.invoices.retrieve(listed.id, params={"expand": ["lines", "customer"]})
    assert isinstance(invoice.customer, stripe.Customer)
    assert invoice.lines.data and invoice.lines.data[0].object == "line_item"
    assert invoice.subtotal == sum(line.amount for line in invoice.lines.data)
    assert invoice.total == invoice.subtotal + sum(t.amount for t in invoice.total_taxes or [])
    assert invoice.amount_paid == invoice.amount_due and invoice.amount_remaining == 0
    assert invoice.currency == invoice.currency.lower()
    assert invoice.parent and invoice.parent.subscription_details
    assert invoice.number and invoice.status_transitions.finalized_at


def test_a_draft_invoice_is_built_finalized_paid_and_refunded(
    client: stripe.StripeClient,
) -> None:
    customer = client.v1.customers.create(params={"name": "Flow GmbH"})
    draft = client.v1.invoices.create(
        params={"customer": customer.id, "currency": "eur", "default_tax_rates": ["txr_DE19"]}
    )
    assert draft.status == "draft" and draft.number is None
    client.v1.invoice_items.create(
        params={"customer": customer.id, "invoice": draft.id, "amount": 10_000}
    )
    opened = client.v1.invoices.finalize_invoice(draft.id)
    assert (opened.status, opened.subtotal, opened.total) == ("open", 10_000, 11_900)
    assert opened.number
    paid = client.v1.invoices.pay(draft.id)
    assert paid.status == "paid" and paid.amount_paid == 11_900

    payment = client.v1.invoice_payments.list(params={"invoice": draft.id}).data[0]
    intent = client.v1.payment_intents.retrieve(
        payment.payment.payment_intent,  # type: ignore[arg-type]
        params={"expand": ["latest_charge.balance_transaction"]},
    )
    charge = intent.latest_charge
    assert isinstance(charge, stripe.Charge)
    txn = charge.balance_transaction
    assert isinstance(txn, stripe.BalanceTransaction)
    assert txn.status == "pending" and txn.net == txn.amount - txn.fee

    refund = client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 1_900})
    refund_txn = client.v1.balance_transactions.retrieve(refund.balance_transaction)  # type: ignore[arg-type]
    assert (refund_txn.type, refund_txn.amount) == ("refund", -1_900)
    note = client.v1.credit_notes.create(
        params={"invoice": draft.id, "amount": 2_380, "refund_amount": 2_380}
    )
    assert (note.type, note.total, len(note.refunds)) == ("post_payment", 2_380, 1)
    assert client.v1.charges.retrieve(charge.id).amount_refunded == 1_900 + 2_380


def test_payments_on_account_and_partial_payments_attached_to_an_invoice(
    client: stripe.StripeClient,
) -> None:
    customer = client.v1.customers.create(params={"name": "Part Payer Ltd"})
    draft = client.v1.invoices.create(params={"customer": customer.id, "currency": "gbp"})
    client.v1.invoice_items.create(
        params={"customer": customer.id, "invoice": draft.id, "amount": 10_000}
    )
    client.v1.invoices.finalize_invoice(draft.id)

    def card(amount: int) -> stripe.PaymentIntent:
        return client.v1.payment_intents.create(
            params={
                "amount": amount,
                "currency": "gbp",
                "customer": customer.id,
                "confirm": True,
                "payment_method": "pm_card_visa",
                "off_session": True,
            }
        )

    on_account = card(2_500)
    assert on_account.status == "succeeded" and on_account.latest_charge
    by_intent: Any = {"payment": {"type": "payment_intent", "payment_intent": on_account.id}}
    assert client.v1.invoice_payments.list(params=by_intent).data == []  # no invoice yet
    part = client.v1.invoices.attach_payment(draft.id, params={"payment_intent": on_account.id})
    assert (part.status, part.amount_paid, part.amount_remaining) == ("open", 2_500, 7_500)
    with pytest.raises(stripe.InvalidRequestError, match="exceeds"):
        client.v1.invoices.attach_payment(draft.id, params={"payment_intent": card(9_000).id})
    rest = client.v1.invoices.attach_payment(draft.id, params={"payment_intent": card(7_500).id})
    assert (rest.status, rest.amount_paid, rest.amount_remaining) == ("paid", 10_000, 0)
    links = client.v1.invoice_payments.list(params={"invoice": draft.id}).data
    assert sorted(link.amount_paid for link in links) == [2_500, 7_500]


def test_seeded_refunded_invoices_carry_a_credit_note_and_a_partial_refund(
    client: stripe.StripeClient,
) -> None:
    note = client.v1.credit_notes.list(params={"limit": 1}).data[0]
    invoice = client.v1.invoices.retrieve(note.invoice)  # type: ignore[arg-type]
    assert invoice.status == "paid" and invoice.post_payment_credit_notes_amount == note.total
    refund = client.v1.refunds.retrieve(note.refunds[0].refund)  # type: ignore[arg-type]
    assert 0 < refund.amount < invoice.total


def test_each_automatic_payout_sweeps_its_balance_transactions(
    client: stripe.StripeClient,
) -> None:
    payout = client.v1.payouts.list(params={"limit": 1}).data[0]
    swept = client.v1.balance_transactions.list(params={"payout": payout.id, "limit": 100})
    assert payout.automatic and swept.data
    assert payout.amount == sum(t.net for t in swept.data)
    assert {t.currency for t in swept.data} == {payout.currency}
    txn = client.v1.balance_transactions.retrieve(payout.balance_transaction)  # type: ignore[arg-type]
    assert (txn.type, txn.amount) == ("payout", -payout.amount)


# -- webhooks ----------------------------------------------------------------------------------
def test_webhooks_are_signed_so_construct_event_accepts_them(
    client: stripe.StripeClient, webhook: tuple[Receiver, stripe.WebhookEndpoint]
) -> None:
    receiver, endpoint = webhook
    assert endpoint.secret and endpoint.secret.startswith("whsec_")
    assert "secret" not in client.v1.webhook_endpoints.retrieve(endpoint.id)

    customer = client.v1.customers.create(params={"name": "Hook Ltd"})
    created = client.v1.events.list(params={"type": "customer.created", "limit": 1}).data[0]
    assert created.data.object["id"] == customer.id
    headers, body = wait_for(lambda: receiver.events(created.id), what="delivery")[0]

    event = stripe.Webhook.construct_event(
        body.decode(), headers["Stripe-Signature"], endpoint.secret
    )
    assert event.id == created.id and event.type == "customer.created"
    tampered = body.replace(customer.id.encode(), b"cus_tampered")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(tampered, headers["Stripe-Signature"], endpoint.secret)


def test_updated_events_carry_previous_attributes(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create(params={"name": "Before", "metadata": {"tier": "a"}})
    client.v1.customers.update(customer.id, params={"name": "After", "metadata": {"tier": "b"}})
    event = client.v1.events.list(params={"type": "customer.updated", "limit": 1}).data[0]
    previous = event.data.previous_attributes
    assert event.data.object["name"] == "After"
    assert previous is not None and previous["name"] == "Before"
    assert previous["metadata"].to_dict() == {"tier": "a"}


def test_dropped_webhooks_never_arrive(
    client: stripe.StripeClient,
    webhook: tuple[Receiver, stripe.WebhookEndpoint],
    faults_reset: RunningSandbox,
) -> None:
    receiver, _ = webhook
    dropped = health(faults_reset)["webhooks"]["dropped"]
    faults_reset.set_faults(webhook_drop=1.0)
    client.v1.customers.create(params={"name": "Lost Ltd"})
    wait_for(lambda: health(faults_reset)["webhooks"]["dropped"] > dropped, what="drop")
    assert receiver.events() == []


def test_duplicated_webhooks_arrive_twice(
    client: stripe.StripeClient,
    webhook: tuple[Receiver, stripe.WebhookEndpoint],
    faults_reset: RunningSandbox,
) -> None:
    receiver, _ = webhook
    faults_reset.set_faults(webhook_duplicate=1.0)
    client.v1.customers.create(params={"name": "Twice Ltd"})
    event = client.v1.events.list(params={"type": "customer.created", "limit": 1}).data[0]
    copies = wait_for(lambda: len(receiver.events(event.id)) >= 2, what="two copies")
    assert copies and len(receiver.events(event.id)) == 2


# -- errors and faults -------------------------------------------------------------------------
def test_unknown_objects_are_resource_missing(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.customers.retrieve("cus_doesnotexist")
    assert caught.value.http_status == 404
    assert caught.value.code == "resource_missing"
    assert "No such customer: 'cus_doesnotexist'" in str(caught.value.user_message)
    assert caught.value.request_id and caught.value.request_id.startswith("req_")


def test_a_wrong_api_key_is_an_authentication_error(sandbox: RunningSandbox) -> None:
    with pytest.raises(stripe.AuthenticationError) as caught:
        client_for(sandbox, "sk_test_wrong_key_1234").v1.customers.list()
    assert caught.value.http_status == 401
    assert "sk_test_wrong_key_1234" not in str(caught.value.user_message)


def test_unknown_parameters_are_rejected(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.customers.create(params=cast(Any, {"nmae": "Typo Inc"}))
    assert caught.value.param == "nmae"


def test_injected_rate_limits_raise_rate_limit_error_until_reset(
    client: stripe.StripeClient, faults_reset: RunningSandbox
) -> None:
    faults_reset.set_faults(rate_limit=1.0)
    with pytest.raises(stripe.RateLimitError) as caught:
        client.v1.customers.list(params={"limit": 1})
    assert (caught.value.headers or {}).get("Stripe-Should-Retry") == "true"
    faults_reset.set_faults(rate_limit=0.0)
    assert client.v1.customers.list(params={"limit": 1}).data


# -- events ------------------------------------------------------------------------------------
def test_events_filter_by_type_wildcard_and_created(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create(params={"name": "Evented"})
    client.v1.customers.update(customer.id, params={"email": "evented@example.com"})
    customer_events = client.v1.events.list(params={"type": "customer.*", "limit": 100}).data
    assert customer_events and all(e.type.startswith("customer.") for e in customer_events)
    assert {"customer.created", "customer.updated"} <= {e.type for e in customer_events}

    newest = customer_events[0].created
    later = client.v1.events.list(params={"created": {"gte": newest + 1}}).data
    assert later == []
    recent = client.v1.events.list(params={"created": {"gte": newest}, "limit": 100}).data
    assert customer_events[0].id in {e.id for e in recent}
    both = client.v1.events.list(params={"types": ["customer.created", "invoice.*"]}).data
    assert all(e.type == "customer.created" or e.type.startswith("invoice.") for e in both)


# -- shapes ------------------------------------------------------------------------------------
def test_objects_carry_the_keys_of_stripes_fixtures(client: stripe.StripeClient) -> None:
    fixtures = json.loads(FIXTURES.read_text())["resources"]
    client.v1.customers.create(params={"name": "Has an event"})
    for kind, path in COMPARED_KINDS.items():
        raw = client.raw_request("get", path, limit=1)
        ours = set(json.loads(raw.body)["data"][0])
        theirs = set(fixtures[kind])
        assert ours - theirs == set(), f"{kind} has keys Stripe lacks"
        omitted = theirs - ours
        assert omitted <= OMITTED_KEYS.get(kind, set()), f"{kind} lacks {omitted}"
        assert len(ours & theirs) >= 0.9 * len(theirs)


# -- restarts ----------------------------------------------------------------------------------
def test_a_restart_keeps_state_and_does_not_reseed(tmp_path: Path) -> None:
    config = SandboxConfig(kind="billing", state_dir=tmp_path, customers=30, anchor=ANCHOR)
    with running_sandbox(config) as first:
        made = client_for(first).v1.customers.create(params={"name": "Survivor"})
        seeded = health(first)["objects"]
    # A different customer count would seed a different world: it must be ignored now.
    with running_sandbox(config.model_copy(update={"customers": 35, "port": 0})) as second:
        client = client_for(second)
        assert client.v1.customers.retrieve(made.id).name == "Survivor"
        assert health(second)["objects"] == seeded
        assert customer_count(client) == len(seeded_customer_ids(30)) + 1


def test_a_configured_webhook_url_is_registered_once(tmp_path: Path, receiver: Receiver) -> None:
    config = SandboxConfig(
        kind="billing",
        state_dir=tmp_path,
        customers=30,
        anchor=ANCHOR,
        webhook_url=receiver.url,
    )
    with running_sandbox(config) as first:
        client_for(first).v1.customers.create(params={"name": "Configured"})
        headers, body = wait_for(receiver.events, what="delivery")[0]
        stripe.Webhook.construct_event(body, headers["Stripe-Signature"], config.webhook_secret)
    with running_sandbox(config.model_copy(update={"port": 0})) as second:
        endpoints = client_for(second).v1.webhook_endpoints.list().data
        assert [e.url for e in endpoints] == [receiver.url]
        assert endpoints[0].enabled_events == ["*"]
