"""Rendering records in HubSpot's shapes (SimplePublicObject and friends)."""

from __future__ import annotations

from typing import Any

from sandboxes.crm.model import ObjectType, association_type, iso_ms, now_ms, object_type
from sandboxes.crm.repo import CrmRepository, Doc


def requested_properties(otype: ObjectType, requested: list[str] | None) -> list[str]:
    """The properties a response carries.

    Without a request HubSpot sends the type's defaults; with one, the requested properties it
    knows plus the id and the two timestamps. Unknown requested names are simply absent.
    """
    if not requested:
        return list(otype.defaults)
    always = ("createdate", "hs_object_id", otype.modified_property)
    names = [n for n in requested if n in otype.properties]
    return list(dict.fromkeys([*always, *names]))


def render(otype: ObjectType, doc: Doc, names: list[str]) -> dict[str, Any]:
    props = doc["properties"]
    out: dict[str, Any] = {
        "id": doc["id"],
        "properties": {n: props.get(n) for n in names},
        "createdAt": doc["createdAt"],
        "updatedAt": doc["updatedAt"],
        "archived": doc["archived"],
    }
    if doc.get("archivedAt"):
        out["archivedAt"] = doc["archivedAt"]
    return out


def render_associations(
    repo: CrmRepository, otype: ObjectType, object_id: str, to_names: list[str]
) -> dict[str, Any]:
    """The v3 ``associations`` block: each association type of each pair is one entry."""
    block: dict[str, Any] = {}
    for requested in to_names:
        to_type = object_type(requested)
        if to_type is None:
            continue
        results = []
        for to_id, type_ids in repo.associated(otype.name, object_id, to_type.name):
            for type_id in type_ids:
                spec = association_type(otype.name, to_type.name, type_id)
                if spec is not None:
                    results.append({"id": to_id, "type": spec.v3_name})
        if results:
            block[to_type.name] = {"results": results}
    return block


def batch_body(
    results: list[dict[str, Any]], started_ms: int, errors: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": iso_ms(started_ms),
        "completedAt": iso_ms(now_ms()),
    }
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
    return body


def batch_error(category: str, message: str, ids: list[str]) -> dict[str, Any]:
    """A ``StandardError`` entry of a 207 batch response."""
    return {
        "status": "error",
        "category": category,
        "message": message,
        "context": {"ids": ids},
        "errors": [],
        "links": {},
    }
