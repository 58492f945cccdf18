"""Subscriptions, invoice items, invoices and invoice payments."""

from __future__ import annotations

from starlette.routing import Route

from sandboxes.billing import actions, forms, invoicing
from sandboxes.billing.endpoint import Handler, api, retrieve
from sandboxes.billing.errors import StripeError
from sandboxes.billing.forms import Params, check_known, required, text
from sandboxes.billing.invoicing import TIMES
from sandboxes.billing.listing import LIST_PARAMS, Filter, list_page, page_of
from sandboxes.billing.objects import Doc, deleted, now
from sandboxes.billing.service import Billing, Call

SUBSCRIPTION_OF_INVOICE = "parent.subscription_details.subscription"


def tax_rates_param(billing: Billing, params: Params, name: str) -> list[Doc]:
    return [billing.get_param("tax_rate", i, name) for i in forms.string_list(params, name)]


# -- subscriptions -----------------------------------------------------------------------------
def subscription_items(billing: Billing, sub_id: str, specs: list[Params], at: int) -> list[Doc]:
    if not specs:
        raise StripeError.missing("items")
    items = []
    for i, spec in enumerate(specs):
        check_known(spec, ("price", "quantity", "tax_rates", "metadata"))
        price = billing.get_param("price", required(spec, "price"), f"items[{i}][price]")
        quantity = forms.integer(spec, "quantity", 1, minimum=1) or 1
        item = invoicing.subscription_item(
            billing.ids.new("si", 14),
            at,
            sub_id,
            price,
            quantity,
            (at, at + invoicing.MONTH_SECONDS),
        )
        item["tax_rates"] = tax_rates_param(billing, spec, f"items[{i}][tax_rates]")
        item["metadata"] = forms.merge_metadata({}, spec)
        items.append(item)
    currencies = {item["price"]["currency"] for item in items}
    if len(currencies) > 1:
        raise StripeError.invalid(
            "items", "All prices on a subscription must have the same currency."
        )
    return items


def invoice_subscription(billing: Billing, call: Call, sub: Doc, reason: str) -> Doc:
    """Bill the subscription's items for the current period; charge it if automatic."""
    customer = billing.get("customer", sub["customer"])
    items = sub["items"]["data"]
    start, end = items[0]["current_period_start"], items[0]["current_period_end"]
    invoice = invoicing.invoice(
        billing.ids.new("in"),
        now(),
        customer,
        sub["currency"],
        billing_reason=reason,
        collection_method=sub["collection_method"],
        days_until_due=sub["days_until_due"],
        subscription_id=sub["id"],
        default_tax_rates=sub["default_tax_rates"],
    )
    for item in items:
        line = invoicing.line_item(
            billing.ids.new("il"),
            invoice,
            description=f"{item['quantity']} {TIMES} {item['price']['nickname'] or 'subscription'}",
            unit_amount=item["price"]["unit_amount"],
            quantity=item["quantity"],
            period=(start, end),
            tax_rates=item["tax_rates"] or sub["default_tax_rates"],
            price_doc=item["price"],
            subscription_item_id=item["id"],
        )
        invoicing.add_line(invoice, line)
    billing.create(call, "invoice", invoice)
    actions.finalize_invoice(billing, call, invoice)
    if invoice["status"] == "open" and invoice["collection_method"] == "charge_automatically":
        # The sandbox's customers all have a working card on file.
        actions.collect_payment(billing, call, invoice)
    return invoice


def create_subscription(billing: Billing, call: Call) -> Doc:
    p = call.params
    check_known(
        p,
        (
            "customer",
            "items",
            "default_tax_rates",
            "collection_method",
            "days_until_due",
            "metadata",
            "description",
            "payment_behavior",
            "currency",
        ),
    )
    customer = billing.get_param("customer", required(p, "customer"), "customer")
    at, sub_id = now(), billing.ids.new("sub")
    items = subscription_items(billing, sub_id, forms.dict_list(p, "items"), at)
    sub = invoicing.subscription(
        sub_id,
        at,
        customer["id"],
        items[0]["price"]["currency"],
        items,
        collection_method=text(p, "collection_method") or "charge_automatically",
        days_until_due=forms.integer(p, "days_until_due", minimum=0),
        default_tax_rates=tax_rates_param(billing, p, "default_tax_rates"),
        metadata=forms.merge_metadata({}, p),
        description=text(p, "description"),
    )
    billing.create(call, "subscription", sub)
    if customer["currency"] is None:
        billing.save(call, "customer", {**customer, "currency": sub["currency"]}, customer)
    invoice = invoice_subscription(billing, call, sub, "subscription_create")
    sub["latest_invoice"] = invoice["id"]
    billing.store.put("subscription", sub["id"], sub)
    return sub


