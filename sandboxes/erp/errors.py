"""OData error bodies as Business Central sends them: ``{"error": {"code", "message"}}``."""

from __future__ import annotations

import json

from starlette.responses import Response

JSON_TYPE = "application/json; odata.metadata=minimal; odata.streaming=true; charset=utf-8"


class ODataError(Exception):
    """Raised anywhere in a request; the app turns it into the vendor's error response."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def bad_request(message: str, code: str = "BadRequest") -> ODataError:
    return ODataError(400, code, message)


def not_found(message: str) -> ODataError:
    # Business Central answers unknown ids with 404 and this code.
    return ODataError(404, "BadRequest_NotFound", message)


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    body = json.dumps({"error": {"code": code, "message": message}}, ensure_ascii=False)
    all_headers = {"OData-Version": "4.0", **(headers or {})}
    return Response(body, status_code=status, media_type=JSON_TYPE, headers=all_headers)
