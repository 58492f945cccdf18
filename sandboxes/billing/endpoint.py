"""What every Stripe API call goes through: auth, parameters, idempotency, transaction, output.

A handler is a plain function ``(billing, call) -> document``; ``api`` wraps it into a
Starlette route that authenticates, parses the nested form parameters, replays or records the
``Idempotency-Key``, runs the handler in one store transaction, applies ``expand[]``, renders
the public form and answers with Stripe's headers.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandboxes.billing.errors import StripeError, authentication_error, request_id_of
from sandboxes.billing.forms import check_known, fingerprint, parse_form
from sandboxes.billing.listing import expand
from sandboxes.billing.objects import API_VERSION, Doc
from sandboxes.billing.service import Billing, Call, present

log = logging.getLogger("sandbox.billing")

Handler = Callable[[Billing, Call], Doc]
MAX_KEY_LENGTH = 255
# Validation failures are not recorded: Stripe saves a result only once an endpoint began
# executing, so a corrected retry with the same key can still succeed.
UNRECORDED_CODES = frozenset({"parameter_missing", "parameter_invalid", "parameter_unknown"})
_in_flight: set[str] = set()


def presented_key(request: Request) -> str | None:
    """The API key from ``Bearer <key>`` or Basic auth (key as user name), as Stripe accepts."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value).decode().partition(":")[0] or None
        except (ValueError, UnicodeDecodeError):
            return None
    return None


def json_response(status: int, body: str, request_id: str, extra: dict[str, str]) -> Response:
    headers = {"Request-Id": request_id, "Stripe-Version": API_VERSION, **extra}
    return Response(body, status_code=status, media_type="application/json", headers=headers)


async def read_pairs(request: Request) -> list[tuple[str, str]]:
    pairs = list(request.query_params.multi_items())
    if request.method == "POST":
        raw = (await request.body()).decode("utf-8", errors="replace")
        pairs += parse_qsl(raw, keep_blank_values=True)
    return pairs


def retrieve(kind: str) -> Handler:
    """The plain ``GET /v1/<kind>s/{id}`` handler."""

    def handler(billing: Billing, call: Call) -> Doc:
        check_known(call.params, ())
        return billing.get(kind, call.path["id"])

    return handler


def api(path: str, methods: list[str], handler: Handler) -> Route:
    async def endpoint(request: Request) -> Response:
        request_id = request_id_of(request)
        billing: Billing = request.app.state.billing
        key = presented_key(request)
        if key != request.app.state.api_key:
            return authentication_error(key).response(request_id)
        pairs = await read_pairs(request)
        idem_key = request.headers.get("idempotency-key") if request.method == "POST" else None
        if idem_key is None:
            return _run(billing, handler, request, pairs, None)
        return _run_idempotent(billing, handler, request, pairs, idem_key)

    return Route(path, endpoint, methods=methods)


def _run_idempotent(
    billing: Billing, handler: Handler, request: Request, pairs: list[tuple[str, str]], key: str
) -> Response:
    request_id = request_id_of(request)
    if len(key) > MAX_KEY_LENGTH:
        return StripeError.invalid(
            "Idempotency-Key", f"Idempotency keys may be at most {MAX_KEY_LENGTH} characters."
        ).response(request_id)
    bound_to = fingerprint(request.method, request.url.path, pairs)
    stored = billing.store.idempotency_get(key)
    if stored is not None:
        stored_fingerprint, status, body = stored
        if stored_fingerprint != bound_to:
            return StripeError(
                400,
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{key}' if you meant to "
                "execute a different request.",
                type_="idempotency_error",
            ).response(request_id)
        replay = {"Idempotent-Replayed": "true", "Idempotency-Key": key}
        return json_response(status, body, request_id, replay)
    if key in _in_flight:
        return StripeError(
            409,
            "There is currently another in-progress request using this Stripe token (probably "
            "the same idempotency key). Please retry this request later.",
            type_="idempotency_error",
            code="lock_timeout",
        ).response(request_id)
    _in_flight.add(key)
    try:
        response = _run(billing, handler, request, pairs, key)
        if _recordable(response):
            billing.store.idempotency_put(
                key, bound_to, response.status_code, bytes(response.body).decode(), time.time()
            )
        return response
    finally:
        _in_flight.discard(key)


def _recordable(response: Response) -> bool:
    if response.status_code < 400:
        return True
    code = json.loads(bytes(response.body)).get("error", {}).get("code")
    return code not in UNRECORDED_CODES


def _run(
    billing: Billing,
    handler: Handler,
    request: Request,
    pairs: list[tuple[str, str]],
    idem_key: str | None,
) -> Response:
    request_id = request_id_of(request)
    extra = {"Idempotency-Key": idem_key} if idem_key else {}
    call = Call(
        request_id=request_id,
        idempotency_key=idem_key,
        params={},
        path=dict(request.path_params),
    )
    try:
        call.params = parse_form(pairs)
        with billing.store.transaction():
            result = expand(billing, handler(billing, call), call.params)
            body = json.dumps(present(result), ensure_ascii=False)
        billing.flush(call)
        return json_response(200, body, request_id, extra)
    except StripeError as error:
        body = json.dumps(error.body)
        return json_response(error.status, body, request_id, {**extra, **error.headers})
    except Exception:
        log.exception("billing sandbox: %s %s failed", request.method, request.url.path)
        failure = StripeError(
            500, "An unknown error occurred while processing your request.", type_="api_error"
        )
        return json_response(500, json.dumps(failure.body), request_id, extra)