def update_subscription(billing: Billing, call: Call) -> Doc:
    p = call.params
    check_known(
        p,
        (
            "metadata",
            "description",
            "cancel_at_period_end",
            "default_tax_rates",
            "items",
            "collection_method",
            "days_until_due",
            "payment_behavior",
            "proration_behavior",
        ),
    )
    before = billing.get("subscription", call.path["id"])
    sub = {**before, "metadata": forms.merge_metadata(before["metadata"], p)}
    if before["status"] == "canceled" and set(p) - {"metadata", "expand"}:
        raise StripeError.state(
            "A canceled subscription can only update its cancellation_details and metadata.",
            code="subscription_canceled",
        )
    for name in ("description", "collection_method"):
        if name in p:
            sub[name] = text(p, name)
    if "days_until_due" in p:
        sub["days_until_due"] = forms.integer(p, "days_until_due", minimum=0)
    if "cancel_at_period_end" in p:
        sub["cancel_at_period_end"] = forms.boolean(p, "cancel_at_period_end", False)
        period_end = sub["items"]["data"][0]["current_period_end"]
        sub["cancel_at"] = period_end if sub["cancel_at_period_end"] else None
    if "default_tax_rates" in p:
        sub["default_tax_rates"] = tax_rates_param(billing, p, "default_tax_rates")
    if "items" in p:
        sub["items"] = {
            **sub["items"],
            "data": updated_items(billing, sub, forms.dict_list(p, "items")),
        }
    return billing.save(call, "subscription", sub, before)


def updated_items(billing: Billing, sub: Doc, specs: list[Params]) -> list[Doc]:
    items = {item["id"]: dict(item) for item in sub["items"]["data"]}
    for i, spec in enumerate(specs):
        check_known(spec, ("id", "price", "quantity", "deleted", "metadata", "tax_rates"))
        item_id = text(spec, "id")
        if item_id is None:
            items.update(
                {n["id"]: n for n in subscription_items(billing, sub["id"], [spec], now())}
            )
            continue
        if item_id not in items:
            raise StripeError.invalid(f"items[{i}][id]", f"No such subscription item: '{item_id}'")
        if forms.boolean(spec, "deleted", False):
            del items[item_id]
            continue
        item = items[item_id]
        if text(spec, "price"):
            item["price"] = billing.get_param(
                "price", text(spec, "price") or "", f"items[{i}][price]"
            )
        item["quantity"] = forms.integer(spec, "quantity", item["quantity"], minimum=1)
        item["metadata"] = forms.merge_metadata(item["metadata"], spec)
    if not items:
        raise StripeError.invalid("items", "A subscription needs at least one item.")
    return list(items.values())


def cancel_subscription(billing: Billing, call: Call) -> Doc:
    check_known(call.params, ("invoice_now", "prorate", "cancellation_details"))
    sub = billing.get("subscription", call.path["id"])
    return actions.cancel_subscription(billing, call, sub, "cancellation_requested")


def list_subscriptions(billing: Billing, call: Call) -> Doc:
    p = call.params
    check_known(p, (*LIST_PARAMS, "customer", "status", "price", "created", "collection_method"))
    where = Filter().equals("customer", text(p, "customer")).range(p, "created")
    where.equals("collection_method", text(p, "collection_method"))
    status = text(p, "status")
    if status is None:
        where.raw("json_extract(data, '$.status') != 'canceled'")  # Stripe's default
    elif status != "all":
        where.equals("status", status)
    if text(p, "price"):
        where.raw(
            "EXISTS (SELECT 1 FROM json_each(data, '$.items.data') "
            "WHERE json_extract(value, '$.price.id') = ?)",
            text(p, "price"),
        )
    return list_page(billing, "subscription", "/v1/subscriptions", p, where)


