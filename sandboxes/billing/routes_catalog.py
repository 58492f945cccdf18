"""Customers, products, prices, tax rates, webhook endpoints and events."""

from __future__ import annotations

import secrets
from decimal import Decimal

from starlette.routing import Route

from sandboxes.billing import forms
from sandboxes.billing.endpoint import api, retrieve
from sandboxes.billing.errors import StripeError
from sandboxes.billing.forms import Params, check_known, required, text
from sandboxes.billing.listing import LIST_PARAMS, Filter, list_page
from sandboxes.billing.objects import (
    Doc,
    address,
    customer,
    deleted,
    list_object,
    now,
    price,
    product,
    tax_id,
    tax_rate,
    webhook_endpoint,
)
from sandboxes.billing.service import Billing, Call
from sandboxes.kit.world import tax_id_is_valid

CUSTOMER_FIELDS = ("name", "email", "phone", "description")
TAX_ID_COUNTRY = {"us_ein": "US", "gb_vat": "GB", "au_abn": "AU", "ch_vat": "CH"}


def parse_address(params: Params, name: str = "address") -> Doc | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not isinstance(raw, dict):
        raise StripeError.invalid(name, f"Invalid hash: {name}")
    fields = ("line1", "line2", "city", "state", "postal_code", "country")
    check_known(raw, fields)
    return address(**{k: text(raw, k) for k in fields})


def make_tax_id(customer_id: str, spec: Params, at: int, billing: Billing) -> Doc:
    type_, value = required(spec, "type"), required(spec, "value")
    country = value[:2] if type_ == "eu_vat" else TAX_ID_COUNTRY.get(type_, "")
    return tax_id(
        billing.ids.new("txi"), at, customer_id, type_, value, tax_id_is_valid(country, value)
    )


# -- customers ---------------------------------------------------------------------------------
def create_customer(billing: Billing, call: Call) -> Doc:
    p = call.params
    check_known(
        p,
        (
            *CUSTOMER_FIELDS,
            "address",
            "metadata",
            "preferred_locales",
            "tax_exempt",
            "tax_id_data",
            "invoice_prefix",
        ),
    )
    at, obj_id = now(), billing.ids.new("cus", 14)
    doc = customer(
        obj_id,
        at,
        address_=parse_address(p),
        metadata=forms.merge_metadata({}, p),
        preferred_locales=forms.string_list(p, "preferred_locales"),
        tax_exempt=text(p, "tax_exempt") or "none",
        name=text(p, "name"),
        email=text(p, "email"),
        phone=text(p, "phone"),
        description=text(p, "description"),
    )
    if text(p, "invoice_prefix"):
        doc["invoice_prefix"] = text(p, "invoice_prefix")
    doc["_tax_ids"] = [
        make_tax_id(obj_id, s, at, billing) for s in forms.dict_list(p, "tax_id_data")
    ]
    return billing.create(call, "customer", doc)


def retrieve_customer(billing: Billing, call: Call) -> Doc:
    doc = billing.store.get("customer", call.path["id"])
    if doc is None:
        raise StripeError.no_such("customer", call.path["id"])
    return doc  # a deleted customer answers with its ``deleted: true`` stub, as Stripe does


def update_customer(billing: Billing, call: Call) -> Doc:
    p = call.params
    check_known(
        p,
        (
            *CUSTOMER_FIELDS,
            "address",
            "metadata",
            "preferred_locales",
            "tax_exempt",
            "invoice_prefix",
        ),
    )
    before = billing.get("customer", call.path["id"])
    doc = {**before, "metadata": forms.merge_metadata(before["metadata"], p)}
    for name in (*CUSTOMER_FIELDS, "tax_exempt", "invoice_prefix"):
        if name in p:
            doc[name] = text(p, name)
    if "address" in p:
        doc["address"] = parse_address(p)
    if "preferred_locales" in p:
        doc["preferred_locales"] = forms.string_list(p, "preferred_locales")
    return billing.save(call, "customer", doc, before)


