"""Tax registration numbers checked with python-stdnum, one module per country's scheme.

Scheme names follow the billing system's tax id types (``eu_vat``, ``gb_vat``, ``us_ein``,
``au_abn``) so a registration can be traced back to the record it came from.
"""

from __future__ import annotations

from typing import NamedTuple

from stdnum import get_cc_module
from stdnum.au import abn
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError
from stdnum.gb import vat as gb_vat
from stdnum.us import ein
from stdnum.util import NumberValidationModule, clean

# Northern Ireland's "XI" prefix is a VAT prefix, not an ISO country, so it is left out.
EU_MEMBER_STATES = frozenset(code.upper() for code in eu_vat.MEMBER_STATES) - {"XI"}

# Countries whose customers must carry a valid registration before the ERP may invoice them.
# A US EIN is optional: sales tax depends on the ship-to state, not on a registration.
REGISTRATION_REQUIRED = EU_MEMBER_STATES | {"GB", "AU"}

_NATIONAL_SCHEMES: dict[str, tuple[str, NumberValidationModule]] = {
    "GB": ("gb_vat", gb_vat),
    "US": ("us_ein", ein),
    "AU": ("au_abn", abn),
}


class CheckedNumber(NamedTuple):
    scheme: str
    number: str
    valid: bool


def check_tax_number(country: str, raw: str) -> CheckedNumber:
    """The scheme, compact number and stdnum's verdict for ``raw`` filed under ``country``."""
    if country in EU_MEMBER_STATES:
        return _check_eu_vat(country, raw)
    scheme, module = _NATIONAL_SCHEMES.get(country) or _other_scheme(country)
    if module is None:
        return CheckedNumber(scheme, clean(raw, " -./").upper(), False)
    return CheckedNumber(scheme, module.compact(raw), bool(module.is_valid(raw)))


def _check_eu_vat(country: str, raw: str) -> CheckedNumber:
    # Greece files VAT under "EL". Customers often omit their own country's prefix; the
    # number is only checkable (and comparable across systems) with it.
    prefix = "EL" if country == "GR" else country
    number = clean(raw, " -./:").upper()
    if not number[:2].isalpha():
        number = prefix + number
    try:
        number = eu_vat.compact(number)
    except ValidationError:
        return CheckedNumber("eu_vat", number, False)
    valid = number.startswith(prefix) and bool(eu_vat.is_valid(number))
    return CheckedNumber("eu_vat", number, valid)


def _other_scheme(country: str) -> tuple[str, NumberValidationModule | None]:
    module = get_cc_module(country.lower(), "vat") if country.isalpha() else None
    if module is None:
        return "unknown", None
    return f"{country.lower()}_vat", module
