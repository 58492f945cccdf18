"""Payment intents, charges, refunds, credit notes, balance transactions, payouts, balance."""

from __future__ import annotations

import copy

from starlette.routing import Route

from sandboxes.billing import actions, credit_notes, forms, payments
from sandboxes.billing.endpoint import api, retrieve
from sandboxes.billing.errors import StripeError
from sandboxes.billing.forms import check_known, required, text
from sandboxes.billing.listing import LIST_PARAMS, Filter, list_page, page_of
from sandboxes.billing.objects import Doc, now
from sandboxes.billing.service import Billing, Call


def create_payment_intent(billing: Billing, call: Call) -> Doc:
    """A card payment confirmed on creation (``confirm=true``): intent, charge and balance
    transaction, tied to no invoice (money on account) until attached to one with
    ``/v1/invoices/{id}/attach_payment``. Unconfirmed intents are not emulated."""
    p = call.params
    check_known(
        p,
        (
            "amount",
            "currency",
            "customer",
            "confirm",
            "payment_method",
            "payment_method_types",
            "off_session",
            "description",
            "metadata",
        ),
    )
    required(p, "amount")
    amount = forms.integer(p, "amount", minimum=1) or 0
    currency = required(p, "currency").lower()
    customer_id = text(p, "customer")
    customer = billing.get_param("customer", customer_id, "customer") if customer_id else None
    if not forms.boolean(p, "confirm", False):
        raise StripeError.invalid(
            "confirm", "The sandbox only creates payment intents confirmed at once (confirm=true)."
        )
    paid = payments.card_payment(
        billing.ids,
        now(),
        amount=amount,
        currency=currency,
        customer_doc=customer,
        description=text(p, "description"),
        metadata=forms.merge_metadata({}, p),
    )
    billing.create(call, "payment_intent", paid.intent)
    billing.emit(call, "payment_intent.succeeded", paid.intent)
    txn = paid.balance_transaction
    billing.store.insert("balance_transaction", txn["id"], txn)
    billing.create(call, "charge", paid.charge, emit=False)
    billing.emit(call, "charge.succeeded", paid.charge)
    return paid.intent


def list_payment_intents(billing: Billing, call: Call) -> Doc:
    p = call.params
    check_known(p, (*LIST_PARAMS, "customer", "created"))
    where = Filter().equals("customer", text(p, "customer")).range(p, "created")
    return list_page(billing, "payment_intent", "/v1/payment_intents", p, where)


def list_charges(billing: Billing, call: Call) -> Doc:
    p = call.params
    check_known(p, (*LIST_PARAMS, "customer", "payment_intent", "created", "transfer_group"))
    where = (
        Filter()
        .equals("customer", text(p, "customer"))
        .equals("payment_intent", text(p, "payment_intent"))
        .range(p, "created")
    )
    return list_page(billing, "charge", "/v1/charges", p, where)


def list_charge_refunds(billing: Billing, call: Call) -> Doc:
    check_known(call.params, LIST_PARAMS)
    charge = billing.get("charge", call.path["id"])
    where = Filter().equals("charge", charge["id"])
    return list_page(billing, "refund", f"/v1/charges/{charge['id']}/refunds", call.params, where)


# -- refunds -----------------------------------------------------------------------------------
def create_refund(billing: Billing, call: Call) -> Doc:
    p = call.params
    check_known(
        p, ("charge", "payment_intent", "amount", "reason", "metadata", "instructions_email")
    )
    if text(p, "charge"):
        charge = billing.get_param("charge", text(p, "charge") or "", "charge")
    elif text(p, "payment_intent"):
        intent = billing.get_param(
            "payment_intent", text(p, "payment_intent") or "", "payment_intent"
        )
        charge = billing.get("charge", intent["latest_charge"])
    else:
        raise StripeError.missing("charge")
    reason = text(p, "reason")
    if reason not in (None, "duplicate", "fraudulent", "requested_by_customer"):
        raise StripeError.invalid("reason", f"Invalid reason: {reason}")
    amount = forms.integer(p, "amount", minimum=1)
    return actions.refund(
        billing, call, charge, amount, reason=reason, metadata=forms.merge_metadata({}, p)
    )


