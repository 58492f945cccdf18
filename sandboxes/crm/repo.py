"""CRM records on top of the kit's SandboxStore: validation, writes, unique lookups, paging.

A record is stored as HubSpot renders it (``id``, ``properties``, ``createdAt``, ``updatedAt``,
``archived``) with every known property present (``None`` when unset), so that SQL filters can
``json_extract`` any property and rendering is a projection.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from sandboxes.crm.errors import CrmError, not_found, validation
from sandboxes.crm.model import (
    INVERSE_TYPE,
    LIFECYCLE_STAGES,
    NEW_ID_BASE,
    OBJECT_TYPES,
    READ_ONLY,
    ObjectType,
    iso_ms,
)
from sandboxes.kit.store import SandboxStore

Doc = dict[str, Any]
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TOKEN_SPLIT = re.compile(r"[^\w]+", re.UNICODE)


@dataclass(frozen=True)
class Change:
    """One thing a webhook subscriber hears about."""

    otype: ObjectType
    object_id: str
    event: str  # creation | propertyChange | deletion
    occurred_ms: int
    property_name: str | None = None
    property_value: str | None = None


def fold(value: Any) -> str | None:
    """Case-insensitive comparison key; SQLite's lower() only knows ASCII."""
    if value is None:
        return None
    return unicodedata.normalize("NFKC", str(value)).casefold()


def contains_token(value: Any, token: Any) -> int:
    """HubSpot's CONTAINS_TOKEN: a whole word of the value matches, ``*`` is a wildcard."""
    if value is None or token is None:
        return 0
    pattern = re.escape(fold(token) or "").replace(r"\*", ".*")
    words = [w for w in _TOKEN_SPLIT.split(fold(value) or "") if w]
    whole = fold(value) or ""
    return int(any(re.fullmatch(pattern, w) for w in [*words, whole]))