def delete_customer(billing: Billing, call: Call) -> Doc:
    doc = billing.get("customer", call.path["id"])
    subscriptions = billing.store.scan(
        "subscription", where="json_extract(data, '$.customer') = ?", params=(doc["id"],)
    )
    for _, sub in subscriptions:
        if sub["status"] not in ("canceled", "incomplete_expired"):
            ended = {**sub, "status": "canceled", "canceled_at": now(), "ended_at": now()}
            billing.save(call, "subscription", ended, None, "customer.subscription.deleted")
    stub = deleted(doc["id"], "customer")
    billing.store.put("customer", doc["id"], stub)
    billing.emit(call, "customer.deleted", doc)
    return stub


def list_customers(billing: Billing, call: Call) -> Doc:
    p = call.params
    check_known(p, (*LIST_PARAMS, "email", "created", "test_clock"))
    where = Filter().is_null("deleted").equals("email", text(p, "email")).range(p, "created")
    return list_page(billing, "customer", "/v1/customers", p, where)


def list_tax_ids(billing: Billing, call: Call) -> Doc:
    doc = billing.get("customer", call.path["id"])
    return list_object(f"/v1/customers/{doc['id']}/tax_ids", doc["_tax_ids"])


def create_tax_id(billing: Billing, call: Call) -> Doc:
    check_known(call.params, ("type", "value"))
    before = billing.get("customer", call.path["id"])
    made = make_tax_id(before["id"], call.params, now(), billing)
    billing.store.put("customer", before["id"], {**before, "_tax_ids": [*before["_tax_ids"], made]})
    billing.emit(call, "customer.tax_id.created", made)
    return made


# -- products, prices, tax rates ---------------------------------------------------------------
def create_product(billing: Billing, call: Call) -> Doc:
    p = call.params
    check_known(p, ("name", "description", "metadata", "active", "id"))
    doc = product(text(p, "id") or billing.ids.new("prod", 14), now(), required(p, "name"))
    doc.update(description=text(p, "description"), metadata=forms.merge_metadata({}, p))
    doc["active"] = forms.boolean(p, "active", True)
    if billing.store.get("product", doc["id"]):
        raise StripeError(
            400, f"Product already exists with id {doc['id']}", code="resource_already_exists"
        )
    return billing.create(call, "product", doc)


def update_product(billing: Billing, call: Call) -> Doc:
    p = call.params
    check_known(p, ("name", "description", "metadata", "active", "default_price"))
    before = billing.get("product", call.path["id"])
    doc = {**before, "metadata": forms.merge_metadata(before["metadata"], p), "updated": now()}
    for name in ("name", "description", "default_price"):
        if name in p:
            doc[name] = text(p, name)
    doc["active"] = forms.boolean(p, "active", before["active"])
    return billing.save(call, "product", doc, before)


def list_products(billing: Billing, call: Call) -> Doc:
    p = call.params
    check_known(p, (*LIST_PARAMS, "active", "created"))
    where = Filter().equals("active", forms.boolean(p, "active")).range(p, "created")
    return list_page(billing, "product", "/v1/products", p, where)


def create_price(billing: Billing, call: Call) -> Doc:
    p = call.params
    check_known(
        p,
        (
            "currency",
            "unit_amount",
            "product",
            "product_data",
            "recurring",
            "nickname",
            "lookup_key",
            "metadata",
            "tax_behavior",
            "active",
        ),
    )
    at = now()
    product_id = text(p, "product")
    if product_id:
        billing.get_param("product", product_id, "product")
    elif forms.nested(p, "product_data"):
        made = product(billing.ids.new("prod", 14), at, required(p["product_data"], "name"))
        product_id = billing.create(call, "product", made)["id"]
    else:
        raise StripeError.missing("product")
    recurring = forms.nested(p, "recurring")
    required(p, "unit_amount")
    unit_amount = forms.integer(p, "unit_amount", minimum=0) or 0
    doc = price(
        billing.ids.new("price"),
        at,
        product_id,
        required(p, "currency").lower(),
        unit_amount,
        interval=required(recurring, "interval") if recurring else None,
        lookup_key=text(p, "lookup_key"),
        nickname=text(p, "nickname"),
    )
    doc["metadata"] = forms.merge_metadata({}, p)
    doc["tax_behavior"] = text(p, "tax_behavior") or "unspecified"
    return billing.create(call, "price", doc)


