"""Money: integer minor units with an ISO 4217 currency code. The one money type we use."""

from __future__ import annotations

from typing import Annotated

import pycountry
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


def _known_currency(code: str) -> str:
    if len(code) != 3 or pycountry.currencies.get(alpha_3=code) is None:
        raise ValueError(f"{code!r} is not an ISO 4217 currency code")
    return code


# Currencies without minor units, as Stripe lists them; every other one we meet has two.
ZERO_DECIMAL = frozenset(
    [
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "JPY",
        "KMF",
        "KRW",
        "MGA",
        "PYG",
        "RWF",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    ]
)

CurrencyCode = Annotated[str, BeforeValidator(_upper), AfterValidator(_known_currency)]


class Money(BaseModel):
    """``amount`` in minor units (cents) of ``currency``; never a float."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    amount: int
    currency: CurrencyCode

    def __str__(self) -> str:
        if self.currency in ZERO_DECIMAL:
            return f"{self.amount} {self.currency}"
        sign = "-" if self.amount < 0 else ""
        whole, cents = divmod(abs(self.amount), 100)
        return f"{sign}{whole}.{cents:02d} {self.currency}"