def list_refunds(billing: Billing, call: Call) -> Doc:
    p = call.params
    check_known(p, (*LIST_PARAMS, "charge", "payment_intent", "created"))
    where = (
        Filter()
        .equals("charge", text(p, "charge"))
        .equals("payment_intent", text(p, "payment_intent"))
        .range(p, "created")
    )
    return list_page(billing, "refund", "/v1/refunds", p, where)


# -- credit notes ------------------------------------------------------------------------------
def create_credit_note(billing: Billing, call: Call) -> Doc:
    p = call.params
    check_known(
        p,
        (
            "invoice",
            "amount",
            "lines",
            "memo",
            "reason",
            "metadata",
            "refund_amount",
            "refunds",
            "refund",
            "credit_amount",
            "out_of_band_amount",
            "effective_at",
            "email_type",
        ),
    )
    invoice = billing.get_param("invoice", required(p, "invoice"), "invoice")
    amount = forms.integer(p, "amount", minimum=1)
    if amount is not None:
        lines = credit_notes.lines_for_amount(invoice, amount, billing.ids)
    elif p.get("lines"):
        lines = credit_notes.lines_from_params(invoice, forms.dict_list(p, "lines"), billing.ids)
    else:
        raise StripeError.missing("amount")
    note = credit_notes.credit_note(
        billing.ids.new("cn"),
        now(),
        invoice,
        lines,
        memo=text(p, "memo"),
        reason=text(p, "reason"),
        metadata=forms.merge_metadata({}, p),
    )
    return actions.issue_credit_note(
        billing,
        call,
        invoice,
        note,
        refund_amount=forms.integer(p, "refund_amount", minimum=1),
        refund_ids=existing_refunds(billing, p),
        out_of_band=forms.integer(p, "out_of_band_amount", minimum=0),
    )


def existing_refunds(billing: Billing, p: forms.Params) -> list[tuple[str, int]]:
    """Refunds made beforehand and attached to the credit note (``refund``/``refunds[]``)."""
    specs = forms.dict_list(p, "refunds")
    if text(p, "refund"):
        specs = [{"refund": text(p, "refund")}, *specs]
    found = []
    for i, spec in enumerate(specs):
        refund = billing.get_param("refund", required(spec, "refund"), f"refunds[{i}][refund]")
        found.append((refund["id"], forms.integer(spec, "amount_refunded", refund["amount"]) or 0))
    return found


def update_credit_note(billing: Billing, call: Call) -> Doc:
    p = call.params
    check_known(p, ("memo", "metadata"))
    before = billing.get("credit_note", call.path["id"])
    note = {**before, "metadata": forms.merge_metadata(before["metadata"], p)}
    if "memo" in p:
        note["memo"] = text(p, "memo")
    return billing.save(call, "credit_note", note, before)


def void_credit_note(billing: Billing, call: Call) -> Doc:
    check_known(call.params, ())
    note = billing.get("credit_note", call.path["id"])
    invoice = billing.get("invoice", note["invoice"])
    before_invoice = copy.deepcopy(invoice)
    credit_notes.void(invoice, note, now())
    billing.save(call, "credit_note", note, None, "credit_note.voided")
    billing.save(call, "invoice", invoice, before_invoice)
    return note


def list_credit_notes(billing: Billing, call: Call) -> Doc:
    p = call.params
    check_known(p, (*LIST_PARAMS, "invoice", "customer", "created"))
    where = (
        Filter()
        .equals("invoice", text(p, "invoice"))
        .equals("customer", text(p, "customer"))
        .range(p, "created")
    )
    return list_page(billing, "credit_note", "/v1/credit_notes", p, where)


def list_credit_note_lines(billing: Billing, call: Call) -> Doc:
    check_known(call.params, LIST_PARAMS)
    note = billing.get("credit_note", call.path["id"])
    return page_of(note["lines"]["data"], note["lines"]["url"], call.params)


# -- balance -----------------------------------------------------------------------------------
def list_balance_transactions(billing: Billing, call: Call) -> Doc:
    p = call.params
    check_known(p, (*LIST_PARAMS, "type", "payout", "created", "currency", "source"))
    where = (
        Filter()
        .equals("type", text(p, "type"))
        .equals("_payout", text(p, "payout"))
        .equals("currency", (text(p, "currency") or "").lower() or None)
        .equals("source", text(p, "source"))
        .range(p, "created")
    )
    return list_page(billing, "balance_transaction", "/v1/balance_transactions", p, where)


