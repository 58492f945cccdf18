"""Credit notes: lines, totals and their effect on the invoice they adjust.

A credit note on an open invoice is ``pre_payment`` and lowers what is due; on a paid invoice
it is ``post_payment`` and its total is split between refunds and ``out_of_band_amount``.
"""

from __future__ import annotations

from sandboxes.billing.errors import StripeError
from sandboxes.billing.forms import Params, integer, text
from sandboxes.billing.invoicing import div_half_up, line_taxes, mark_paid, recalculate, sum_taxes
from sandboxes.billing.objects import Doc, Ids, list_object


def note_line(
    obj_id: str,
    *,
    type_: str,
    amount: int,
    quantity: int,
    description: str | None,
    taxes: list[Doc],
    tax_rates: list[Doc],
    invoice_line_id: str | None = None,
    unit_amount: int | None = None,
) -> Doc:
    return {
        "id": obj_id,
        "object": "credit_note_line_item",
        "amount": amount,
        "description": description,
        "discount_amount": 0,
        "discount_amounts": [],
        "invoice_line_item": invoice_line_id,
        "livemode": False,
        "metadata": {},
        "pretax_credit_amounts": [],
        "quantity": quantity,
        "tax_rates": tax_rates,
        "taxes": taxes,
        "type": type_,
        "unit_amount": unit_amount,
        "unit_amount_decimal": None if unit_amount is None else str(unit_amount),
    }


def lines_for_amount(invoice_doc: Doc, amount: int, ids: Ids) -> list[Doc]:
    """Credit ``amount`` (tax included) spread like the invoice: pre-tax part plus its taxes."""
    if invoice_doc["total"] <= 0:
        raise StripeError.invalid("amount", "The invoice has no amount to credit.")
    pretax = div_half_up(amount * invoice_doc["subtotal"], invoice_doc["total"])
    exclusive = [t for t in invoice_doc["total_taxes"] if t["tax_behavior"] == "exclusive"]
    invoice_tax = sum(t["amount"] for t in exclusive)
    taxes, left = [], amount - pretax
    for i, tax in enumerate(exclusive):
        share = (
            left
            if i == len(exclusive) - 1
            else div_half_up((amount - pretax) * tax["amount"], invoice_tax or 1)
        )
        left -= share
        taxes.append({**tax, "amount": share, "taxable_amount": pretax})
    if not exclusive:
        pretax = amount
    return [
        note_line(
            ids.new("cnli"),
            type_="custom_line_item",
            amount=pretax,
            quantity=1,
            description="Credit",
            taxes=taxes,
            tax_rates=[],
            unit_amount=pretax,
        )
    ]


def lines_from_params(invoice_doc: Doc, requested: list[Params], ids: Ids) -> list[Doc]:
    by_id = {line["id"]: line for line in invoice_doc["lines"]["data"]}
    lines = []
    for i, spec in enumerate(requested):
        kind = text(spec, "type")
        if kind == "invoice_line_item":
            line_id = text(spec, "invoice_line_item")
            source = by_id.get(line_id or "")
            if source is None:
                raise StripeError.invalid(
                    f"lines[{i}][invoice_line_item]", f"No such invoice line item: '{line_id}'"
                )
            quantity = integer(spec, "quantity", source["quantity"], minimum=1) or 1
            unit = source["amount"] // max(1, source["quantity"])
            amount = integer(spec, "amount", unit * quantity, minimum=0) or 0
            rates = source.get("_tax_rates", [])
            lines.append(
                note_line(
                    ids.new("cnli"),
                    type_=kind,
                    amount=amount,
                    quantity=quantity,
                    description=source["description"],
                    taxes=line_taxes(amount, rates),
                    tax_rates=rates,
                    invoice_line_id=source["id"],
                )
            )
        elif kind == "custom_line_item":
            quantity = integer(spec, "quantity", 1, minimum=1) or 1
            unit = integer(spec, "unit_amount", minimum=0)
            if unit is None:
                raise StripeError.missing(f"lines[{i}][unit_amount]")
            lines.append(
                note_line(
                    ids.new("cnli"),
                    type_=kind,
                    amount=unit * quantity,
                    quantity=quantity,
                    description=text(spec, "description"),
                    taxes=[],
                    tax_rates=[],
                    unit_amount=unit,
                )
            )
        else:
            raise StripeError.invalid(
                f"lines[{i}][type]", "Line type must be invoice_line_item or custom_line_item"
            )
    return lines


