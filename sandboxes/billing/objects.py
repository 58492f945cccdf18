"""Builders for Stripe objects, with the key sets of Stripe's own fixtures.

Builders are pure: they take values and return the JSON document. Fields that only the sandbox
needs (links Stripe keeps server-side, secrets) start with ``_`` and are stripped on output.
Amounts are integer minor units; currencies are lowercase as Stripe serves them.
"""

from __future__ import annotations

import secrets
import string
import time
from typing import Any

from sandboxes.kit.world import stable_token

Doc = dict[str, Any]
API_VERSION = "2026-10-28.endive"
ACCOUNT_NAME = "Sync Platform Sandbox"
_ALPHABET = string.ascii_letters + string.digits


def now() -> int:
    return int(time.time())


class Ids:
    """Vendor-looking ids: random for API calls, reproducible for a seeded world."""

    def __init__(self, seed: int | None = None) -> None:
        self._seed = seed
        self._counters: dict[str, int] = {}

    def new(self, prefix: str, length: int = 24) -> str:
        if self._seed is None:
            return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(length))
        n = self._counters.get(prefix, 0)
        self._counters[prefix] = n + 1
        # One token carries ~21 random characters; longer ids join two halves.
        half = (length + 1) // 2
        head = stable_token(self._seed, f"billing:{prefix}", n, half)
        tail = stable_token(self._seed, f"billing:{prefix}:tail", n, length - half)
        return f"{prefix}_{head}{tail}"


def list_object(url: str, data: list[Doc], has_more: bool = False) -> Doc:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def deleted(obj_id: str, kind: str) -> Doc:
    return {"id": obj_id, "object": kind, "deleted": True}


def address(
    *,
    line1: str | None = None,
    line2: str | None = None,
    city: str | None = None,
    state: str | None = None,
    postal_code: str | None = None,
    country: str | None = None,
) -> Doc:
    return {
        "city": city,
        "country": country,
        "line1": line1,
        "line2": line2,
        "postal_code": postal_code,
        "state": state,
    }


# -- customers and catalogue -----------------------------------------------------------------
def customer(
    obj_id: str,
    created: int,
    *,
    name: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    description: str | None = None,
    address_: Doc | None = None,
    currency: str | None = None,
    metadata: dict[str, str] | None = None,
    preferred_locales: list[str] | None = None,
    tax_ids: list[Doc] | None = None,
    tax_exempt: str = "none",
) -> Doc:
    return {
        "id": obj_id,
        "object": "customer",
        "address": address_,
        "balance": 0,
        "created": created,
        "currency": currency,
        "default_source": None,
        "delinquent": False,
        "description": description,
        "discount": None,
        "email": email,
        "invoice_prefix": obj_id[4:12].upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": metadata or {},
        "name": name,
        "next_invoice_sequence": 1,
        "phone": phone,
        "preferred_locales": preferred_locales or [],
        "shipping": None,
        "tax_exempt": tax_exempt,
        "test_clock": None,
        # Stripe serves tax ids only through ``expand=["tax_ids"]`` and their own endpoint.
        "_tax_ids": tax_ids or [],
    }


def tax_id(
    obj_id: str, created: int, customer_id: str, type_: str, value: str, verified: bool
) -> Doc:
    return {
        "id": obj_id,
        "object": "tax_id",
        "country": value[:2] if type_ == "eu_vat" else type_[:2].upper(),
        "created": created,
        "customer": customer_id,
        "livemode": False,
        "owner": {
            "account": None,
            "application": None,
            "customer": customer_id,
            "type": "customer",
        },
        "type": type_,
        "value": value,
        "verification": {
            "status": "verified" if verified else "unverified",
            "verified_address": None,
            "verified_name": None,
        },
    }


def product(obj_id: str, created: int, name: str, *, description: str | None = None) -> Doc:
    return {
        "id": obj_id,
        "object": "product",
        "active": True,
        "created": created,
        "default_price": None,
        "description": description,
        "images": [],
        "livemode": False,
        "marketing_features": [],
        "metadata": {},
        "name": name,
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": None,
        "type": "service",
        "unit_label": None,
        "updated": created,
        "url": None,
    }


def price(
    obj_id: str,
    created: int,
    product_id: str,
    currency: str,
    unit_amount: int,
    *,
    interval: str | None = "month",
    lookup_key: str | None = None,
    nickname: str | None = None,
) -> Doc:
    recurring = (
        {
            "interval": interval,
            "interval_count": 1,
            "meter": None,
            "usage_type": "licensed",
            "trial_period_days": None,
        }
        if interval
        else None
    )
    return {
        "id": obj_id,
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "created": created,
        "currency": currency,
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": lookup_key,
        "metadata": {},
        "nickname": nickname,
        "product": product_id,
        "recurring": recurring,
        "tax_behavior": "exclusive",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring" if interval else "one_time",
        "unit_amount": unit_amount,
        "unit_amount_decimal": str(unit_amount),
    }


def tax_rate(
    obj_id: str,
    created: int,
    *,
    display_name: str,
    percentage_bp: int,
    country: str | None,
    state: str | None,
    jurisdiction: str | None,
    inclusive: bool = False,
    description: str | None = None,
) -> Doc:
    return {
        "id": obj_id,
        "object": "tax_rate",
        "active": True,
        "country": country,
        "created": created,
        "description": description,
        "display_name": display_name,
        "effective_percentage": percentage_bp / 100,
        "flat_amount": None,
        "inclusive": inclusive,
        "jurisdiction": jurisdiction,
        "jurisdiction_level": "state" if state else "country",
        "livemode": False,
        "metadata": {},
        # Stripe serves a float percentage; the sandbox computes in basis points.
        "percentage": percentage_bp / 100,
        "rate_type": "percentage",
        "state": state,
        "tax_type": "sales_tax" if country == "US" else "vat",
        "_bp": percentage_bp,
    }


def webhook_endpoint(
    obj_id: str,
    created: int,
    url: str,
    enabled_events: list[str],
    secret: str,
    *,
    description: str | None = None,
    metadata: dict[str, str] | None = None,
) -> Doc:
    return {
        "id": obj_id,
        "object": "webhook_endpoint",
        "api_version": None,
        "application": None,
        "created": created,
        "description": description,
        "enabled_events": enabled_events,
        "livemode": False,
        "metadata": metadata or {},
        "status": "enabled",
        "url": url,
        # Stripe returns the secret only in the create response.
        "_secret": secret,
    }


def event(
    obj_id: str,
    created: int,
    type_: str,
    snapshot: Doc,
    *,
    previous_attributes: Doc | None,
    request_id: str | None,
    idempotency_key: str | None,
    pending_webhooks: int,
) -> Doc:
    data: Doc = {"object": snapshot}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    return {
        "id": obj_id,
        "object": "event",
        "api_version": API_VERSION,
        "created": created,
        "data": data,
        "livemode": False,
        "pending_webhooks": pending_webhooks,
        "request": {"id": request_id, "idempotency_key": idempotency_key},
        "type": type_,
    }
