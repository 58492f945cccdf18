"""Stripe's nested form syntax (``metadata[k]=v``, ``items[0][price]=p``, ``expand[]=x``).

Stripe v1 bodies are ``application/x-www-form-urlencoded`` and GET/DELETE parameters use the
same syntax in the query string. ``parse_form`` turns the flat pairs into nested dicts and
lists; the readers below pull typed values out with Stripe-shaped errors.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from sandboxes.billing.errors import StripeError

Params = dict[str, Any]

_TOKEN = re.compile(r"\[([^\[\]]*)\]")
# Parameters every endpoint accepts besides its own.
COMMON_PARAMS = frozenset({"expand"})


def split_key(key: str) -> list[str]:
    """``items[0][price]`` -> ``["items", "0", "price"]``; ``expand[]`` -> ``["expand", ""]``."""
    head, bracket, rest = key.partition("[")
    if not bracket:
        return [key]
    return [head, *_TOKEN.findall("[" + rest)]


def parse_form(pairs: Iterable[tuple[str, str]]) -> Params:
    """Nest flat ``(key, value)`` pairs; dicts whose keys are all indexes become lists."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        tokens = split_key(key)
        node = root
        for i, token in enumerate(tokens):
            last = i == len(tokens) - 1
            if token == "":
                token = str(len(node))  # ``[]`` appends
            if last:
                node[token] = value
            else:
                child = node.get(token)
                if not isinstance(child, dict):
                    child = {}
                    node[token] = child
                node = child
    return _listify(root)


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {k: _listify(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def fingerprint(method: str, path: str, pairs: Iterable[tuple[str, str]]) -> str:
    """What an idempotency key is bound to: the endpoint and the exact parameters."""
    canonical = "&".join(f"{k}={v}" for k, v in sorted(pairs))
    return hashlib.sha256(f"{method} {path}?{canonical}".encode()).hexdigest()


def check_known(params: Params, allowed: Iterable[str]) -> None:
    """Stripe rejects parameters an endpoint does not know: a client typo fails loudly."""
    known = COMMON_PARAMS | set(allowed)
    for name in params:
        if name not in known:
            raise StripeError(
                400, f"Received unknown parameter: {name}", code="parameter_unknown", param=name
            )


def required(params: Params, name: str) -> Any:
    value = params.get(name)
    if value is None or value == "":
        raise StripeError.missing(name)
    return value


def text(params: Params, name: str, default: str | None = None) -> str | None:
    value = params.get(name, default)
    if value is None or value == "":
        return None if name in params else default
    if not isinstance(value, str):
        raise StripeError.invalid(name, f"Invalid string: {name}")
    return value


def integer(
    params: Params,
    name: str,
    default: int | None = None,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise StripeError.invalid(name, f"Invalid integer: {raw}") from None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        bounds = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise StripeError.invalid(name, f"Invalid {name}: must be {bounds}")
    return value


def boolean(params: Params, name: str, default: bool | None = None) -> bool | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if raw in ("true", "false"):
        return raw == "true"
    raise StripeError.invalid(name, f"Invalid boolean: {raw}")


def decimal(params: Params, name: str) -> Decimal | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return Decimal(str(raw))
    except InvalidOperation:
        raise StripeError.invalid(name, f"Invalid decimal: {raw}") from None


def string_list(params: Params, name: str) -> list[str]:
    raw = params.get(name)
    if raw is None or raw == "":
        return []
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and all(isinstance(v, str) for v in raw):
        return list(raw)
    raise StripeError.invalid(name, f"Invalid array: {name}")


def nested(params: Params, name: str) -> Params:
    """A hash parameter (``period[start]=...``); absent or ``""`` gives an empty one."""
    raw = params.get(name)
    if raw is None or raw == "":
        return {}
    if not isinstance(raw, dict):
        raise StripeError.invalid(name, f"Invalid hash: {name}")
    return raw


def dict_list(params: Params, name: str) -> list[Params]:
    raw = params.get(name)
    if raw is None or raw == "":
        return []
    if isinstance(raw, list) and all(isinstance(v, dict) for v in raw):
        return list(raw)
    raise StripeError.invalid(name, f"Invalid array: {name}")


def merge_metadata(current: dict[str, str], params: Params) -> dict[str, str]:
    """Stripe's metadata update: keys merge, ``metadata[k]=""`` unsets one, ``metadata=""`` all."""
    raw = params.get("metadata")
    if raw is None:
        return current
    if raw == "":
        return {}
    if not isinstance(raw, dict):
        raise StripeError.invalid("metadata", "Invalid hash: metadata")
    merged = dict(current)
    for key, value in raw.items():
        if value == "":
            merged.pop(key, None)
        elif not isinstance(value, str):
            raise StripeError.invalid(f"metadata[{key}]", "Metadata values must be strings")
        else:
            merged[key] = value
    if len(merged) > 50:
        raise StripeError.invalid("metadata", "Metadata can have at most 50 keys")
    return merged