def update_price(billing: Billing, call: Call) -> Doc:
    p = call.params
    check_known(p, ("metadata", "nickname", "active", "lookup_key", "tax_behavior"))
    before = billing.get("price", call.path["id"])
    doc = {**before, "metadata": forms.merge_metadata(before["metadata"], p)}
    for name in ("nickname", "lookup_key", "tax_behavior"):
        if name in p:
            doc[name] = text(p, name)
    doc["active"] = forms.boolean(p, "active", before["active"])
    return billing.save(call, "price", doc, before)


def list_prices(billing: Billing, call: Call) -> Doc:
    p = call.params
    check_known(
        p, (*LIST_PARAMS, "active", "currency", "product", "type", "created", "lookup_keys")
    )
    where = (
        Filter()
        .equals("active", forms.boolean(p, "active"))
        .equals("currency", (text(p, "currency") or "").lower() or None)
        .equals("product", text(p, "product"))
        .equals("type", text(p, "type"))
        .range(p, "created")
    )
    keys = forms.string_list(p, "lookup_keys")
    if keys:
        marks = ",".join("?" * len(keys))
        where.raw(f"json_extract(data, '$.lookup_key') IN ({marks})", *keys)
    return list_page(billing, "price", "/v1/prices", p, where)


def create_tax_rate(billing: Billing, call: Call) -> Doc:
    p = call.params
    check_known(
        p,
        (
            "display_name",
            "percentage",
            "inclusive",
            "country",
            "state",
            "jurisdiction",
            "description",
            "metadata",
            "active",
            "tax_type",
        ),
    )
    percentage = forms.decimal(p, "percentage")
    if percentage is None:
        raise StripeError.missing("percentage")
    if not Decimal(0) <= percentage <= Decimal(100):
        raise StripeError.invalid("percentage", "percentage must be between 0 and 100")
    inclusive = forms.boolean(p, "inclusive")
    if inclusive is None:
        raise StripeError.missing("inclusive")
    doc = tax_rate(
        billing.ids.new("txr"),
        now(),
        display_name=required(p, "display_name"),
        percentage_bp=int(percentage * 100),
        country=text(p, "country"),
        state=text(p, "state"),
        jurisdiction=text(p, "jurisdiction"),
        inclusive=inclusive,
        description=text(p, "description"),
    )
    doc["metadata"] = forms.merge_metadata({}, p)
    doc["tax_type"] = text(p, "tax_type") or doc["tax_type"]
    return billing.create(call, "tax_rate", doc)


def update_tax_rate(billing: Billing, call: Call) -> Doc:
    p = call.params
    check_known(
        p,
        (
            "active",
            "display_name",
            "description",
            "jurisdiction",
            "metadata",
            "country",
            "state",
            "tax_type",
        ),
    )
    before = billing.get("tax_rate", call.path["id"])
    doc = {**before, "metadata": forms.merge_metadata(before["metadata"], p)}
    for name in ("display_name", "description", "jurisdiction", "country", "state", "tax_type"):
        if name in p:
            doc[name] = text(p, name)
    doc["active"] = forms.boolean(p, "active", before["active"])
    return billing.save(call, "tax_rate", doc, before)


def list_tax_rates(billing: Billing, call: Call) -> Doc:
    p = call.params
    check_known(p, (*LIST_PARAMS, "active", "inclusive", "created"))
    where = (
        Filter()
        .equals("active", forms.boolean(p, "active"))
        .equals("inclusive", forms.boolean(p, "inclusive"))
        .range(p, "created")
    )
    return list_page(billing, "tax_rate", "/v1/tax_rates", p, where)


# -- webhook endpoints and events --------------------------------------------------------------
def new_webhook_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(24)


def create_webhook_endpoint(billing: Billing, call: Call) -> Doc:
    p = call.params
    check_known(p, ("url", "enabled_events", "description", "metadata", "api_version", "connect"))
    events = forms.string_list(p, "enabled_events")
    if not events:
        raise StripeError.missing("enabled_events")
    doc = webhook_endpoint(
        billing.ids.new("we"),
        now(),
        required(p, "url"),
        events,
        new_webhook_secret(),
        description=text(p, "description"),
        metadata=forms.merge_metadata({}, p),
    )
    doc["api_version"] = text(p, "api_version")
    billing.store.insert("webhook_endpoint", doc["id"], doc)
    return {**doc, "secret": doc["_secret"]}  # the only time Stripe shows the secret


