"""Subscriptions, invoices and their lines: builders and the arithmetic Stripe does on them.

Tax is computed per line in integer minor units (half-up), then summed per tax rate into the
invoice's ``total_taxes``; so ``total == subtotal + sum(exclusive total_taxes)`` always holds.
"""

from __future__ import annotations

from sandboxes.billing.errors import StripeError
from sandboxes.billing.objects import Doc, list_object

MONTH_SECONDS = 30 * 86_400
TIMES = "\u00d7"  # the multiplication sign: Stripe describes lines as "2 <times> Team plan"
TERMS_DAYS = {"NET15": 15, "NET30": 30, "NET60": 60}


def div_half_up(numerator: int, denominator: int) -> int:
    """Integer division rounding halves away from zero, as billing systems round tax."""
    sign = -1 if (numerator < 0) != (denominator < 0) else 1
    n, d = abs(numerator), abs(denominator)
    return sign * ((2 * n + d) // (2 * d))


def line_taxes(amount: int, rates: list[Doc]) -> list[Doc]:
    """Stripe's line ``taxes[]`` for ``amount`` under each tax rate document."""
    taxes = []
    for rate in rates:
        bp = int(rate["_bp"])
        if rate["inclusive"]:
            tax = amount - div_half_up(amount * 10_000, 10_000 + bp)
            taxable = amount - tax
        else:
            tax, taxable = div_half_up(amount * bp, 10_000), amount
        taxes.append(
            {
                "amount": tax,
                "tax_behavior": "inclusive" if rate["inclusive"] else "exclusive",
                "tax_rate_details": {"tax_rate": rate["id"]},
                "taxability_reason": "standard_rated" if bp else "zero_rated",
                "taxable_amount": taxable,
                "type": "tax_rate_details",
            }
        )
    return taxes


def sum_taxes(taxes: list[Doc]) -> list[Doc]:
    """Merge line taxes per tax rate, keeping first-seen order."""
    merged: dict[tuple[str, str], Doc] = {}
    for tax in taxes:
        key = (tax["tax_rate_details"]["tax_rate"], tax["tax_behavior"])
        if key in merged:
            merged[key]["amount"] += tax["amount"]
            merged[key]["taxable_amount"] += tax["taxable_amount"]
        else:
            merged[key] = {**tax, "tax_rate_details": dict(tax["tax_rate_details"])}
    return list(merged.values())


# -- subscriptions -----------------------------------------------------------------------------
def subscription_item(
    obj_id: str,
    created: int,
    subscription_id: str,
    price_doc: Doc,
    quantity: int,
    period: tuple[int, int],
) -> Doc:
    return {
        "id": obj_id,
        "object": "subscription_item",
        "billing_thresholds": None,
        "created": created,
        "current_period_end": period[1],
        "current_period_start": period[0],
        "discounts": [],
        "metadata": {},
        "price": price_doc,
        "quantity": quantity,
        "subscription": subscription_id,
        "tax_rates": [],
    }


def subscription(
    obj_id: str,
    created: int,
    customer_id: str,
    currency: str,
    items: list[Doc],
    *,
    collection_method: str = "charge_automatically",
    days_until_due: int | None = None,
    default_tax_rates: list[Doc] | None = None,
    metadata: dict[str, str] | None = None,
    description: str | None = None,
) -> Doc:
    return {
        "id": obj_id,
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": created,
        "billing_cycle_anchor_config": None,
        "billing_mode": {"type": "classic"},
        "billing_schedules": [],
        "billing_thresholds": None,
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": collection_method,
        "created": created,
        "currency": currency,
        "customer": customer_id,
        "customer_account": None,
        "days_until_due": days_until_due,
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": default_tax_rates or [],
        "description": description,
        "discounts": [],
        "ended_at": None,
        "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
        "items": list_object(f"/v1/subscription_items?subscription={obj_id}", items),
        "latest_invoice": None,
        "livemode": False,
        "managed_payments": {"enabled": False},
        "metadata": metadata or {},
        "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None,
        "pause_collection": None,
        "payment_settings": {
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": "off",
        },
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "start_date": created,
        "status": "active",
        "test_clock": None,
        "transfer_data": None,
        "trial_end": None,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": None,
    }


# -- invoices ----------------------------------------------------------------------------------
def invoice(
    obj_id: str,
    created: int,
    customer_doc: Doc,
    currency: str,
    *,
    billing_reason: str = "manual",
    collection_method: str = "charge_automatically",
    days_until_due: int | None = None,
    subscription_id: str | None = None,
    description: str | None = None,
    metadata: dict[str, str] | None = None,
    default_tax_rates: list[Doc] | None = None,
    period: tuple[int, int] | None = None,
    auto_advance: bool = False,
) -> Doc:
    """A draft invoice without lines; add lines with ``add_line`` then ``recalculate``."""
    parent = None
    if subscription_id:
        parent = {
            "quote_details": None,
            "subscription_details": {"metadata": {}, "subscription": subscription_id},
            "type": "subscription_details",
        }
    start, end = period or (created, created)
    tax_ids = customer_doc.get("_tax_ids", [])
    return {
        "id": obj_id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "Sync Platform Sandbox",
        "account_tax_ids": None,
        "amount_due": 0,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": 0,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": auto_advance,
        "automatic_tax": {
            "disabled_reason": None,
            "enabled": False,
            "liability": None,
            "provider": None,
            "status": None,
        },
        "automatically_finalizes_at": None,
        "billing_reason": billing_reason,
        "collection_method": collection_method,
        "created": created,
        "currency": currency,
        "custom_fields": None,
        "customer": customer_doc["id"],
        "customer_account": None,
        "customer_address": customer_doc.get("address"),
        "customer_email": customer_doc.get("email"),
        "customer_name": customer_doc.get("name"),
        "customer_phone": customer_doc.get("phone"),
        "customer_shipping": None,
        "customer_tax_exempt": customer_doc.get("tax_exempt", "none"),
        "customer_tax_ids": [{"type": t["type"], "value": t["value"]} for t in tax_ids],
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": default_tax_rates or [],
        "description": description,
        "discounts": [],
        "due_date": None,
        "effective_at": None,
        "ending_balance": None,
        "footer": None,
        "from_invoice": None,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": list_object(f"/v1/invoices/{obj_id}/lines", []),
        "livemode": False,
        "metadata": metadata or {},
        "next_payment_attempt": None,
        "number": None,
        "on_behalf_of": None,
        "parent": parent,
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "period_end": end,
        "period_start": start,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": 0,
        "statement_descriptor": None,
        "status": "draft",
        "status_transitions": {
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subtotal": 0,
        "subtotal_excluding_tax": 0,
        "test_clock": None,
        "total": 0,
        "total_discount_amounts": [],
        "total_excluding_tax": 0,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": None,
        "_days_until_due": days_until_due,
    }


def line_item(
    obj_id: str,
    invoice_doc: Doc,
    *,
    description: str | None,
    unit_amount: int,
    quantity: int,
    period: tuple[int, int],
    tax_rates: list[Doc],
    price_doc: Doc | None = None,
    subscription_item_id: str | None = None,
    invoice_item_id: str | None = None,
    metadata: dict[str, str] | None = None,
) -> Doc:
    amount = unit_amount * quantity
    subscription_id = (invoice_doc.get("parent") or {}).get("subscription_details", {}) or {}
    sub = subscription_id.get("subscription") if subscription_item_id else None
    if subscription_item_id:
        parent = {
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": sub,
                "subscription_item": subscription_item_id,
            },
            "type": "subscription_item_details",
        }
    else:
        parent = {
            "invoice_item_details": {
                "invoice_item": invoice_item_id,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": None,
            },
            "subscription_item_details": None,
            "type": "invoice_item_details",
        }
    pricing = {
        "price_details": {"price": price_doc["id"], "product": price_doc["product"]}
        if price_doc
        else None,
        "type": "price_details",
        "unit_amount_decimal": str(unit_amount),
    }
    return {
        "id": obj_id,
        "object": "line_item",
        "amount": amount,
        "currency": invoice_doc["currency"],
        "description": description,
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "invoice": invoice_doc["id"],
        "livemode": False,
        "metadata": metadata or {},
        "parent": parent,
        "period": {"end": period[1], "start": period[0]},
        "pretax_credit_amounts": [],
        "pricing": pricing,
        "quantity": quantity,
        "quantity_decimal": str(quantity),
        "subscription": sub,
        "subtotal": amount,
        "taxes": line_taxes(amount, tax_rates),
        # Kept for credit notes, which copy the line's tax rates.
        "_tax_rates": tax_rates,
    }


def add_line(invoice_doc: Doc, line: Doc) -> None:
    if invoice_doc["status"] != "draft":
        raise StripeError.state(
            f"You can only add invoice items to draft invoices; {invoice_doc['id']} is "
            f"{invoice_doc['status']}."
        )
    invoice_doc["lines"]["data"].append(line)
    recalculate(invoice_doc)


def recalculate(invoice_doc: Doc) -> None:
    """Derive every amount of the invoice from its lines and credit notes."""
    lines = invoice_doc["lines"]["data"]
    taxes = sum_taxes([tax for line in lines for tax in line["taxes"]])
    subtotal = sum(line["amount"] for line in lines)
    inclusive = sum(t["amount"] for t in taxes if t["tax_behavior"] == "inclusive")
    exclusive = sum(t["amount"] for t in taxes if t["tax_behavior"] == "exclusive")
    total = subtotal + exclusive
    invoice_doc.update(
        subtotal=subtotal,
        subtotal_excluding_tax=subtotal - inclusive,
        total=total,
        total_excluding_tax=subtotal - inclusive,
        total_taxes=taxes,
    )
    due = max(0, total - invoice_doc["pre_payment_credit_notes_amount"])
    invoice_doc["amount_due"] = due
    invoice_doc["amount_remaining"] = max(0, due - invoice_doc["amount_paid"])


def finalize(invoice_doc: Doc, customer_doc: Doc, at: int) -> None:
    """Draft -> open: Stripe numbers the invoice from the customer's sequence."""
    if invoice_doc["status"] != "draft":
        raise StripeError.state(
            "This invoice is already finalized, you can't re-finalize a non-draft invoice.",
        )
    sequence = int(customer_doc.get("next_invoice_sequence", 1))
    customer_doc["next_invoice_sequence"] = sequence + 1
    invoice_doc["number"] = f"{customer_doc['invoice_prefix']}-{sequence:04d}"
    invoice_doc["status"] = "open"
    invoice_doc["status_transitions"]["finalized_at"] = at
    invoice_doc["effective_at"] = at
    invoice_doc["ending_balance"] = 0
    invoice_doc["auto_advance"] = False
    if invoice_doc["collection_method"] == "send_invoice":
        days = invoice_doc.get("_days_until_due") or 30
        invoice_doc["due_date"] = at + days * 86_400
    if invoice_doc["amount_due"] == 0:
        mark_paid(invoice_doc, 0, at)


def mark_paid(invoice_doc: Doc, amount: int, at: int) -> None:
    invoice_doc["amount_paid"] += amount
    invoice_doc["amount_remaining"] = max(0, invoice_doc["amount_due"] - invoice_doc["amount_paid"])
    invoice_doc["status"] = "paid"
    invoice_doc["status_transitions"]["paid_at"] = at
    invoice_doc["attempted"] = True
    invoice_doc["attempt_count"] = max(1, invoice_doc["attempt_count"])


def require_status(invoice_doc: Doc, allowed: tuple[str, ...], action: str) -> None:
    if invoice_doc["status"] not in allowed:
        raise StripeError.state(
            f"You can only {action} an invoice with status {' or '.join(allowed)}; "
            f"{invoice_doc['id']} is {invoice_doc['status']}.",
            code="invoice_unexpected_state"
            if invoice_doc["status"] != "draft"
            else "invoice_not_editable",
        )


def invoice_item(
    obj_id: str,
    created: int,
    customer_id: str,
    currency: str,
    *,
    unit_amount: int,
    quantity: int,
    description: str | None,
    invoice_id: str | None,
    period: tuple[int, int],
    tax_rates: list[Doc],
    price_doc: Doc | None,
    metadata: dict[str, str],
) -> Doc:
    return {
        "id": obj_id,
        "object": "invoiceitem",
        "amount": unit_amount * quantity,
        "currency": currency,
        "customer": customer_id,
        "customer_account": None,
        "date": created,
        "description": description,
        "discountable": True,
        "discounts": [],
        "invoice": invoice_id,
        "livemode": False,
        "metadata": metadata,
        "net_amount": unit_amount * quantity,
        "parent": None,
        "period": {"end": period[1], "start": period[0]},
        "pricing": {
            "price_details": {"price": price_doc["id"], "product": price_doc["product"]}
            if price_doc
            else None,
            "type": "price_details",
            "unit_amount_decimal": str(unit_amount),
        },
        "proration": False,
        "quantity": quantity,
        "quantity_decimal": str(quantity),
        "tax_rates": tax_rates,
        "test_clock": None,
    }
