"""Webhook signature checks for Stripe and HubSpot v3, as pure functions of the request.

Each accepts what the vendor's own SDK accepts (``stripe.Webhook.construct_event``,
``hubspot.utils.signature.Signature.is_valid``) and is stricter in one way: a timestamp more
than the tolerance in the *future* is refused too, so a signature cannot be made to live
longer than the tolerance. The signature is checked before the timestamp, so a stale
timestamp is only ever reported for a request that really was signed with our secret.
Errors say what was wrong without repeating a secret, a signature or the body.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from typing import Literal

DEFAULT_TOLERANCE_SECONDS = 300

SignatureReason = Literal["missing_signature", "bad_signature", "stale_timestamp"]


class SignatureError(Exception):
    """The request cannot be trusted; ``reason`` is the code the rejection is recorded with."""

    def __init__(self, reason: SignatureReason, message: str) -> None:
        super().__init__(message)
        self.reason: SignatureReason = reason


def verify_stripe_signature(
    raw_body: bytes,
    header: str | None,
    secrets: Sequence[str],
    now: float,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> int:
    """Check a ``Stripe-Signature: t=<unix>,v1=<hex>[,v1=...]`` header; return its ``t``.

    The signature is HMAC-SHA256 keyed with the whole ``whsec_...`` secret over
    ``f"{t}.{body}"``. Any ``v1`` matching any of ``secrets`` passes: Stripe sends one ``v1``
    per active secret while a rolled secret is still valid, and we may hold both the old and
    the new secret while rotating.
    """
    keys = [s for s in secrets if s.strip()]
    if not keys:
        raise ValueError("no billing webhook secret configured")
    if not header or not header.strip():
        raise SignatureError("missing_signature", "no Stripe-Signature header")
    timestamp, signatures = _parse_stripe_header(header)
    signed = str(timestamp).encode() + b"." + raw_body
    expected = [hmac.new(k.encode(), signed, hashlib.sha256).hexdigest().encode() for k in keys]
    # Every comparison is made, so the time taken says nothing about which one matched.
    matches = [hmac.compare_digest(e, s) for e in expected for s in signatures]
    if not any(matches):
        raise SignatureError(
            "bad_signature",
            f"none of the {len(signatures)} v1 signatures matches the body "
            f"with any of the {len(keys)} configured secrets",
        )
    _check_age(timestamp, now, tolerance, "Stripe-Signature t")
    return timestamp


def _parse_stripe_header(header: str) -> tuple[int, list[bytes]]:
    timestamps: list[str] = []
    signatures: list[bytes] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            timestamps.append(value)
        elif key == "v1" and value:
            signatures.append(value.encode("ascii", errors="replace"))
    if not timestamps or not timestamps[0].isdigit():
        raise SignatureError("bad_signature", "Stripe-Signature has no whole-number t=")
    if not signatures:
        raise SignatureError("bad_signature", "Stripe-Signature has no v1= signature")
    return int(timestamps[0]), signatures


def verify_hubspot_v3(
    method: str,
    uri: str,
    raw_body: bytes,
    timestamp_ms_header: str | None,
    signature_header: str | None,
    app_secret: str,
    now: float,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> int:
    """Check ``X-HubSpot-Signature-v3``; return the request timestamp in milliseconds.

    The signature is base64(HMAC-SHA256(app secret, method + uri + body + timestamp)), where
    ``uri`` is the full URL HubSpot posted to and ``timestamp`` is the
    ``X-HubSpot-Request-Timestamp`` header exactly as sent (milliseconds).
    """
    if not app_secret:
        raise ValueError("no CRM app secret configured")
    if not signature_header or not timestamp_ms_header:
        missing = (
            "X-HubSpot-Signature-v3" if not signature_header else "X-HubSpot-Request-Timestamp"
        )
        raise SignatureError("missing_signature", f"no {missing} header")
    message = method.upper().encode() + uri.encode() + raw_body + timestamp_ms_header.encode()
    digest = hmac.new(app_secret.encode(), message, hashlib.sha256).digest()
    expected = base64.b64encode(digest)
    presented = signature_header.strip().encode("ascii", errors="replace")
    if not hmac.compare_digest(expected, presented):
        raise SignatureError(
            "bad_signature", "X-HubSpot-Signature-v3 does not match the request and app secret"
        )
    if not timestamp_ms_header.isdigit():
        raise SignatureError(
            "bad_signature", "X-HubSpot-Request-Timestamp is not a whole number of milliseconds"
        )
    timestamp_ms = int(timestamp_ms_header)
    _check_age(timestamp_ms / 1000, now, tolerance, "X-HubSpot-Request-Timestamp")
    return timestamp_ms


def _check_age(timestamp: float, now: float, tolerance: int, what: str) -> None:
    age = now - timestamp
    if age > tolerance:
        raise SignatureError(
            "stale_timestamp", f"{what} is {age:.0f} s old; the tolerance is {tolerance} s"
        )
    if -age > tolerance:
        raise SignatureError(
            "stale_timestamp",
            f"{what} is {-age:.0f} s in the future; the tolerance is {tolerance} s",
        )