# -- invoice items -----------------------------------------------------------------------------
def create_invoice_item(billing: Billing, call: Call) -> Doc:
    p = call.params
    check_known(
        p,
        (
            "customer",
            "invoice",
            "amount",
            "currency",
            "description",
            "price",
            "quantity",
            "unit_amount_decimal",
            "tax_rates",
            "metadata",
            "period",
            "subscription",
            "discountable",
            "pricing",
        ),
    )
    customer = billing.get_param("customer", required(p, "customer"), "customer")
    invoice = (
        billing.get_param("invoice", text(p, "invoice") or "", "invoice")
        if "invoice" in p
        else None
    )
    if invoice is not None and invoice["customer"] != customer["id"]:
        raise StripeError.invalid("invoice", "The invoice belongs to another customer.")
    price_id = text(p, "price") or text(forms.nested(p, "pricing"), "price")
    price = billing.get_param("price", price_id, "price") if price_id else None
    quantity = forms.integer(p, "quantity", 1, minimum=1) or 1
    unit_amount = item_unit_amount(p, price, quantity)
    currency = (price or {}).get("currency") or (text(p, "currency") or "").lower()
    if not currency:
        currency = (invoice or {}).get("currency") or customer["currency"] or ""
    if not currency:
        raise StripeError.missing("currency")
    if invoice is not None and invoice["currency"] != currency:
        raise StripeError.invalid(
            "currency", "The invoice item's currency must match the invoice's."
        )
    at = now()
    period = forms.nested(p, "period")
    start = forms.integer(period, "start", at) or at
    rates = tax_rates_param(billing, p, "tax_rates")
    item = invoicing.invoice_item(
        billing.ids.new("ii"),
        at,
        customer["id"],
        currency,
        unit_amount=unit_amount,
        quantity=quantity,
        description=text(p, "description"),
        invoice_id=invoice["id"] if invoice else None,
        period=(start, forms.integer(period, "end", start) or start),
        tax_rates=rates,
        price_doc=price,
        metadata=forms.merge_metadata({}, p),
    )
    if invoice is not None:
        attach_item(billing, call, invoice, item)
    return billing.create(call, "invoiceitem", item)


def item_unit_amount(p: Params, price: Doc | None, quantity: int) -> int:
    if price is not None:
        return int(price["unit_amount"])
    amount = forms.integer(p, "amount")
    if amount is not None:
        if quantity != 1:
            raise StripeError.invalid("quantity", "Use unit_amount_decimal with a quantity.")
        return amount
    unit = forms.decimal(p, "unit_amount_decimal")
    if unit is None:
        raise StripeError.missing("amount")
    return int(unit)


def attach_item(billing: Billing, call: Call, invoice: Doc, item: Doc) -> None:
    before = {**invoice, "lines": dict(invoice["lines"])}
    line = invoicing.line_item(
        billing.ids.new("il"),
        invoice,
        description=item["description"],
        unit_amount=item["amount"] // item["quantity"],
        quantity=item["quantity"],
        period=(item["period"]["start"], item["period"]["end"]),
        tax_rates=item["tax_rates"] or invoice["default_tax_rates"],
        price_doc=billing.find("price", (item["pricing"]["price_details"] or {}).get("price", "")),
        invoice_item_id=item["id"],
        metadata=item["metadata"],
    )
    invoice["lines"] = {**invoice["lines"], "data": list(invoice["lines"]["data"])}
    invoicing.add_line(invoice, line)
    billing.save(call, "invoice", invoice, before)


def delete_invoice_item(billing: Billing, call: Call) -> Doc:
    item = billing.get("invoiceitem", call.path["id"])
    if item["invoice"]:
        invoice = billing.get("invoice", item["invoice"])
        invoicing.require_status(invoice, ("draft",), "remove items from")
        before = {**invoice, "lines": dict(invoice["lines"])}
        kept = [
            line
            for line in invoice["lines"]["data"]
            if (line["parent"]["invoice_item_details"] or {}).get("invoice_item") != item["id"]
        ]
        invoice["lines"] = {**invoice["lines"], "data": kept}
        invoicing.recalculate(invoice)
        billing.save(call, "invoice", invoice, before)
    billing.store.delete("invoiceitem", item["id"])
    billing.emit(call, "invoiceitem.deleted", item)
    return deleted(item["id"], "invoiceitem")


def list_invoice_items(billing: Billing, call: Call) -> Doc:
    p = call.params
    check_known(p, (*LIST_PARAMS, "customer", "invoice", "pending", "created"))
    where = Filter().equals("customer", text(p, "customer")).equals("invoice", text(p, "invoice"))
    if forms.boolean(p, "pending"):
        where.is_null("invoice")
    where.range(p, "created")
    return list_page(billing, "invoiceitem", "/v1/invoiceitems", p, where)


