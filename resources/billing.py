"""Billing system API: Stripe API v1 (form-encoded, ``starting_after`` paging, idempotency keys)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, Field

from resources.base import SystemApiResource
from resources.billing_models import (
    StripeBalanceTransaction,
    StripeCharge,
    StripeCreditNote,
    StripeCreditNoteLine,
    StripeCustomer,
    StripeEvent,
    StripeInvoice,
    StripeInvoiceLine,
    StripeInvoicePayment,
    StripePaymentIntent,
    StripePayout,
    StripeRefund,
    StripeWebhookEndpoint,
)
from resources.http import VendorError, parse_error_envelope
from resources.paginators import PageRequest, StripeListPaginator

STRIPE_API_VERSION = "2026-10-28.endive"
Record = TypeVar("Record", bound=BaseModel)


class StripeDialect:
    system = "billing"

    def parse_error(self, response: httpx.Response) -> VendorError:
        return parse_error_envelope(response)

    def retry_decision(self, response: httpx.Response) -> bool | None:
        value = response.headers.get("Stripe-Should-Retry")
        return None if value is None else value.lower() == "true"

    def throttle_seconds(self, response: httpx.Response) -> float:
        return 0.0

    def is_precondition_failure(self, response: httpx.Response, error: VendorError) -> bool:
        return False

    def is_idempotency_conflict(self, response: httpx.Response, error: VendorError) -> bool:
        return response.status_code == 400 and error.code == "idempotency_error"


def encode_form(params: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Stripe's nested form encoding: ``metadata[k]=v``, ``items[0][price]=p``; None clears."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(value, Mapping):
            pairs.extend(encode_form(value, name))
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                if isinstance(item, Mapping):
                    pairs.extend(encode_form(item, f"{name}[{index}]"))
                else:
                    pairs.append((f"{name}[{index}]", _scalar(item)))
        else:
            pairs.append((name, _scalar(value)))
    return pairs


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return str(int(value.timestamp()))
    return str(value)


class BillingResource(SystemApiResource):
    """Stripe-shaped billing API. Every create carries an idempotency key."""

    base_url: str = Field(
        default="https://api.stripe.com", description="Stripe API root or sandbox URL"
    )
    api_key: str = Field(description="secret key (sk_...)")
    api_version: str = Field(default=STRIPE_API_VERSION, description="Stripe-Version header")

    def _dialect(self) -> StripeDialect:
        return StripeDialect()

    def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}", "Stripe-Version": self.api_version}

    # -- generic ----------------------------------------------------------------------------
    def _list(self, path: str, model: type[Record], **filters: Any) -> Iterator[Record]:
        params = dict(encode_form({"limit": self.page_size, **_drop_none(filters)}))
        first = PageRequest("GET", path, params=params)
        for raw in self.api.paginate(first, StripeListPaginator()):
            yield self._validate(model, raw)

    def _get(self, path: str, model: type[Record], expand: list[str] | None = None) -> Record:
        params = encode_form({"expand": expand}) if expand else None
        return self._validate(model, self.api.get_json(path, params=params))

    def _create(
        self, path: str, model: type[Record], params: Mapping[str, Any], idempotency_key: str
    ) -> Record:
        if not idempotency_key:
            raise ValueError(f"creating {path} needs an idempotency key")
        response = self.api.request(
            "POST",
            path,
            data=dict(encode_form(params)),
            headers={"Idempotency-Key": idempotency_key},
        )
        return self._validate(model, self.api.decode(response))

    # -- customers --------------------------------------------------------------------------
    def list_customers(self, *, created_gte: datetime | None = None) -> Iterator[StripeCustomer]:
        return self._list("/v1/customers", StripeCustomer, created=_created(created_gte, None))

    def get_customer(self, customer_id: str) -> StripeCustomer:
        return self._get(f"/v1/customers/{customer_id}", StripeCustomer)

    def create_customer(self, params: Mapping[str, Any], idempotency_key: str) -> StripeCustomer:
        return self._create("/v1/customers", StripeCustomer, params, idempotency_key)

    def update_customer(
        self, customer_id: str, params: Mapping[str, Any], idempotency_key: str
    ) -> StripeCustomer:
        return self._create(f"/v1/customers/{customer_id}", StripeCustomer, params, idempotency_key)

    # -- invoices and money movements ------------------------------------------------------
    # Time windows are half-open, ``created[gte]=start`` and ``created[lt]=end``, as Stripe
    # filters lists; a list returns its objects newest first.
    def list_invoices(
        self,
        *,
        customer: str | None = None,
        status: str | None = None,
        created_gte: datetime | None = None,
        created_lt: datetime | None = None,
    ) -> Iterator[StripeInvoice]:
        """Invoices with their first ten lines (Stripe always includes them; ``lines.has_more``
        says whether ``list_invoice_lines`` must be asked for the rest)."""
        return self._list(
            "/v1/invoices",
            StripeInvoice,
            customer=customer,
            status=status,
            created=_created(created_gte, created_lt),
        )

    def get_invoice(self, invoice_id: str, *, expand_lines: bool = True) -> StripeInvoice:
        return self._get(
            f"/v1/invoices/{invoice_id}", StripeInvoice, expand=["lines"] if expand_lines else None
        )

    def list_invoice_lines(self, invoice_id: str) -> Iterator[StripeInvoiceLine]:
        return self._list(f"/v1/invoices/{invoice_id}/lines", StripeInvoiceLine)

    def list_invoice_payments(
        self,
        invoice_id: str | None = None,
        *,
        payment_intent: str | None = None,
        status: str | None = None,
        created_gte: datetime | None = None,
        created_lt: datetime | None = None,
    ) -> Iterator[StripeInvoicePayment]:
        """``invoice_payment`` objects: which payment (intent) paid how much of which invoice."""
        payment = {"type": "payment_intent", "payment_intent": payment_intent}
        return self._list(
            "/v1/invoice_payments",
            StripeInvoicePayment,
            invoice=invoice_id,
            payment=payment if payment_intent else None,
            status=status,
            created=_created(created_gte, created_lt),
        )

    def list_payment_intents(self, *, customer: str | None = None) -> Iterator[StripePaymentIntent]:
        return self._list("/v1/payment_intents", StripePaymentIntent, customer=customer)

    def list_charges(
        self,
        *,
        created_gte: datetime | None = None,
        created_lt: datetime | None = None,
        customer: str | None = None,
        payment_intent: str | None = None,
        expand_balance_transaction: bool = False,
    ) -> Iterator[StripeCharge]:
        """Charges; with ``expand_balance_transaction`` each carries its balance transaction
        (``expanded_balance_transaction``: fee and settlement) in the same page."""
        return self._list(
            "/v1/charges",
            StripeCharge,
            created=_created(created_gte, created_lt),
            customer=customer,
            payment_intent=payment_intent,
            expand=["data.balance_transaction"] if expand_balance_transaction else None,
        )

    def get_charge(
        self, charge_id: str, *, expand_balance_transaction: bool = False
    ) -> StripeCharge:
        expand = ["balance_transaction"] if expand_balance_transaction else None
        return self._get(f"/v1/charges/{charge_id}", StripeCharge, expand=expand)

    def list_refunds(
        self,
        *,
        created_gte: datetime | None = None,
        created_lt: datetime | None = None,
        charge: str | None = None,
    ) -> Iterator[StripeRefund]:
        return self._list(
            "/v1/refunds", StripeRefund, created=_created(created_gte, created_lt), charge=charge
        )

    def get_refund(self, refund_id: str) -> StripeRefund:
        return self._get(f"/v1/refunds/{refund_id}", StripeRefund)

    def list_credit_notes(
        self,
        *,
        invoice: str | None = None,
        customer: str | None = None,
        created_gte: datetime | None = None,
        created_lt: datetime | None = None,
        expand_refunds: bool = False,
    ) -> Iterator[StripeCreditNote]:
        """Credit notes with their first lines; with ``expand_refunds`` each ``refunds[].refund``
        is the refund object rather than its id."""
        return self._list(
            "/v1/credit_notes",
            StripeCreditNote,
            invoice=invoice,
            customer=customer,
            created=_created(created_gte, created_lt),
            expand=["data.refunds.refund"] if expand_refunds else None,
        )

    def get_credit_note(
        self, credit_note_id: str, *, expand_refunds: bool = False
    ) -> StripeCreditNote:
        expand = ["refunds.refund"] if expand_refunds else None
        return self._get(f"/v1/credit_notes/{credit_note_id}", StripeCreditNote, expand=expand)

    def list_credit_note_lines(self, credit_note_id: str) -> Iterator[StripeCreditNoteLine]:
        return self._list(f"/v1/credit_notes/{credit_note_id}/lines", StripeCreditNoteLine)

    def get_balance_transaction(self, transaction_id: str) -> StripeBalanceTransaction:
        return self._get(f"/v1/balance_transactions/{transaction_id}", StripeBalanceTransaction)

    def list_balance_transactions(
        self, *, payout: str | None = None, type: str | None = None
    ) -> Iterator[StripeBalanceTransaction]:
        return self._list(
            "/v1/balance_transactions", StripeBalanceTransaction, payout=payout, type=type
        )

    def list_payouts(self) -> Iterator[StripePayout]:
        return self._list("/v1/payouts", StripePayout)

    # -- events and webhooks ----------------------------------------------------------------
    def list_events(
        self,
        *,
        types: list[str] | None = None,
        created_gte: datetime | None = None,
        created_lt: datetime | None = None,
    ) -> Iterator[StripeEvent]:
        """Events newest first, as Stripe lists them (kept 30 days by Stripe)."""
        return self._list(
            "/v1/events",
            StripeEvent,
            types=types,
            created=_created(created_gte, created_lt),
        )

    def get_event(self, event_id: str) -> StripeEvent:
        return self._get(f"/v1/events/{event_id}", StripeEvent)

    def create_webhook_endpoint(
        self, url: str, enabled_events: list[str], idempotency_key: str
    ) -> StripeWebhookEndpoint:
        params = {"url": url, "enabled_events": enabled_events}
        return self._create("/v1/webhook_endpoints", StripeWebhookEndpoint, params, idempotency_key)


def _drop_none(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _created(gte: datetime | None, lt: datetime | None) -> dict[str, datetime] | None:
    """The ``created`` range filter, or None when neither bound is given."""
    return _drop_none({"gte": gte, "lt": lt}) or None
