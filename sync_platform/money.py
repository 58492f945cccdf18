"""Money: integer minor units with an ISO 4217 currency code. The one money type we use."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
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

# Currencies with three decimals (ISO 4217), as Stripe lists them.
THREE_DECIMAL = frozenset(["BHD", "JOD", "KWD", "OMR", "TND"])


def minor_unit_exponent(currency: str) -> int:
    """How many decimals a major unit of ``currency`` has: 0 (JPY), 3 (KWD) or 2."""
    code = currency.strip().upper()
    if code in ZERO_DECIMAL:
        return 0
    return 3 if code in THREE_DECIMAL else 2


def to_minor_units(amount: str | Decimal, currency: str) -> int:
    """A decimal amount of ``currency`` (``'123.45'``) as exact minor units (12345).

    Raises ``ValueError`` for text that is not a plain decimal number, or for an amount with
    more decimals than the currency has (``'1.5'`` JPY, ``'0.001'`` USD): never rounded.
    """
    text = amount if isinstance(amount, Decimal) else amount.strip()
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{amount!r} is not a decimal number") from None
    if not value.is_finite() or (isinstance(text, str) and "e" in text.lower()):
        raise ValueError(f"{amount!r} is not a plain decimal number")
    exponent = minor_unit_exponent(currency)
    minor = value.scaleb(exponent)
    if minor != minor.to_integral_value():
        raise ValueError(
            f"{amount} has more decimals than {currency.upper()}, which has {exponent}"
        )
    return int(minor)


def format_amount(minor: int, currency: str) -> str:
    """Minor units as the decimal a person reads: (121000, 'EUR') → '1210.00 EUR'."""
    exponent = minor_unit_exponent(currency)
    return f"{Decimal(minor).scaleb(-exponent):.{exponent}f} {currency.upper()}"


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