# -- invoices ----------------------------------------------------------------------------------
INVOICE_DRAFT_FIELDS = ("collection_method", "days_until_due", "default_tax_rates", "auto_advance")


def create_invoice(billing: Billing, call: Call) -> Doc:
    p = call.params
    check_known(
        p,
        (
            "customer",
            "currency",
            "description",
            "metadata",
            "collection_method",
            "days_until_due",
            "default_tax_rates",
            "auto_advance",
            "subscription",
            "pending_invoice_items_behavior",
            "footer",
        ),
    )
    customer = billing.get_param("customer", required(p, "customer"), "customer")
    sub_id = text(p, "subscription")
    if sub_id:
        billing.get_param("subscription", sub_id, "subscription")
    currency = (text(p, "currency") or customer["currency"] or "usd").lower()
    invoice = invoicing.invoice(
        billing.ids.new("in"),
        now(),
        customer,
        currency,
        collection_method=text(p, "collection_method") or "charge_automatically",
        days_until_due=forms.integer(p, "days_until_due", minimum=0),
        subscription_id=sub_id,
        description=text(p, "description"),
        metadata=forms.merge_metadata({}, p),
        default_tax_rates=tax_rates_param(billing, p, "default_tax_rates"),
        auto_advance=bool(forms.boolean(p, "auto_advance", False)),
    )
    invoice["footer"] = text(p, "footer")
    billing.create(call, "invoice", invoice)
    if text(p, "pending_invoice_items_behavior") == "include":
        pending = billing.store.scan(
            "invoiceitem",
            where="json_extract(data, '$.customer') = ? "
            "AND json_extract(data, '$.invoice') IS NULL "
            "AND json_extract(data, '$.currency') = ?",
            params=(customer["id"], currency),
        )
        for _, item in pending:
            item["invoice"] = invoice["id"]
            attach_item(billing, call, invoice, item)
            billing.store.put("invoiceitem", item["id"], item)
    return invoice


def update_invoice(billing: Billing, call: Call) -> Doc:
    p = call.params
    check_known(p, ("description", "metadata", "footer", *INVOICE_DRAFT_FIELDS))
    before = billing.get("invoice", call.path["id"])
    if before["status"] != "draft" and any(name in p for name in INVOICE_DRAFT_FIELDS):
        raise StripeError.state(
            "Finalized invoices can only update description, footer and metadata.",
            code="invoice_not_editable",
        )
    invoice = {**before, "metadata": forms.merge_metadata(before["metadata"], p)}
    for name in ("description", "footer", "collection_method"):
        if name in p:
            invoice[name] = text(p, name)
    if "days_until_due" in p:
        invoice["_days_until_due"] = forms.integer(p, "days_until_due", minimum=0)
    if "auto_advance" in p:
        invoice["auto_advance"] = forms.boolean(p, "auto_advance", False)
    if "default_tax_rates" in p:
        invoice["default_tax_rates"] = tax_rates_param(billing, p, "default_tax_rates")
    return billing.save(call, "invoice", invoice, before)


def delete_invoice(billing: Billing, call: Call) -> Doc:
    invoice = billing.get("invoice", call.path["id"])
    invoicing.require_status(invoice, ("draft",), "delete")
    billing.store.delete("invoice", invoice["id"])
    billing.emit(call, "invoice.deleted", invoice)
    return deleted(invoice["id"], "invoice")


def finalize_invoice(billing: Billing, call: Call) -> Doc:
    check_known(call.params, ("auto_advance",))
    invoice = billing.get("invoice", call.path["id"])
    return actions.finalize_invoice(billing, call, invoice)


def pay_invoice(billing: Billing, call: Call) -> Doc:
    p = call.params
    check_known(
        p, ("paid_out_of_band", "payment_method", "source", "off_session", "forgive", "mandate")
    )
    invoice = billing.get("invoice", call.path["id"])
    if invoice["status"] == "paid":
        raise StripeError.state("Invoice is already paid", code="invoice_already_paid")
    if forms.boolean(p, "paid_out_of_band", False):
        return actions.pay_out_of_band(billing, call, invoice)
    return actions.collect_payment(billing, call, invoice)


