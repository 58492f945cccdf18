"""Masking what an engineer must not read in a payload: secrets, credentials and card data.

A value is masked whole when its key names a secret (``card``, ``cvc``, ``password``,
``private_key``, ``cookie``, anything with ``secret``, ``token`` or ``credential`` in it,
``api_key``, ``iban``...; keys compared in lower case with ``-`` read as ``_``). ``number`` is
masked only under a key naming a card or payment method (``card``, ``payment_method``,
``source``, ``bank_account``): an invoice's or ERP document's number stays readable. Inside
any other text, IBAN- and card-number-looking runs are masked where they stand, and text that
is a JSON object is masked as one.
"""

from __future__ import annotations

import json
import re
from typing import Any

MASK = "[masked]"

SENSITIVE_KEYS = frozenset(
    {"card", "cvc", "cvv", "cvc2", "pan", "exp_month", "exp_year", "iban", "pin"}
)
SENSITIVE_PARTS = (
    "secret",
    "token",
    "password",
    "passwd",
    "private_key",
    "credential",
    "cookie",
    "api_key",
    "apikey",
    "authorization",
    "iban",
    "card_number",
    "account_number",
)
# Where ``number`` is a card's or an account's, not a document's.
PAYMENT_PARENTS = ("card", "payment_method", "source", "bank_account")
# 13-19 digits, spaces, dashes or dots between them allowed: how card numbers are written.
PAN = re.compile(r"(?<![0-9])[0-9](?:[ .-]?[0-9]){12,18}(?![0-9])")
IBAN = re.compile(r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}\b")


def normalised_key(key: str) -> str:
    return key.lower().replace("-", "_")


def sensitive_key(key: str, parent: str | None = None) -> bool:
    name = normalised_key(key)
    if name == "number":
        return parent is not None and any(p in normalised_key(parent) for p in PAYMENT_PARENTS)
    return name in SENSITIVE_KEYS or any(part in name for part in SENSITIVE_PARTS)


def mask_text(text: str) -> str:
    embedded = _json_object(text)
    if embedded is not None:
        return json.dumps(mask_secrets(embedded), ensure_ascii=False)
    return PAN.sub(MASK, IBAN.sub(MASK, text))


def mask_secrets(value: Any, parent: str | None = None) -> Any:
    """A copy of ``value`` (JSON-like) with every sensitive part replaced by ``MASK``;
    ``parent`` is the key ``value`` sits under."""
    if isinstance(value, dict):
        return {
            k: MASK if sensitive_key(str(k), parent) and v is not None else mask_secrets(v, str(k))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [mask_secrets(v, parent) for v in value]
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, int) and not isinstance(value, bool) and PAN.fullmatch(str(value)):
        return MASK
    return value


def _json_object(text: str) -> dict[str, Any] | None:
    """``text`` read as a JSON object, or None when it is not one (an ERP's error body often
    arrives as a string holding the request it refused)."""
    if not text.lstrip().startswith("{"):
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None
