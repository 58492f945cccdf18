"""SANDBOX ONLY: edits a person can make in the Business Central client but the API refuses.

Business Central's API will not change a posted invoice's amount or delete a posted payment
or credit memo, yet people do such things in the client (a corrective edit, "Reverse
Transaction", a deleted posted document in a test company). Tests and demos need that drift,
so the sandbox offers it under ``/_sandbox/out_of_band/`` (JSON, the sandbox's bearer key).
Nothing in the platform calls these; a real ERP has no such routes.

- ``POST /_sandbox/out_of_band/invoice_amount`` ``{"company": id, "externalDocumentNumber":
  ..., "totalAmountIncludingTax": minor units}``: a posted invoice's total changes (its
  remaining amount and the customer's balance move by the same difference).
- ``POST /_sandbox/out_of_band/delete_payment`` ``{"company": id, "documentNumber": ...}``:
  a posted payment's G/L entries go, and what it applied to its invoice is open again.
- ``POST /_sandbox/out_of_band/delete_credit_memo`` ``{"company": id,
  "externalDocumentNumber": ...}``: a posted credit memo, its lines and G/L entries go, and
  what it reversed of its invoice is open again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandboxes.erp.context import Ctx
from sandboxes.erp.documents import DRAFT, Doc
from sandboxes.erp.wire import Clock
from sandboxes.kit.faults import ADMIN_PREFIX
from sandboxes.kit.store import SandboxStore

PREFIX = f"{ADMIN_PREFIX}/out_of_band"


class OutOfBandError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _context(store: SandboxStore, clock: Clock, body: dict[str, Any]) -> Ctx:
    company = store.get("company", str(body.get("company", "")).lower())
    if company is None:
        raise OutOfBandError(404, f"no company {body.get('company')!r}")
    return Ctx(store, clock, company)


def _posted(ctx: Ctx, type_name: str, external_number: str) -> Doc:
    found = [
        d
        for d in ctx.find_all(type_name, "externalDocumentNumber", external_number)
        if d["status"] != DRAFT
    ]
    if not found:
        raise OutOfBandError(404, f"no posted {type_name} with external number {external_number}")
    return found[0]


def _move_balance(ctx: Ctx, customer_id: str | None, delta: int) -> None:
    customer = ctx.get("customer", customer_id) if customer_id else None
    if customer is not None:
        customer["balanceDue"] = int(customer["balanceDue"]) + delta
        ctx.put_quietly("customer", customer)


def _reopen(ctx: Ctx, invoice_id: str | None, amount: int) -> None:
    invoice = ctx.get("salesInvoice", invoice_id) if invoice_id else None
    if invoice is None or amount <= 0:
        return
    invoice["remainingAmount"] = int(invoice["remainingAmount"]) + amount
    invoice["status"] = "Open"
    ctx.save("salesInvoice", invoice)


def _entries(ctx: Ctx, document_type: str, number: str) -> list[Doc]:
    return [
        e
        for e in ctx.find_all("generalLedgerEntry", "documentNumber", number)
        if e["documentType"] == document_type
    ]


def edit_invoice_amount(ctx: Ctx, body: dict[str, Any]) -> dict[str, Any]:
    invoice = _posted(ctx, "salesInvoice", str(body.get("externalDocumentNumber", "")))
    new_total = int(body["totalAmountIncludingTax"])
    delta = new_total - int(invoice["totalAmountIncludingTax"])
    invoice["totalAmountIncludingTax"] = new_total
    invoice["totalAmountExcludingTax"] = int(invoice["totalAmountExcludingTax"]) + delta
    invoice["remainingAmount"] = max(int(invoice["remainingAmount"]) + delta, 0)
    invoice["status"] = "Open" if invoice["remainingAmount"] > 0 else "Paid"
    ctx.save("salesInvoice", invoice)
    _move_balance(ctx, invoice["customerId"], delta)
    return {"id": invoice["id"], "number": invoice["number"], "total": new_total}


def delete_payment(ctx: Ctx, body: dict[str, Any]) -> dict[str, Any]:
    number = str(body.get("documentNumber", "")).upper()
    entries = _entries(ctx, "Payment", number)
    if not entries:
        raise OutOfBandError(404, f"no posted payment {number}")
    applied: dict[str, Any] = next((e["_applied"] for e in entries if e.get("_applied")), {})
    amount = sum(int(e["debitAmount"]) for e in entries)
    for entry in entries:
        ctx.delete("generalLedgerEntry", entry["id"])
    _reopen(ctx, applied.get("invoiceId"), int(applied.get("amount") or 0))
    _move_balance(ctx, applied.get("customerId"), amount)
    return {"documentNumber": number, "entries_deleted": len(entries), "amount": amount}


def delete_credit_memo(ctx: Ctx, body: dict[str, Any]) -> dict[str, Any]:
    memo = _posted(ctx, "salesCreditMemo", str(body.get("externalDocumentNumber", "")))
    total = int(memo["totalAmountIncludingTax"])
    _reopen(ctx, memo.get("invoiceId"), int(memo.get("_appliedAmount") or 0))
    for line in ctx.find_all("salesCreditMemoLine", "documentId", memo["id"]):
        ctx.delete("salesCreditMemoLine", line["id"])
    for entry in _entries(ctx, "Credit Memo", memo["number"]):
        ctx.delete("generalLedgerEntry", entry["id"])
    ctx.delete("salesCreditMemo", memo["id"])
    _move_balance(ctx, memo["customerId"], total)
    return {"id": memo["id"], "number": memo["number"], "total": total}


ACTIONS: dict[str, Callable[[Ctx, dict[str, Any]], dict[str, Any]]] = {
    "invoice_amount": edit_invoice_amount,
    "delete_payment": delete_payment,
    "delete_credit_memo": delete_credit_memo,
}


def out_of_band_routes(
    store: SandboxStore, clock: Clock, authorized: Callable[[Request], bool]
) -> list[Route]:
    def apply(action: str, body: dict[str, Any]) -> dict[str, Any]:
        with store.transaction():
            return ACTIONS[action](_context(store, clock, body), body)

    async def endpoint(request: Request) -> Response:
        if not authorized(request):
            return JSONResponse({"error": "missing or wrong bearer key"}, status_code=401)
        try:
            body = json.loads(await request.body() or b"{}")
            if not isinstance(body, dict):
                raise OutOfBandError(400, "body must be a JSON object")
            result = await run_in_threadpool(apply, request.path_params["action"], body)
        except OutOfBandError as exc:
            return JSONResponse({"error": exc.message}, status_code=exc.status)
        except KeyError as exc:
            return JSONResponse({"error": f"unknown action or missing field {exc}"}, 400)
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": f"bad request: {exc}"}, status_code=400)
        return JSONResponse(result)

    return [Route(f"{PREFIX}/{{action:str}}", endpoint, methods=["POST"])]
