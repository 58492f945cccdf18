"""Operations that touch several objects at once, with the events Stripe sends for them."""

from __future__ import annotations

import copy

from sandboxes.billing import credit_notes, invoicing, payments
from sandboxes.billing.errors import StripeError
from sandboxes.billing.objects import Doc, now
from sandboxes.billing.service import Billing, Call


def finalize_invoice(billing: Billing, call: Call, invoice: Doc) -> Doc:
    before = billing.get("invoice", invoice["id"])
    customer = billing.get("customer", invoice["customer"])
    invoicing.finalize(invoice, customer, now())
    billing.store.put("customer", customer["id"], customer)  # next_invoice_sequence moved on
    billing.save(call, "invoice", invoice, before, "invoice.finalized")
    if invoice["status"] == "paid":  # nothing due: Stripe settles it on finalization
        billing.emit(call, "invoice.paid", invoice)
    return invoice


def collect_payment(billing: Billing, call: Call, invoice: Doc) -> Doc:
    """Charge the invoice's remaining amount: intent, charge, balance transaction, payment."""
    invoicing.require_status(invoice, ("open", "uncollectible"), "pay")
    customer = billing.get("customer", invoice["customer"])
    if invoice["amount_remaining"] == 0:
        invoicing.mark_paid(invoice, 0, now())
    else:
        paid = payments.pay_invoice(invoice, customer, billing.ids, now())
        billing.create(call, "payment_intent", paid.intent)
        billing.emit(call, "payment_intent.succeeded", paid.intent)
        billing.store.insert(
            "balance_transaction", paid.balance_transaction["id"], paid.balance_transaction
        )
        billing.create(call, "charge", paid.charge, emit=False)
        billing.emit(call, "charge.succeeded", paid.charge)
        billing.create(call, "invoice_payment", paid.invoice_payment, emit=False)
        billing.emit(call, "invoice_payment.paid", paid.invoice_payment)
    billing.store.put("invoice", invoice["id"], invoice)
    billing.emit(call, "invoice.paid", invoice)
    billing.emit(call, "invoice.payment_succeeded", invoice)
    return invoice


def pay_out_of_band(billing: Billing, call: Call, invoice: Doc) -> Doc:
    invoicing.require_status(invoice, ("open", "uncollectible"), "pay")
    invoicing.mark_paid(invoice, invoice["amount_remaining"], now())
    billing.store.put("invoice", invoice["id"], invoice)
    billing.emit(call, "invoice.paid", invoice)
    return invoice


def attach_payment(billing: Billing, call: Call, invoice: Doc, intent: Doc) -> Doc:
    """Credit a succeeded payment intent to an open invoice (Stripe's partial payments): the
    invoice stays open, with less remaining, until its payments cover it."""
    invoicing.require_status(invoice, ("open",), "attach a payment to")
    amount = int(intent["amount_received"])
    if intent["status"] != "succeeded" or amount == 0:
        raise StripeError.invalid("payment_intent", f"{intent['id']} has not succeeded.")
    if intent["currency"] != invoice["currency"]:
        raise StripeError.invalid(
            "payment_intent",
            f"{intent['id']} is in {intent['currency']}, the invoice in {invoice['currency']}.",
        )
    if intent["customer"] not in (None, invoice["customer"]):
        raise StripeError.invalid("payment_intent", f"{intent['id']} is another customer's.")
    attached = billing.store.scan(
        "invoice_payment",
        where="json_extract(data, '$.payment.payment_intent') = ?",
        params=(intent["id"],),
        limit=1,
    )
    if attached:
        raise StripeError.invalid(
            "payment_intent", f"{intent['id']} is already attached to {attached[0][1]['invoice']}."
        )
    if amount > invoice["amount_remaining"]:
        raise StripeError.invalid(
            "payment_intent",
            f"{intent['id']} ({amount}) exceeds the invoice's amount remaining "
            f"({invoice['amount_remaining']}).",
        )
    before = copy.deepcopy(invoice)
    at = now()
    link = payments.invoice_payment(
        billing.ids.new("inpay"),
        at,
        invoice_id=invoice["id"],
        amount=amount,
        currency=invoice["currency"],
        intent_id=intent["id"],
    )
    billing.create(call, "invoice_payment", link, emit=False)
    billing.emit(call, "invoice_payment.paid", link)
    if amount == invoice["amount_remaining"]:
        invoicing.mark_paid(invoice, amount, at)
        billing.save(call, "invoice", invoice, before, "invoice.paid")
    else:
        invoice["amount_paid"] += amount
        invoice["amount_remaining"] -= amount
        billing.save(call, "invoice", invoice, before)
    return invoice


def refund(
    billing: Billing,
    call: Call,
    charge: Doc,
    amount: int | None,
    *,
    reason: str | None = None,
    metadata: dict[str, str] | None = None,
) -> Doc:
    before = copy.deepcopy(charge)
    made, txn = payments.refund_charge(charge, amount, billing.ids, now(), reason, metadata)
    billing.store.insert("balance_transaction", txn["id"], txn)
    billing.create(call, "refund", made)
    billing.save(call, "charge", charge, before, "charge.refunded")
    return made


def charge_of_invoice(billing: Billing, invoice: Doc) -> Doc | None:
    rows = billing.store.scan(
        "invoice_payment",
        where="json_extract(data, '$.invoice') = ?",
        params=(invoice["id"],),
        descending=True,
        limit=1,
    )
    if not rows:
        return None
    intent = billing.find("payment_intent", rows[0][1]["payment"]["payment_intent"])
    return billing.find("charge", intent["latest_charge"]) if intent else None


def issue_credit_note(
    billing: Billing,
    call: Call,
    invoice: Doc,
    note: Doc,
    *,
    refund_amount: int | None,
    refund_ids: list[tuple[str, int]],
    out_of_band: int | None,
) -> Doc:
    """Book ``note`` on ``invoice``; refund through the invoice's charge when asked to."""
    before = copy.deepcopy(invoice)
    at = now()
    credit_notes.apply(invoice, note, at)
    refunds = list(refund_ids)
    if refund_amount:
        if note["type"] != "post_payment":
            raise StripeError.invalid("refund_amount", "Only paid invoices can be refunded.")
        charge = charge_of_invoice(billing, invoice)
        if charge is None:
            raise StripeError.invalid("refund_amount", "This invoice was not paid by a charge.")
        made = refund(billing, call, charge, refund_amount, reason=None)
        refunds.append((made["id"], refund_amount))
    credit_notes.settle(note, refunds, out_of_band)
    billing.create(call, "credit_note", note)
    billing.save(call, "invoice", invoice, before)
    return note


def cancel_subscription(billing: Billing, call: Call, sub: Doc, reason: str) -> Doc:
    if sub["status"] == "canceled":
        raise StripeError(
            400,
            "A canceled subscription can only update its cancellation_details and metadata.",
            code="resource_missing",
        )
    at = now()
    sub.update(status="canceled", canceled_at=at, ended_at=at)
    sub["cancellation_details"] = {**sub["cancellation_details"], "reason": reason}
    return billing.save(call, "subscription", sub, None, "customer.subscription.deleted")
