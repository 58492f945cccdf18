"""Stripe's error shape: ``{"error": {"type", "code", "message", "param", ...}}``.

The SDK picks its exception class from the status and ``type`` (429 -> RateLimitError,
``idempotency_error`` -> IdempotencyError, 401 -> AuthenticationError ...), so both matter.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

DOCS = "https://stripe.com/docs/error-codes"


class StripeError(Exception):
    """An API failure the handlers raise; ``response`` renders it as Stripe does."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.param = param
        self.headers = headers or {}

    @property
    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.type}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"{DOCS}/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        return {"error": error}

    def response(self, request_id: str) -> Response:
        return JSONResponse(
            self.body,
            status_code=self.status,
            headers={"Request-Id": request_id, **self.headers},
        )

    # -- the usual ones ---------------------------------------------------------------------
    @classmethod
    def missing(cls, param: str) -> StripeError:
        return cls(400, f"Missing required param: {param}.", code="parameter_missing", param=param)

    @classmethod
    def invalid(cls, param: str, message: str) -> StripeError:
        return cls(400, message, code="parameter_invalid", param=param)

    @classmethod
    def no_such(cls, kind: str, obj_id: str, param: str = "id", status: int = 404) -> StripeError:
        label = kind.replace("_", " ")
        return cls(status, f"No such {label}: '{obj_id}'", code="resource_missing", param=param)

    @classmethod
    def state(cls, message: str, code: str = "invoice_not_editable") -> StripeError:
        return cls(400, message, code=code)


def mask_key(key: str) -> str:
    """Stripe shows the key's prefix and last four characters, never the whole key."""
    prefix = "_".join(key.split("_")[:2]) + "_" if key.count("_") >= 2 else ""
    return f"{prefix}{'*' * max(4, len(key) - len(prefix) - 4)}{key[-4:]}"


def authentication_error(key: str | None) -> StripeError:
    if not key:
        message = (
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth "
            "(e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
        )
    else:
        message = f"Invalid API Key provided: {mask_key(key)}"
    return StripeError(401, message, headers={"WWW-Authenticate": 'Bearer realm="Stripe"'})


def rate_limited() -> StripeError:
    return StripeError(
        429,
        "Request rate limit exceeded. Learn more about rate limits here "
        "https://stripe.com/docs/rate-limits.",
        code="rate_limit",
        headers={"Stripe-Should-Retry": "true", "Retry-After": "1"},
    )


def server_error() -> StripeError:
    return StripeError(
        500,
        "An unknown error occurred while processing your request.",
        type_="api_error",
        headers={"Stripe-Should-Retry": "true"},
    )


def request_id_of(request: Request) -> str:
    return str(request.scope.get("stripe_request_id", "req_unknown"))