def credit_note(
    obj_id: str,
    created: int,
    invoice_doc: Doc,
    lines: list[Doc],
    *,
    memo: str | None = None,
    reason: str | None = None,
    metadata: dict[str, str] | None = None,
) -> Doc:
    taxes = sum_taxes([tax for line in lines for tax in line["taxes"]])
    subtotal = sum(line["amount"] for line in lines)
    exclusive = sum(t["amount"] for t in taxes if t["tax_behavior"] == "exclusive")
    inclusive = sum(t["amount"] for t in taxes if t["tax_behavior"] == "inclusive")
    total = subtotal + exclusive
    count = int(invoice_doc.get("_credit_notes", 0)) + 1
    pre_payment = invoice_doc["status"] == "open"
    return {
        "id": obj_id,
        "object": "credit_note",
        "amount": total,
        "amount_shipping": 0,
        "created": created,
        "currency": invoice_doc["currency"],
        "customer": invoice_doc["customer"],
        "customer_account": None,
        "customer_balance_transaction": None,
        "discount_amount": 0,
        "discount_amounts": [],
        "effective_at": created,
        "invoice": invoice_doc["id"],
        "lines": list_object(f"/v1/credit_notes/{obj_id}/lines", lines),
        "livemode": False,
        "memo": memo,
        "metadata": metadata or {},
        "number": f"{invoice_doc['number']}-CN-{count:02d}",
        "out_of_band_amount": None,
        "pdf": f"https://files.sandbox.invalid/credit_notes/{obj_id}/pdf",
        "post_payment_amount": 0 if pre_payment else total,
        "pre_payment_amount": total if pre_payment else 0,
        "pretax_credit_amounts": [],
        "reason": reason,
        "refunds": [],
        "shipping_cost": None,
        "status": "issued",
        "subtotal": subtotal,
        "subtotal_excluding_tax": subtotal - inclusive,
        "total": total,
        "total_excluding_tax": subtotal - inclusive,
        "total_taxes": taxes,
        "type": "pre_payment" if pre_payment else "post_payment",
        "voided_at": None,
    }


def creditable(invoice_doc: Doc) -> int:
    credited = (
        invoice_doc["pre_payment_credit_notes_amount"]
        + invoice_doc["post_payment_credit_notes_amount"]
    )
    return invoice_doc["total"] - credited


def apply(invoice_doc: Doc, note: Doc, at: int) -> None:
    """Book the credit note on its invoice (mutates the invoice)."""
    if invoice_doc["status"] not in ("open", "paid"):
        raise StripeError.state(
            f"Credit notes can only be issued for open or paid invoices; {invoice_doc['id']} is "
            f"{invoice_doc['status']}.",
            code="invoice_unexpected_state",
        )
    if note["total"] > creditable(invoice_doc):
        raise StripeError.invalid(
            "amount",
            f"The credit note total ({note['total']}) exceeds the invoice's remaining creditable "
            f"amount ({creditable(invoice_doc)}).",
        )
    invoice_doc["_credit_notes"] = int(invoice_doc.get("_credit_notes", 0)) + 1
    if note["type"] == "pre_payment":
        invoice_doc["pre_payment_credit_notes_amount"] += note["total"]
        recalculate(invoice_doc)
        if invoice_doc["amount_remaining"] == 0:
            mark_paid(invoice_doc, 0, at)  # Stripe marks a fully credited invoice paid
    else:
        invoice_doc["post_payment_credit_notes_amount"] += note["total"]


def settle(note: Doc, refunds: list[tuple[str, int]], out_of_band: int | None) -> None:
    """Record how a post-payment credit note was settled; the rest is out of band."""
    note["refunds"] = [
        {"amount_refunded": amount, "payment_record_refund": None, "refund": rid, "type": "refund"}
        for rid, amount in refunds
    ]
    refunded = sum(amount for _, amount in refunds)
    if note["type"] == "pre_payment":
        return
    if refunded + (out_of_band or 0) > note["total"]:
        raise StripeError.invalid("refund_amount", "The refunds exceed the credit note's total.")
    note["out_of_band_amount"] = note["total"] - refunded


def void(invoice_doc: Doc, note: Doc, at: int) -> None:
    if note["status"] != "issued":
        raise StripeError.state("This credit note is already voided.", code="credit_note_voided")
    if note["refunds"]:
        raise StripeError.state(
            "A credit note with refunds cannot be voided.", code="credit_note_not_voidable"
        )
    note["status"], note["voided_at"] = "void", at
    if note["type"] == "pre_payment":
        invoice_doc["pre_payment_credit_notes_amount"] -= note["total"]
        recalculate(invoice_doc)
        if invoice_doc["status"] == "paid" and invoice_doc["amount_remaining"] > 0:
            # The credit note was what settled the invoice: without it, money is due again.
            invoice_doc["status"] = "open"
            invoice_doc["status_transitions"]["paid_at"] = None
    else:
        invoice_doc["post_payment_credit_notes_amount"] -= note["total"]
