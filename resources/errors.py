"""Typed errors raised by the system APIs, whatever the vendor.

Callers decide by type: ``RateLimited`` and ``TransientError`` may succeed later,
``PermanentError`` will not without a change (its message is the vendor's own),
``BusinessRuleViolation`` is a permanent refusal a finance user can act on,
``PreconditionFailed`` means "someone else changed it: re-read and decide again".
"""

from __future__ import annotations


class SystemApiError(Exception):
    """A call to a CRM, billing or ERP API failed."""

    def __init__(
        self,
        system: str,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        method: str = "",
        url: str = "",
        attempts: int = 1,
    ) -> None:
        self.system = system
        self.message = message
        self.status = status
        self.code = code
        self.request_id = request_id
        self.method = method
        self.url = url
        self.attempts = attempts
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.method} {self.url}".strip()
        parts = [f"{self.system}: {self.message}"]
        detail = ", ".join(
            p
            for p in (
                f"HTTP {self.status}" if self.status else "",
                f"code {self.code}" if self.code else "",
                f"request {self.request_id}" if self.request_id else "",
                f"after {self.attempts} attempts" if self.attempts > 1 else "",
            )
            if p
        )
        if detail:
            parts.append(f"({detail})")
        if where:
            parts.append(f"[{where}]")
        return " ".join(parts)


class TransientError(SystemApiError):
    """5xx, timeouts, dropped connections: may succeed if tried again later."""


class RateLimited(TransientError):
    """The vendor asked us to slow down (HTTP 429)."""

    def __init__(self, *args: object, retry_after: float | None = None, **kwargs: object) -> None:
        self.retry_after = retry_after
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


class UnsafeToRetry(TransientError):
    """A write without an idempotency key failed in a way that may have applied it.

    We never repeat such a call blindly: the caller must look the object up (for example by
    its external document number) before deciding to create it again.
    """


class PermanentError(SystemApiError):
    """The vendor refused the request (4xx): retrying the same call cannot help."""


class BusinessRuleViolation(PermanentError):
    """The vendor understood the request and refused it on business grounds: a posting date in
    a closed period, an unknown tax group, a document that is already posted. ``message`` is
    the vendor's own words, meant for the finance user who has to fix the data."""


class AuthenticationFailed(PermanentError):
    """The credential was missing, wrong or revoked (401/403)."""


class NotFound(PermanentError):
    """The object does not exist (404)."""


class PreconditionFailed(PermanentError):
    """The object changed since it was read (412, or Business Central's 409 EntityChanged)."""


class IdempotencyConflict(PermanentError):
    """An idempotency key was reused with different parameters."""


class InvalidResponse(PermanentError):
    """The vendor answered with something that is not the documented shape."""
