"""Money movements: payment intents, charges, balance transactions, refunds, payouts.

Paying an invoice yields a succeeded payment intent, its charge, the charge's balance
transaction (Stripe's fee deducted; ``available_on`` two days later) and an ``invoice_payment``
tying the payment to the invoice. A refund yields a negative balance transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from sandboxes.billing.errors import StripeError
from sandboxes.billing.invoicing import div_half_up, mark_paid
from sandboxes.billing.objects import Doc, Ids, list_object

FEE_BASIS_POINTS = 290  # Stripe's standard card pricing: 2.9 % + 30 minor units
FEE_FIXED = 30
AVAILABLE_AFTER = 2 * 86_400
PAYOUT_TRANSIT = 2 * 86_400


def card_fee(amount: int) -> int:
    return div_half_up(amount * FEE_BASIS_POINTS, 10_000) + FEE_FIXED if amount > 0 else 0


def balance_transaction(
    obj_id: str,
    created: int,
    *,
    amount: int,
    currency: str,
    fee: int,
    type_: str,
    source: str,
    available_on: int,
    description: str | None,
) -> Doc:
    category = {"charge": "charge", "refund": "refund", "payout": "payout"}.get(type_, type_)
    fee_details = (
        [
            {
                "amount": fee,
                "application": None,
                "currency": currency,
                "description": "Stripe processing fees",
                "type": "stripe_fee",
            }
        ]
        if fee
        else []
    )
    return {
        "id": obj_id,
        "object": "balance_transaction",
        "amount": amount,
        "available_on": available_on,
        "balance_type": "payments",
        "created": created,
        "currency": currency,
        "description": description,
        "exchange_rate": None,
        "fee": fee,
        "fee_details": fee_details,
        "net": amount - fee,
        "reporting_category": category,
        "source": source,
        "status": "available" if available_on <= created else "pending",
        "type": type_,
        # The automatic payout that swept this transaction (``?payout=`` filter).
        "_payout": None,
    }


def payment_intent(
    obj_id: str,
    created: int,
    *,
    amount: int,
    currency: str,
    customer_id: str | None,
    description: str | None,
    charge_id: str,
    metadata: dict[str, str] | None = None,
) -> Doc:
    return {
        "id": obj_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": amount,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic",
        "client_secret": f"{obj_id}_secret_{obj_id[3:15]}",
        "confirmation_method": "automatic",
        "created": created,
        "currency": currency,
        "customer": customer_id,
        "customer_account": None,
        "description": description,
        "excluded_payment_method_types": None,
        "last_payment_error": None,
        "latest_charge": charge_id,
        "livemode": False,
        "managed_payments": {"enabled": False},
        "metadata": metadata or {},
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": "pm_card_visa",
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": ["card"],
        "processing": None,
        "receipt_email": None,
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "succeeded",
        "transfer_data": None,
        "transfer_group": None,
    }


def charge(
    obj_id: str,
    created: int,
    *,
    amount: int,
    currency: str,
    customer_doc: Doc | None,
    payment_intent_id: str,
    balance_transaction_id: str,
    description: str | None,
) -> Doc:
    customer_doc = customer_doc or {}
    return {
        "id": obj_id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": balance_transaction_id,
        "billing_details": {
            "address": customer_doc.get("address"),
            "email": customer_doc.get("email"),
            "name": customer_doc.get("name"),
            "phone": customer_doc.get("phone"),
            "tax_id": None,
        },
        "calculated_statement_descriptor": "SYNC PLATFORM",
        "captured": True,
        "created": created,
        "currency": currency,
        "customer": customer_doc.get("id"),
        "description": description,
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "fraud_details": {},
        "livemode": False,
        "metadata": {},
        "on_behalf_of": None,
        "outcome": {
            "advice_code": None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": "normal",
            "seller_message": "Payment complete.",
            "type": "authorized",
        },
        "paid": True,
        "payment_intent": payment_intent_id,
        "payment_method": "pm_card_visa",
        "payment_method_details": {
            "card": {
                "brand": "visa",
                "country": "US",
                "exp_month": 12,
                "exp_year": 2034,
                "funding": "credit",
                "last4": "4242",
                "network": "visa",
            },
            "type": "card",
        },
        "receipt_email": None,
        "receipt_number": None,
        "receipt_url": None,
        "refunded": False,
        "refunds": list_object(f"/v1/charges/{obj_id}/refunds", []),
        "review": None,
        "shipping": None,
        "source": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "succeeded",
        "transfer_data": None,
        "transfer_group": None,
    }


def invoice_payment(
    obj_id: str, created: int, *, invoice_id: str, amount: int, currency: str, intent_id: str
) -> Doc:
    return {
        "id": obj_id,
        "object": "invoice_payment",
        "amount_paid": amount,
        "amount_requested": amount,
        "created": created,
        "currency": currency,
        "invoice": invoice_id,
        "is_default": True,
        "livemode": False,
        "payment": {"payment_intent": intent_id, "type": "payment_intent"},
        "status": "paid",
        "status_transitions": {"canceled_at": None, "paid_at": created},
    }


@dataclass
class CardPayment:
    intent: Doc
    charge: Doc
    balance_transaction: Doc


@dataclass
class InvoicePayment(CardPayment):
    invoice_payment: Doc


def card_payment(
    ids: Ids,
    at: int,
    *,
    amount: int,
    currency: str,
    customer_doc: Doc | None,
    description: str | None,
    metadata: dict[str, str] | None = None,
) -> CardPayment:
    """A succeeded card payment: its intent, charge and (pending) balance transaction."""
    intent_id, charge_id, txn_id = ids.new("pi"), ids.new("ch"), ids.new("txn")
    txn = balance_transaction(
        txn_id,
        at,
        amount=amount,
        currency=currency,
        fee=card_fee(amount),
        type_="charge",
        source=charge_id,
        available_on=at + AVAILABLE_AFTER,
        description=description,
    )
    return CardPayment(
        intent=payment_intent(
            intent_id,
            at,
            amount=amount,
            currency=currency,
            customer_id=(customer_doc or {}).get("id"),
            description=description,
            charge_id=charge_id,
            metadata=metadata,
        ),
        charge=charge(
            charge_id,
            at,
            amount=amount,
            currency=currency,
            customer_doc=customer_doc,
            payment_intent_id=intent_id,
            balance_transaction_id=txn_id,
            description=description,
        ),
        balance_transaction=txn,
    )


def pay_invoice(invoice_doc: Doc, customer_doc: Doc, ids: Ids, at: int) -> InvoicePayment:
    """Collect the invoice's remaining amount by card and mark it paid (mutates the invoice)."""
    amount, currency = invoice_doc["amount_remaining"], invoice_doc["currency"]
    description = f"Payment for Invoice {invoice_doc['number'] or invoice_doc['id']}"
    paid = card_payment(
        ids,
        at,
        amount=amount,
        currency=currency,
        customer_doc=customer_doc,
        description=description,
    )
    payment = InvoicePayment(
        intent=paid.intent,
        charge=paid.charge,
        balance_transaction=paid.balance_transaction,
        invoice_payment=invoice_payment(
            ids.new("inpay"),
            at,
            invoice_id=invoice_doc["id"],
            amount=amount,
            currency=currency,
            intent_id=paid.intent["id"],
        ),
    )
    mark_paid(invoice_doc, amount, at)
    return payment


