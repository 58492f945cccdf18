"""Conversion between Business Central's JSON values and the sandbox's stored values.

Request bodies are parsed with ``parse_float=Decimal`` so amounts arrive exact; money is stored
as integer minor units and leaves as a float built from a Decimal. ``repr`` of a float is the
shortest text that round-trips, so any amount below 10**13 renders exactly (``119.0``,
``0.07``), without binary drift.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sandboxes.erp.entities import EntityDef, Field
from sandboxes.erp.errors import ODataError, bad_request

ZERO_GUID = "00000000-0000-0000-0000-000000000000"
EMPTY_DATE = "0001-01-01"  # Business Central's rendering of a blank date
ERP_NAMESPACE = uuid.UUID("6f1d7a52-3d0e-4a8b-9a43-5b2f0f5c1e01")
_GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CENT = Decimal("0.01")


def stable_guid(*parts: object) -> str:
    """A deterministic GUID for seeded records, so a reseed gives the same ids."""
    return str(uuid.uuid5(ERP_NAMESPACE, ":".join(str(p) for p in parts)))


# -- time -----------------------------------------------------------------------------------
def format_stamp(moment: datetime) -> str:
    """Stored form: fixed width with microseconds, so text order equals time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class Clock:
    """Millisecond timestamps that strictly increase, so every write changes the stamp."""

    def __init__(self) -> None:
        self._last = datetime(2000, 1, 1, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> str:
        with self._lock:
            current = datetime.now(UTC)
            moment = current.replace(microsecond=current.microsecond // 1000 * 1000)
            if moment <= self._last:
                moment = self._last + timedelta(milliseconds=1)
            self._last = moment
            return format_stamp(moment)


# -- money ----------------------------------------------------------------------------------
def to_minor(amount: Decimal) -> int:
    cents = amount / _CENT
    if cents != cents.to_integral_value():
        raise bad_request(f"The amount {amount} has more than two decimal places.")
    return int(cents)


def minor_to_decimal(minor: int) -> Decimal:
    return (Decimal(minor) * _CENT).quantize(_CENT)


def round_minor(amount: Decimal) -> int:
    """Half-up rounding to minor units, as Business Central rounds amounts."""
    return int(amount.quantize(Decimal(1), rounding="ROUND_HALF_UP"))


def as_decimal(value: float | int) -> Decimal:
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


# -- values ---------------------------------------------------------------------------------
def default_value(field: Field) -> Any:
    return {
        "guid": ZERO_GUID,
        "money": 0,
        "decimal": 0,
        "int": 0,
        "bool": False,
        "date": EMPTY_DATE,
        "datetime": "0001-01-01T00:00:00.000000Z",
        "enum": field.values[0] if field.values else "",
    }.get(field.kind, "")


def decode_value(field: Field, raw: Any) -> Any:
    """A JSON value from a request as stored; a bad one is a 400 naming the field."""
    if raw is None:
        return default_value(field)
    kind = field.kind
    if kind in ("string", "enum"):
        return _decode_string(field, raw)
    if kind == "guid":
        if not isinstance(raw, str) or not _GUID_RE.match(raw):
            raise _type_error(field, raw, "Edm.Guid")
        return raw.lower()
    if kind == "bool":
        if not isinstance(raw, bool):
            raise _type_error(field, raw, "Edm.Boolean")
        return raw
    if kind in ("money", "decimal", "int"):
        return _decode_number(field, raw)
    if kind == "date":
        return _decode_date(field, raw)
    return format_stamp(_decode_datetime(field, raw))


def _decode_string(field: Field, raw: Any) -> str:
    if not isinstance(raw, str):
        raise _type_error(field, raw, "Edm.String")
    if field.max_len is not None and len(raw) > field.max_len:
        raise ODataError(
            400,
            "Application_StringExceededLength",
            f"The length of the string is {len(raw)}, but it must be less than or equal to "
            f"{field.max_len} characters. Value: {raw}",
        )
    if field.values and raw not in field.values:
        allowed = ", ".join(repr(v) for v in field.values)
        raise bad_request(f"The value '{raw}' is not valid for {field.name}. Use one of {allowed}.")
    return raw


def _decode_number(field: Field, raw: Any) -> int | float:
    if isinstance(raw, bool) or not isinstance(raw, int | Decimal):
        raise _type_error(field, raw, "Edm.Decimal" if field.kind != "int" else "Edm.Int32")
    value = Decimal(raw)
    if field.kind == "money":
        return to_minor(value)
    if field.kind == "int":
        if value != value.to_integral_value():
            raise _type_error(field, raw, "Edm.Int32")
        return int(value)
    return float(value)


def _decode_date(field: Field, raw: Any) -> str:
    try:
        if not isinstance(raw, str) or not _DATE_RE.match(raw):
            raise ValueError(raw)
        return date.fromisoformat(raw).isoformat() if raw != EMPTY_DATE else raw
    except ValueError:
        raise _type_error(field, raw, "Edm.Date") from None


def _decode_datetime(field: Field, raw: Any) -> datetime:
    try:
        moment = parse_stamp(raw) if isinstance(raw, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise _type_error(field, raw, "Edm.DateTimeOffset")
    return moment


def _type_error(field: Field, raw: Any, edm: str) -> ODataError:
    return bad_request(
        f"Cannot convert the literal '{raw}' to the expected type '{edm}' "
        f"for the property '{field.name}'."
    )


def encode_value(field: Field, stored: Any) -> Any:
    """A stored value as Business Central renders it in JSON."""
    if field.kind == "money":
        return float(minor_to_decimal(int(stored)))
    if field.kind == "decimal":
        return float(as_decimal(stored))
    if field.kind == "datetime":
        return stored[:23] + "Z"  # milliseconds, as Business Central shows them
    return stored


# -- documents ------------------------------------------------------------------------------
def etag(doc: dict[str, Any]) -> str:
    """An opaque weak tag shaped like Business Central's (base64 of ``'n;...;'``)."""
    digest = hashlib.sha256(f"{doc['id']}:{doc.get('_v', 0)}".encode()).hexdigest()[:24]
    token = base64.b64encode(f"'{doc.get('_v', 0)};{digest};'".encode()).decode()
    return f'W/"{token}"'


def render(entity: EntityDef, doc: dict[str, Any], select: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"@odata.etag": etag(doc)}
    for field in entity.fields:
        if select is None or field.name in select:
            out[field.name] = encode_value(field, doc.get(field.name, default_value(field)))
    return out


def new_document(entity: EntityDef) -> dict[str, Any]:
    doc = {f.name: default_value(f) for f in entity.fields}
    doc["id"] = str(uuid.uuid4())
    doc["_v"] = 0
    return doc


def decode_body(entity: EntityDef, body: Any, *, creating: bool) -> dict[str, Any]:
    """Validated stored values for the fields a POST/PATCH body sets (navigations excluded)."""
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    values: dict[str, Any] = {}
    for name, raw in body.items():
        if "@" in name or entity.nav(name) is not None:
            continue  # annotations (python-odata sends @odata.type) and deep inserts
        field = entity.by_name.get(name)
        if field is None:
            raise bad_request(
                f"The property '{name}' does not exist on type 'Microsoft.NAV.{entity.type_name}'."
                " Make sure to only use property names that are defined by the type."
            )
        if name == "id" and not creating:
            continue  # clients echo the id back in a PATCH; it never changes
        if not field.writable:
            raise bad_request(f"The property '{name}' is read-only.", "BadRequest_ReadOnly")
        values[name] = decode_value(field, raw)
    return values