def balances(billing: Billing) -> dict[str, tuple[int, int]]:
    """(available, pending) per currency, summed in SQL to avoid loading every transaction."""
    sql = (
        "SELECT json_extract(data, '$.currency'), "
        "SUM(CASE WHEN json_extract(data, '$.available_on') <= ? "
        "THEN json_extract(data, '$.net') ELSE 0 END), "
        "SUM(CASE WHEN json_extract(data, '$.available_on') > ? "
        "THEN json_extract(data, '$.net') ELSE 0 END) "
        "FROM objects WHERE kind = 'balance_transaction' GROUP BY 1"
    )
    at = now()
    with billing.store.lock:
        rows = billing.store.connection.execute(sql, (at, at)).fetchall()
    return {str(c): (int(a or 0), int(p or 0)) for c, a, p in rows}


def retrieve_balance(billing: Billing, call: Call) -> Doc:
    check_known(call.params, ())
    sums = balances(billing)

    def amounts(index: int) -> list[Doc]:
        return [
            {"amount": v[index], "currency": c, "source_types": {"card": v[index]}}
            for c, v in sorted(sums.items())
        ]

    return {
        "object": "balance",
        "available": amounts(0),
        "livemode": False,
        "pending": amounts(1),
    }


def create_payout(billing: Billing, call: Call) -> Doc:
    p = call.params
    check_known(
        p, ("amount", "currency", "description", "metadata", "method", "statement_descriptor")
    )
    required(p, "amount")
    amount = forms.integer(p, "amount", minimum=1) or 0
    currency = required(p, "currency").lower()
    available = balances(billing).get(currency, (0, 0))[0]
    if amount > available:
        raise StripeError(
            400,
            f"You have insufficient funds in your Stripe account for this transfer. "
            f"Your {currency} available balance is {available}.",
            code="balance_insufficient",
        )
    payout, txn = payments.make_payout(
        billing.ids,
        now(),
        amount,
        currency,
        automatic=False,
        description=text(p, "description") or "STRIPE PAYOUT",
        metadata=forms.merge_metadata({}, p),
    )
    billing.store.insert("balance_transaction", txn["id"], txn)
    return billing.create(call, "payout", payout)


def list_payouts(billing: Billing, call: Call) -> Doc:
    p = call.params
    check_known(p, (*LIST_PARAMS, "status", "created", "arrival_date", "destination"))
    where = Filter().range(p, "created").range(p, "arrival_date")
    status = text(p, "status")
    if status == "paid":
        where.raw("json_extract(data, '$.arrival_date') <= ?", now())
    elif status in ("in_transit", "pending"):
        where.raw("json_extract(data, '$.arrival_date') > ?", now())
    elif status is not None:
        where.equals("status", status)
    return list_page(billing, "payout", "/v1/payouts", p, where)


ROUTES: list[Route] = [
    api("/v1/payment_intents", ["POST"], create_payment_intent),
    api("/v1/payment_intents", ["GET"], list_payment_intents),
    api("/v1/payment_intents/{id}", ["GET"], retrieve("payment_intent")),
    api("/v1/charges", ["GET"], list_charges),
    api("/v1/charges/{id}", ["GET"], retrieve("charge")),
    api("/v1/charges/{id}/refunds", ["GET"], list_charge_refunds),
    api("/v1/refunds", ["POST"], create_refund),
    api("/v1/refunds", ["GET"], list_refunds),
    api("/v1/refunds/{id}", ["GET"], retrieve("refund")),
    api("/v1/credit_notes", ["POST"], create_credit_note),
    api("/v1/credit_notes", ["GET"], list_credit_notes),
    api("/v1/credit_notes/{id}", ["GET"], retrieve("credit_note")),
    api("/v1/credit_notes/{id}", ["POST"], update_credit_note),
    api("/v1/credit_notes/{id}/void", ["POST"], void_credit_note),
    api("/v1/credit_notes/{id}/lines", ["GET"], list_credit_note_lines),
    api("/v1/balance", ["GET"], retrieve_balance),
    api("/v1/balance_transactions", ["GET"], list_balance_transactions),
    api("/v1/balance_transactions/{id}", ["GET"], retrieve("balance_transaction")),
    api("/v1/payouts", ["POST"], create_payout),
    api("/v1/payouts", ["GET"], list_payouts),
    api("/v1/payouts/{id}", ["GET"], retrieve("payout")),
]
