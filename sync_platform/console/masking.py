"""Masking what an engineer must not read in a payload: secrets, credentials and card data.

A value is masked whole when its key names a secret (``card``, ``number``, ``cvc``,
``password``, anything with ``secret`` or ``token`` in it, ``api_key``, ``iban``...);
inside any other text, IBAN- and card-number-looking runs are masked where they stand.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "[masked]"

SENSITIVE_KEYS = frozenset(
    {"card", "number", "cvc", "cvv", "cvc2", "pan", "exp_month", "exp_year", "iban", "pin"}
)
SENSITIVE_PARTS = (
    "secret",
    "token",
    "password",
    "passwd",
    "api_key",
    "apikey",
    "authorization",
    "iban",
    "card_number",
    "account_number",
)
# 13-19 digits, spaces or dashes between them allowed: how card numbers are written.
PAN = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])")
IBAN = re.compile(r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}\b")


def sensitive_key(key: str) -> bool:
    lowered = key.lower()
    return lowered in SENSITIVE_KEYS or any(part in lowered for part in SENSITIVE_PARTS)


def mask_text(text: str) -> str:
    return PAN.sub(MASK, IBAN.sub(MASK, text))


def mask_secrets(value: Any) -> Any:
    """A copy of ``value`` (JSON-like) with every sensitive part replaced by ``MASK``."""
    if isinstance(value, dict):
        return {
            k: MASK if sensitive_key(str(k)) and v is not None else mask_secrets(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [mask_secrets(v) for v in value]
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, int) and not isinstance(value, bool) and PAN.fullmatch(str(value)):
        return MASK
    return value
