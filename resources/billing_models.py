"""Stripe API v1 objects (API version 2026-10-28.endive) as validated records.

Only the fields the platform relies on are typed; the rest of each object is kept as extra
fields so a stored payload is the vendor's whole object. Times are aware UTC datetimes,
amounts integer minor units, currencies upper-case ISO codes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator


def _from_unix(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)
    return value


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _id_or_object(value: Any) -> Any:
    """An expandable field: an id, or the expanded object whose id we keep."""
    if isinstance(value, dict):
        return value.get("id")
    return value


UnixTime = Annotated[datetime, BeforeValidator(_from_unix)]
Currency = Annotated[str, BeforeValidator(_upper), Field(min_length=3, max_length=3)]
ExpandableId = Annotated[str | None, BeforeValidator(_id_or_object)]


class StripeObject(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    id: str
    object: str
    livemode: bool = False


class StripeAddress(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None


class StripeCustomer(StripeObject):
    object: Literal["customer"]
    created: UnixTime
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    address: StripeAddress | None = None
    currency: Currency | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    deleted: bool = False


class StripeTaxAmount(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    amount: int
    taxable_amount: int | None = None
    tax_behavior: Literal["exclusive", "inclusive"] | None = None
    tax_rate_details: dict[str, Any] | None = None

    @property
    def tax_rate(self) -> str | None:
        return (self.tax_rate_details or {}).get("tax_rate")


class StripeInvoiceLine(StripeObject):
    object: Literal["line_item"]
    amount: int
    currency: Currency
    description: str | None = None
    quantity: int | None = None
    taxes: list[StripeTaxAmount] | None = None
    pricing: dict[str, Any] | None = None
    period: dict[str, int] | None = None


class StripeList(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    object: Literal["list"]
    data: list[dict[str, Any]]
    has_more: bool
    url: str | None = None


class StripeInvoice(StripeObject):
    object: Literal["invoice"]
    created: UnixTime
    customer: ExpandableId
    status: Literal["draft", "open", "paid", "void", "uncollectible"] | None
    currency: Currency
    number: str | None = None
    subtotal: int
    subtotal_excluding_tax: int | None = None
    total: int
    amount_due: int
    amount_paid: int
    amount_remaining: int
    total_taxes: list[StripeTaxAmount] | None = None
    due_date: UnixTime | None = None
    period_start: UnixTime | None = None
    period_end: UnixTime | None = None
    lines: StripeList | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    status_transitions: dict[str, int | None] | None = None

    @property
    def tax_total(self) -> int:
        return sum(t.amount for t in self.total_taxes or [])


class StripeInvoicePayment(StripeObject):
    object: Literal["invoice_payment"]
    invoice: ExpandableId
    amount_paid: int | None = None
    currency: Currency
    status: str
    payment: dict[str, Any] | None = None
    created: UnixTime


class StripePaymentIntent(StripeObject):
    object: Literal["payment_intent"]
    created: UnixTime
    amount: int
    amount_received: int | None = None
    currency: Currency
    customer: ExpandableId = None
    status: str
    latest_charge: ExpandableId = None
    metadata: dict[str, str] = Field(default_factory=dict)


class StripeCharge(StripeObject):
    object: Literal["charge"]
    created: UnixTime
    amount: int
    amount_refunded: int = 0
    currency: Currency
    customer: ExpandableId = None
    payment_intent: ExpandableId = None
    balance_transaction: ExpandableId = None
    status: Literal["succeeded", "pending", "failed"]
    captured: bool | None = None
    paid: bool = False
    refunded: bool = False
    metadata: dict[str, str] = Field(default_factory=dict)
    # The balance transaction itself when read with ``expand[]=balance_transaction``.
    expanded_balance_transaction: StripeBalanceTransaction | None = Field(
        default=None, exclude=True
    )

    @model_validator(mode="before")
    @classmethod
    def _keep_expanded_balance_transaction(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("balance_transaction"), dict):
            return {**data, "expanded_balance_transaction": data["balance_transaction"]}
        return data


class StripeRefund(StripeObject):
    object: Literal["refund"]
    created: UnixTime
    amount: int
    currency: Currency
    charge: ExpandableId = None
    payment_intent: ExpandableId = None
    balance_transaction: ExpandableId = None
    status: str | None = None
    reason: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)


class StripeCreditNote(StripeObject):
    object: Literal["credit_note"]
    created: UnixTime
    invoice: ExpandableId
    customer: ExpandableId
    currency: Currency
    number: str
    status: Literal["issued", "void"]
    subtotal: int
    subtotal_excluding_tax: int | None = None
    total: int
    amount: int
    lines: StripeList | None = None
    refunds: list[dict[str, Any]] = Field(default_factory=list)
    reason: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)


class StripeCreditNoteLine(StripeObject):
    object: Literal["credit_note_line_item"]
    type: str
    amount: int
    description: str | None = None
    quantity: int | None = None
    unit_amount: int | None = None
    invoice_line_item: str | None = None
    taxes: list[StripeTaxAmount] | None = None


class StripeBalanceTransaction(StripeObject):
    object: Literal["balance_transaction"]
    created: UnixTime
    available_on: UnixTime
    amount: int
    fee: int
    net: int
    currency: Currency
    status: Literal["available", "pending"]
    type: str
    source: ExpandableId = None
    reporting_category: str | None = None


class StripePayout(StripeObject):
    object: Literal["payout"]
    created: UnixTime
    arrival_date: UnixTime
    amount: int
    currency: Currency
    status: str
    balance_transaction: ExpandableId = None
    metadata: dict[str, str] = Field(default_factory=dict)


class StripeEvent(StripeObject):
    object: Literal["event"]
    created: UnixTime
    type: str
    api_version: str | None = None
    data: dict[str, Any]
    request: dict[str, Any] | None = None

    @property
    def data_object(self) -> dict[str, Any]:
        return dict(self.data.get("object") or {})


class StripeWebhookEndpoint(StripeObject):
    object: Literal["webhook_endpoint"]
    url: str
    enabled_events: list[str]
    status: str | None = None
    secret: str | None = None  # only present in the create response