def attach_payment(billing: Billing, call: Call) -> Doc:
    check_known(call.params, ("payment_intent",))
    invoice = billing.get("invoice", call.path["id"])
    intent_id = required(call.params, "payment_intent")
    intent = billing.get_param("payment_intent", intent_id, "payment_intent")
    return actions.attach_payment(billing, call, invoice, intent)


def transition(status: str, stamp: str, event_type: str, verb: str) -> Handler:
    """``/void`` and ``/mark_uncollectible``: a status change with its timestamp and event."""

    def handler(billing: Billing, call: Call) -> Doc:
        check_known(call.params, ())
        before = billing.get("invoice", call.path["id"])
        invoicing.require_status(before, ("open",), verb)
        invoice = {**before, "status": status}
        invoice["status_transitions"] = {**before["status_transitions"], stamp: now()}
        if status == "void":
            invoice["amount_remaining"] = 0
        return billing.save(call, "invoice", invoice, None, event_type)

    return handler


def list_invoices(billing: Billing, call: Call) -> Doc:
    p = call.params
    check_known(
        p,
        (
            *LIST_PARAMS,
            "customer",
            "status",
            "subscription",
            "created",
            "collection_method",
            "due_date",
        ),
    )
    where = (
        Filter()
        .equals("customer", text(p, "customer"))
        .equals("status", text(p, "status"))
        .equals(SUBSCRIPTION_OF_INVOICE, text(p, "subscription"))
        .equals("collection_method", text(p, "collection_method"))
        .range(p, "created")
        .range(p, "due_date")
    )
    return list_page(billing, "invoice", "/v1/invoices", p, where)


def list_invoice_lines(billing: Billing, call: Call) -> Doc:
    check_known(call.params, LIST_PARAMS)
    invoice = billing.get("invoice", call.path["id"])
    return page_of(invoice["lines"]["data"], invoice["lines"]["url"], call.params)


def list_invoice_payments(billing: Billing, call: Call) -> Doc:
    p = call.params
    check_known(p, (*LIST_PARAMS, "invoice", "payment", "status", "created"))
    payment = forms.nested(p, "payment")
    where = (
        Filter()
        .equals("invoice", text(p, "invoice"))
        .equals("status", text(p, "status"))
        .equals("payment.type", text(payment, "type"))
        .equals("payment.payment_intent", text(payment, "payment_intent"))
        .range(p, "created")
    )
    return list_page(billing, "invoice_payment", "/v1/invoice_payments", p, where)


ROUTES: list[Route] = [
    api("/v1/subscriptions", ["POST"], create_subscription),
    api("/v1/subscriptions", ["GET"], list_subscriptions),
    api("/v1/subscriptions/{id}", ["GET"], retrieve("subscription")),
    api("/v1/subscriptions/{id}", ["POST"], update_subscription),
    api("/v1/subscriptions/{id}", ["DELETE"], cancel_subscription),
    api("/v1/invoiceitems", ["POST"], create_invoice_item),
    api("/v1/invoiceitems", ["GET"], list_invoice_items),
    api("/v1/invoiceitems/{id}", ["GET"], retrieve("invoiceitem")),
    api("/v1/invoiceitems/{id}", ["DELETE"], delete_invoice_item),
    api("/v1/invoices", ["POST"], create_invoice),
    api("/v1/invoices", ["GET"], list_invoices),
    api("/v1/invoices/{id}", ["GET"], retrieve("invoice")),
    api("/v1/invoices/{id}", ["POST"], update_invoice),
    api("/v1/invoices/{id}", ["DELETE"], delete_invoice),
    api("/v1/invoices/{id}/finalize", ["POST"], finalize_invoice),
    api("/v1/invoices/{id}/pay", ["POST"], pay_invoice),
    api("/v1/invoices/{id}/attach_payment", ["POST"], attach_payment),
    api(
        "/v1/invoices/{id}/void",
        ["POST"],
        transition("void", "voided_at", "invoice.voided", "void"),
    ),
    api(
        "/v1/invoices/{id}/mark_uncollectible",
        ["POST"],
        transition(
            "uncollectible",
            "marked_uncollectible_at",
            "invoice.marked_uncollectible",
            "mark uncollectible",
        ),
    ),
    api("/v1/invoices/{id}/lines", ["GET"], list_invoice_lines),
    api("/v1/invoice_payments", ["GET"], list_invoice_payments),
    api("/v1/invoice_payments/{id}", ["GET"], retrieve("invoice_payment")),
]
