"""When two systems' values for an attribute mean the same thing.

Systems differ in case, spacing and list order without disagreeing; those differences must
neither raise a conflict nor count as a change.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from sync_platform.customers.model import Address, Contact, TaxRegistration


def has_value(value: Any) -> bool:
    """False for None, blank strings and empty lists: the system states nothing."""
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list | tuple):
        return bool(value)
    return value is not None


def comparable(value: Any) -> Hashable:
    """A key equal for two values exactly when they mean the same thing."""
    if not has_value(value):
        return None
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, Address):
        return tuple(_text(part) if part else None for part in value.model_dump().values())
    if isinstance(value, Contact):
        return (_text(value.name or ""), _text(value.email or ""), _digits(value.phone or ""))
    if isinstance(value, TaxRegistration):
        # ``valid`` follows from the number, so it is not part of what a system states.
        return (value.country, value.number.upper())
    if isinstance(value, list | tuple):
        return tuple(sorted(set(map(comparable, value)), key=repr))
    return repr(value)


def same_value(left: Any, right: Any) -> bool:
    return comparable(left) == comparable(right)


def _text(value: str) -> str:
    return " ".join(value.split()).casefold()


def _digits(value: str) -> str:
    # "+1 (415) 555-0100" and "+14155550100" are one phone number.
    return "".join(ch for ch in value if ch.isdigit() or ch == "+")