def update_webhook_endpoint(billing: Billing, call: Call) -> Doc:
    p = call.params
    check_known(p, ("url", "enabled_events", "description", "metadata", "disabled"))
    before = billing.get("webhook_endpoint", call.path["id"])
    doc = {**before, "metadata": forms.merge_metadata(before["metadata"], p)}
    if "url" in p:
        doc["url"] = required(p, "url")
    if "enabled_events" in p:
        doc["enabled_events"] = forms.string_list(p, "enabled_events")
    if "description" in p:
        doc["description"] = text(p, "description")
    disabled = forms.boolean(p, "disabled")
    if disabled is not None:
        doc["status"] = "disabled" if disabled else "enabled"
    billing.store.put("webhook_endpoint", doc["id"], doc)
    return doc


def delete_webhook_endpoint(billing: Billing, call: Call) -> Doc:
    doc = billing.get("webhook_endpoint", call.path["id"])
    billing.store.delete("webhook_endpoint", doc["id"])
    return deleted(doc["id"], "webhook_endpoint")


def list_webhook_endpoints(billing: Billing, call: Call) -> Doc:
    check_known(call.params, LIST_PARAMS)
    return list_page(billing, "webhook_endpoint", "/v1/webhook_endpoints", call.params, Filter())


def list_events(billing: Billing, call: Call) -> Doc:
    p = call.params
    check_known(p, (*LIST_PARAMS, "type", "types", "created", "delivery_success"))
    where = Filter().range(p, "created")
    # Stripe's wildcard is ``*`` (``invoice.*``): SQLite's GLOB reads it the same way.
    if text(p, "type"):
        where.raw("json_extract(data, '$.type') GLOB ?", text(p, "type"))
    types = forms.string_list(p, "types")
    if types:
        where.raw(
            "(" + " OR ".join(["json_extract(data, '$.type') GLOB ?"] * len(types)) + ")", *types
        )
    return list_page(billing, "event", "/v1/events", p, where)


ROUTES: list[Route] = [
    api("/v1/customers", ["POST"], create_customer),
    api("/v1/customers", ["GET"], list_customers),
    api("/v1/customers/{id}", ["GET"], retrieve_customer),
    api("/v1/customers/{id}", ["POST"], update_customer),
    api("/v1/customers/{id}", ["DELETE"], delete_customer),
    api("/v1/customers/{id}/tax_ids", ["GET"], list_tax_ids),
    api("/v1/customers/{id}/tax_ids", ["POST"], create_tax_id),
    api("/v1/products", ["POST"], create_product),
    api("/v1/products", ["GET"], list_products),
    api("/v1/products/{id}", ["GET"], retrieve("product")),
    api("/v1/products/{id}", ["POST"], update_product),
    api("/v1/prices", ["POST"], create_price),
    api("/v1/prices", ["GET"], list_prices),
    api("/v1/prices/{id}", ["GET"], retrieve("price")),
    api("/v1/prices/{id}", ["POST"], update_price),
    api("/v1/tax_rates", ["POST"], create_tax_rate),
    api("/v1/tax_rates", ["GET"], list_tax_rates),
    api("/v1/tax_rates/{id}", ["GET"], retrieve("tax_rate")),
    api("/v1/tax_rates/{id}", ["POST"], update_tax_rate),
    api("/v1/webhook_endpoints", ["POST"], create_webhook_endpoint),
    api("/v1/webhook_endpoints", ["GET"], list_webhook_endpoints),
    api("/v1/webhook_endpoints/{id}", ["GET"], retrieve("webhook_endpoint")),
    api("/v1/webhook_endpoints/{id}", ["POST"], update_webhook_endpoint),
    api("/v1/webhook_endpoints/{id}", ["DELETE"], delete_webhook_endpoint),
    api("/v1/events", ["GET"], list_events),
    api("/v1/events/{id}", ["GET"], retrieve("event")),
]