def refund(
    obj_id: str,
    created: int,
    *,
    charge_doc: Doc,
    amount: int,
    txn_id: str,
    reason: str | None,
    metadata: dict[str, str] | None = None,
) -> Doc:
    return {
        "id": obj_id,
        "object": "refund",
        "amount": amount,
        "balance_transaction": txn_id,
        "charge": charge_doc["id"],
        "created": created,
        "currency": charge_doc["currency"],
        "customer": charge_doc["customer"],
        "customer_account": None,
        "destination_details": {
            "card": {
                "reference_status": "pending",
                "reference_type": "acquirer_reference_number",
                "type": "refund",
            },
            "type": "card",
        },
        "metadata": metadata or {},
        "payment_intent": charge_doc["payment_intent"],
        "payment_method": charge_doc["payment_method"],
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }


def refund_charge(
    charge_doc: Doc,
    amount: int | None,
    ids: Ids,
    at: int,
    reason: str | None = None,
    metadata: dict[str, str] | None = None,
) -> tuple[Doc, Doc]:
    """Refund ``amount`` (default: what is left) of a charge; mutates the charge."""
    left = charge_doc["amount"] - charge_doc["amount_refunded"]
    if left <= 0:
        raise StripeError(
            400,
            f"Charge {charge_doc['id']} has already been refunded.",
            code="charge_already_refunded",
        )
    amount = left if amount is None else amount
    if amount <= 0 or amount > left:
        raise StripeError.invalid(
            "amount",
            f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
        )
    refund_id, txn_id = ids.new("re"), ids.new("txn")
    txn = balance_transaction(
        txn_id,
        at,
        amount=-amount,
        currency=charge_doc["currency"],
        fee=0,
        type_="refund",
        source=refund_id,
        available_on=at,
        description="REFUND FOR CHARGE",
    )
    doc = refund(
        refund_id,
        at,
        charge_doc=charge_doc,
        amount=amount,
        txn_id=txn_id,
        reason=reason,
        metadata=metadata,
    )
    charge_doc["amount_refunded"] += amount
    listed = charge_doc["refunds"]
    charge_doc["refunds"] = {**listed, "data": [doc, *listed["data"]]}
    charge_doc["refunded"] = charge_doc["amount_refunded"] >= charge_doc["amount"]
    return doc, txn


def payout(
    obj_id: str,
    created: int,
    *,
    amount: int,
    currency: str,
    txn_id: str,
    automatic: bool,
    description: str | None = "STRIPE PAYOUT",
    metadata: dict[str, str] | None = None,
) -> Doc:
    arrival = created + PAYOUT_TRANSIT
    return {
        "id": obj_id,
        "object": "payout",
        "amount": amount,
        "application_fee": None,
        "application_fee_amount": None,
        "arrival_date": arrival,
        "automatic": automatic,
        "balance_transaction": txn_id,
        "created": created,
        "currency": currency,
        "description": description,
        "destination": "ba_sandbox_bank_account",
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "livemode": False,
        "metadata": metadata or {},
        "method": "standard",
        "original_payout": None,
        "payout_method": None,
        "reconciliation_status": "completed" if automatic else "not_applicable",
        "reversed_by": None,
        "source_type": "card",
        "statement_descriptor": None,
        "status": "in_transit",
        "trace_id": {"status": "pending", "value": None},
        "type": "bank_account",
    }


def make_payout(
    ids: Ids,
    at: int,
    amount: int,
    currency: str,
    *,
    automatic: bool,
    description: str | None = "STRIPE PAYOUT",
    metadata: dict[str, str] | None = None,
) -> tuple[Doc, Doc]:
    """A payout and the negative balance transaction that takes the money out."""
    payout_id, txn_id = ids.new("po"), ids.new("txn")
    txn = balance_transaction(
        txn_id,
        at,
        amount=-amount,
        currency=currency,
        fee=0,
        type_="payout",
        source=payout_id,
        available_on=at,
        description=description,
    )
    doc = payout(
        payout_id,
        at,
        amount=amount,
        currency=currency,
        txn_id=txn_id,
        automatic=automatic,
        description=description,
        metadata=metadata,
    )
    return doc, txn