class CrmRepository:
    def __init__(self, store: SandboxStore) -> None:
        self.store = store
        conn = store.connection
        conn.create_function("crm_fold", 1, fold, deterministic=True)
        conn.create_function("crm_token", 2, contains_token, deterministic=True)
        with store.lock:
            # Unique-property lookups (idProperty, upserts, duplicate checks) stay O(log n).
            for kind, prop in (("contact", "email"), ("company", "account_key")):
                conn.execute(
                    f"CREATE INDEX IF NOT EXISTS crm_{kind}_{prop} ON objects "
                    f"(kind, json_extract(data, '$.properties.{prop}'))"
                )

    # -- reads ------------------------------------------------------------------------------
    def get(self, otype: ObjectType, object_id: str, *, archived: bool = False) -> Doc | None:
        doc = self.store.get(otype.kind, object_id)
        if doc is None or bool(doc["archived"]) != archived:
            return None
        return doc

    def find(
        self, otype: ObjectType, id_property: str | None, value: str, *, archived: bool = False
    ) -> Doc | None:
        """The record whose ``id_property`` (a unique property, default the id) is ``value``."""
        prop = id_property or "hs_object_id"
        if prop not in otype.unique:
            raise validation(
                f"{prop} is not a unique property of {otype.name}; "
                f"use one of {', '.join(otype.unique)}"
            )
        if prop == "hs_object_id":
            return self.get(otype, value, archived=archived)
        wanted = value.lower() if prop == "email" else value
        rows = self.store.scan(
            otype.kind,
            where=f"json_extract(data, '$.properties.{prop}') = ? "
            "AND json_extract(data, '$.archived') = ?",
            params=(wanted, int(archived)),
            limit=1,
        )
        return rows[0][1] if rows else None

    def page(
        self, otype: ObjectType, after_seq: int | None, limit: int, *, archived: bool
    ) -> tuple[list[Doc], int | None]:
        """One list page in id (insertion) order and the cursor of the next page, if any."""
        rows = self.store.scan(
            otype.kind,
            where="json_extract(data, '$.archived') = ?",
            params=(int(archived),),
            after_seq=after_seq,
            limit=limit + 1,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return [doc for _, doc in rows], (rows[-1][0] if more else None)

    # -- validation -------------------------------------------------------------------------
    def clean(self, otype: ObjectType, properties: Any) -> dict[str, str | None]:
        """Validate written properties as HubSpot does; values become strings, "" clears."""
        if not isinstance(properties, dict):
            raise validation("properties must be an object of property names to values")
        out: dict[str, str | None] = {}
        problems: list[dict[str, Any]] = []
        for name, raw in properties.items():
            value = None if raw is None or raw == "" else str(raw)
            if isinstance(raw, bool):
                value = "true" if raw else "false"
            problem = self._problem(otype, name, value)
            if problem:
                problems.append({"isValid": False, "name": name, **problem})
                continue
            if name == "email" and value is not None:
                value = value.lower()  # HubSpot stores emails lower-cased
            out[name] = value
        if problems:
            raise validation(
                "Property values were not valid: " + json.dumps(problems),
                errors=[{"message": p["message"], "code": p["error"]} for p in problems],
            )
        return out

    @staticmethod
    def _problem(otype: ObjectType, name: str, value: str | None) -> dict[str, str] | None:
        kind = otype.properties.get(name)
        if kind is None:
            msg = f'Property "{name}" does not exist'
            return {"message": msg, "error": "PROPERTY_DOESNT_EXIST"}
        if name in READ_ONLY:
            return {"message": f"{name} is a read only property", "error": "READ_ONLY_VALUE"}
        if value is None:
            return None
        if kind == "number" and not _is_number(value):
            msg = f"{value} was not a valid number."
            return {"message": msg, "error": "INVALID_INTEGER"}
        if name == "lifecyclestage" and value not in LIFECYCLE_STAGES:
            msg = f"{value} was not one of the allowed options: {', '.join(LIFECYCLE_STAGES)}"
            return {"message": msg, "error": "INVALID_OPTION"}
        if name == "email" and not _EMAIL.match(value):
            return {"message": f"Email address {value} is invalid", "error": "INVALID_EMAIL"}
        return None

    def check_unique(
        self, otype: ObjectType, props: dict[str, str | None], own_id: str | None = None
    ) -> None:
        """A unique property value may belong to one live record only (HubSpot answers 409)."""
        for prop in otype.unique:
            value = props.get(prop)
            if prop == "hs_object_id" or value is None:
                continue
            other = self.find(otype, prop, value)
            if other is not None and other["id"] != own_id:
                raise CrmError(
                    409,
                    "CONFLICT",
                    f"{otype.label.title()} already exists. Existing ID: {other['id']}",
                )

    # -- writes -----------------------------------------------------------------------------
    def new_id(self, otype: ObjectType) -> str:
        return str(NEW_ID_BASE[otype.name] + self.store.next_counter(f"id:{otype.name}"))

    def create(self, otype: ObjectType, props: dict[str, str | None], ms: int) -> Doc:
        object_id = self.new_id(otype)
        stamp = iso_ms(ms)
        properties: dict[str, str | None] = dict.fromkeys(otype.properties)
        properties.update(props)
        properties.update(
            {
                "hs_object_id": object_id,
                "createdate": props.get("createdate") or stamp,
                otype.modified_property: stamp,
            }
        )
        doc: Doc = {
            "id": object_id,
            "properties": properties,
            "createdAt": properties["createdate"],
            "updatedAt": stamp,
            "archived": False,
        }
        self.store.insert(otype.kind, object_id, doc)
        return doc

    def update(
        self, otype: ObjectType, doc: Doc, props: dict[str, str | None], ms: int
    ) -> dict[str, str | None]:
        """Apply ``props``; every write stamps the record, even one that changes nothing."""
        changed = {k: v for k, v in props.items() if doc["properties"].get(k) != v}
        stamp = iso_ms(ms)
        doc["properties"].update(props)
        doc["properties"][otype.modified_property] = stamp
        doc["updatedAt"] = stamp
        self.store.put(otype.kind, doc["id"], doc)
        return changed

    def archive(self, otype: ObjectType, doc: Doc, ms: int) -> None:
        stamp = iso_ms(ms)
        doc["archived"] = True
        doc["archivedAt"] = stamp
        doc["updatedAt"] = stamp
        self.store.put(otype.kind, doc["id"], doc)
        for to_name in OBJECT_TYPES:
            for to_id, _ in self.associated(otype.name, doc["id"], to_name):
                self.disassociate(otype.name, doc["id"], to_name, to_id)

    def require(self, otype: ObjectType, object_id: str, id_property: str | None = None) -> Doc:
        doc = self.find(otype, id_property, object_id)
        if doc is None:
            raise not_found(f"Object not found.  objectId are usually numeric. ({object_id})")
        return doc

    # -- associations -----------------------------------------------------------------------
    # Stored once per direction under the id ``from:fromId:to:toId`` so that one object's
    # associations are an index range.
    @staticmethod
    def _assoc_id(from_name: str, from_id: str, to_name: str, to_id: str) -> str:
        return f"{from_name}:{from_id}:{to_name}:{to_id}"

    def associate(
        self, from_name: str, from_id: str, to_name: str, to_id: str, type_ids: list[int]
    ) -> None:
        """Add ``type_ids`` (from's view) to the pair, and their inverses on the other side."""
        with self.store.transaction():
            self._add_types(from_name, from_id, to_name, to_id, type_ids)
            inverse = [INVERSE_TYPE[t] for t in type_ids]
            self._add_types(to_name, to_id, from_name, from_id, inverse)

    def _add_types(
        self, from_name: str, from_id: str, to_name: str, to_id: str, type_ids: list[int]
    ) -> None:
        key = self._assoc_id(from_name, from_id, to_name, to_id)
        doc = self.store.get("assoc", key)
        if doc is None:
            self.store.insert("assoc", key, {"to": to_id, "types": sorted(set(type_ids))})
        else:
            doc["types"] = sorted(set(doc["types"]) | set(type_ids))
            self.store.put("assoc", key, doc)

    def disassociate(self, from_name: str, from_id: str, to_name: str, to_id: str) -> None:
        with self.store.transaction():
            self.store.delete("assoc", self._assoc_id(from_name, from_id, to_name, to_id))
            self.store.delete("assoc", self._assoc_id(to_name, to_id, from_name, from_id))

    def associations_page(
        self, from_name: str, from_id: str, to_name: str, after_seq: int | None, limit: int
    ) -> tuple[list[tuple[str, list[int]]], int | None]:
        prefix = f"{from_name}:{from_id}:{to_name}:"
        rows = self.store.scan(
            "assoc",
            where="id >= ? AND id < ?",
            params=(prefix, prefix[:-1] + ";"),  # ';' follows ':' in ASCII: the prefix range
            after_seq=after_seq,
            limit=limit + 1,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        pairs = [(str(d["to"]), list(d["types"])) for _, d in rows]
        return pairs, (rows[-1][0] if more else None)

    def associated(self, from_name: str, from_id: str, to_name: str) -> list[tuple[str, list[int]]]:
        pairs, _ = self.associations_page(from_name, from_id, to_name, None, 10_000)
        return pairs


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True
