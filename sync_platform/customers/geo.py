"""ISO country, subdivision and currency codes, looked up in pycountry.

Lookups are exact (codes and official names, any case). Nothing here guesses: a value
pycountry does not know is reported as unknown and the caller keeps it as it was.
"""

from __future__ import annotations

import pycountry

# ISO 3166 reserves "UK" for the United Kingdom and vendors use it; it is the one alias we
# accept, because it can only mean GB.
_COUNTRY_ALIASES = {"UK": "GB"}


def country_code(value: str) -> str | None:
    """The alpha-2 code for a country code (alpha-2 or alpha-3) or name, or None."""
    cleaned = value.strip()
    alias = _COUNTRY_ALIASES.get(cleaned.upper())
    if alias:
        return alias
    try:
        country = pycountry.countries.lookup(cleaned)
    except LookupError:
        return None
    return str(country.alpha_2)


def subdivision_code(country: str, value: str) -> str | None:
    """The ISO 3166-2 code for a subdivision of ``country`` given as code, bare code or name."""
    cleaned = value.strip()
    candidate = cleaned.upper()
    if not candidate.startswith(f"{country}-"):
        candidate = f"{country}-{candidate}"
    if is_known_subdivision(candidate):
        return candidate
    folded = cleaned.casefold()
    for subdivision in pycountry.subdivisions.get(country_code=country) or ():
        if str(subdivision.name).casefold() == folded:
            return str(subdivision.code)
    return None


def is_known_country(code: str) -> bool:
    return pycountry.countries.get(alpha_2=code) is not None


def is_known_subdivision(code: str) -> bool:
    return pycountry.subdivisions.get(code=code) is not None


def is_known_currency(code: str) -> bool:
    return pycountry.currencies.get(alpha_3=code) is not None
