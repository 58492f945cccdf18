"""HubSpot's error bodies: ``{"status": "error", "message", "correlationId", "category"}``."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response


class CrmError(Exception):
    """Raised inside handlers; turned into HubSpot's error response by the app."""

    def __init__(
        self,
        status: int,
        category: str,
        message: str,
        *,
        sub_category: str | None = None,
        context: dict[str, list[str]] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.message = message
        self.sub_category = sub_category
        self.context = context
        self.errors = errors


def error_body(
    category: str,
    message: str,
    *,
    sub_category: str | None = None,
    context: dict[str, list[str]] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
    }
    if sub_category:
        body["subCategory"] = sub_category
    if context:
        body["context"] = context
    if errors:
        body["errors"] = errors
    return body


def error_response(exc: CrmError) -> JSONResponse:
    body = error_body(
        exc.category,
        exc.message,
        sub_category=exc.sub_category,
        context=exc.context,
        errors=exc.errors,
    )
    return JSONResponse(
        body, status_code=exc.status, headers={"x-hubspot-correlation-id": body["correlationId"]}
    )


def not_found(message: str = "resource not found") -> CrmError:
    return CrmError(404, "OBJECT_NOT_FOUND", message)


def validation(message: str, **kwargs: Any) -> CrmError:
    return CrmError(400, "VALIDATION_ERROR", message, **kwargs)


def unauthorized() -> Response:
    return error_response(
        CrmError(
            401,
            "INVALID_AUTHENTICATION",
            "Authentication credentials not found. This API supports OAuth 2.0 authentication "
            "and you can find more details at https://developers.hubspot.com/docs/methods/auth/"
            "oauth-overview",
        )
    )


def rate_limited(request: Request) -> Response:
    """The FaultMiddleware responder: HubSpot's ten-secondly 429, byte for byte."""
    body = {
        "status": "error",
        "message": "You have reached your ten_secondly_rolling limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": str(uuid.uuid4()),
        "policyName": "TEN_SECONDLY_ROLLING",
    }
    return JSONResponse(body, status_code=429)


def make_server_error(pick: Any) -> Any:
    """A 5xx responder; ``pick`` chooses among the statuses HubSpot's edge really returns."""

    def server_error(request: Request) -> Response:
        status = pick((500, 502, 503, 504))
        body = error_body(
            "INTERNAL_ERROR" if status == 500 else "SERVICE_UNAVAILABLE",
            "internal error" if status == 500 else "The service is temporarily unavailable.",
        )
        return JSONResponse(body, status_code=status)

    return server_error
