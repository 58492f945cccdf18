"""Associations v4: list one record's associations, create, remove, and batch read."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandboxes.crm.api_objects import read_json
from sandboxes.crm.errors import CrmError, not_found, validation
from sandboxes.crm.model import (
    ASSOCIATION_TYPES,
    INVERSE_TYPE,
    ObjectType,
    association_type,
    now_ms,
    object_type,
)
from sandboxes.crm.repo import CrmRepository
from sandboxes.crm.views import batch_body

MAX_PAGE = 500
_V4 = "/crm/v4/objects/{from_type}/{from_id}/associations"


def type_specs(from_name: str, to_name: str, type_ids: list[int]) -> list[dict[str, Any]]:
    """``AssociationSpecWithLabel`` entries; unlabeled types carry no label."""
    specs = []
    for type_id in type_ids:
        spec = association_type(from_name, to_name, type_id)
        entry: dict[str, Any] = {"category": "HUBSPOT_DEFINED", "typeId": type_id}
        if spec is not None and spec.label:
            entry["label"] = spec.label
        specs.append(entry)
    return specs


class AssociationApi:
    def __init__(self, repo: CrmRepository) -> None:
        self.repo = repo

    def routes(self) -> list[Route]:
        return [
            Route(_V4 + "/{to_type}", self.list_page, methods=["GET"]),
            Route(_V4 + "/default/{to_type}/{to_id}", self.create_default, methods=["PUT"]),
            Route(_V4 + "/{to_type}/{to_id}", self.create_labeled, methods=["PUT"]),
            Route(_V4 + "/{to_type}/{to_id}", self.remove, methods=["DELETE"]),
            Route(
                "/crm/v4/associations/{from_type}/{to_type}/batch/read",
                self.batch_read,
                methods=["POST"],
            ),
        ]

    def _types(self, request: Request) -> tuple[ObjectType, ObjectType]:
        pair = (request.path_params["from_type"], request.path_params["to_type"])
        types = [object_type(name) for name in pair]
        if types[0] is None or types[1] is None:
            raise validation(f"Unknown object type in {pair}")
        return types[0], types[1]

    def _require(self, otype: ObjectType, object_id: str) -> None:
        if self.repo.get(otype, object_id) is None:
            raise not_found(f"{otype.label} {object_id} does not exist")

    async def list_page(self, request: Request) -> Response:
        from_type, to_type = self._types(request)
        from_id = request.path_params["from_id"]
        self._require(from_type, from_id)
        limit = min(max(int(request.query_params.get("limit") or MAX_PAGE), 1), MAX_PAGE)
        after = int(request.query_params.get("after") or 0) or None
        pairs, next_seq = self.repo.associations_page(
            from_type.name, from_id, to_type.name, after, limit
        )
        results = [
            {
                "toObjectId": to_id,
                "associationTypes": type_specs(from_type.name, to_type.name, ids),
            }
            for to_id, ids in pairs
        ]
        body: dict[str, Any] = {"results": results}
        if next_seq is not None:
            query = urlencode({"limit": limit, "after": next_seq})
            link = f"{str(request.base_url).rstrip('/')}{request.url.path}?{query}"
            body["paging"] = {"next": {"after": str(next_seq), "link": link}}
        return JSONResponse(body)

    async def create_default(self, request: Request) -> Response:
        from_type, to_type = self._types(request)
        from_id, to_id = request.path_params["from_id"], request.path_params["to_id"]
        self._require(from_type, from_id)
        self._require(to_type, to_id)
        default = ASSOCIATION_TYPES.get((from_type.name, to_type.name))
        if not default:
            raise validation(f"No default association from {from_type.name} to {to_type.name}")
        type_id = default[0].type_id
        self.repo.associate(from_type.name, from_id, to_type.name, to_id, [type_id])
        results = [
            _default_result(from_id, to_id, type_id),
            _default_result(to_id, from_id, INVERSE_TYPE[type_id]),
        ]
        return JSONResponse(batch_body(results, now_ms()))

    async def create_labeled(self, request: Request) -> Response:
        from_type, to_type = self._types(request)
        from_id, to_id = request.path_params["from_id"], request.path_params["to_id"]
        self._require(from_type, from_id)
        self._require(to_type, to_id)
        specs = await _spec_list(request)
        type_ids = [int(s.get("associationTypeId", 0)) for s in specs]
        for type_id in type_ids:
            if association_type(from_type.name, to_type.name, type_id) is None:
                raise validation(
                    f"association type {type_id} is not defined "
                    f"from {from_type.name} to {to_type.name}"
                )
        self.repo.associate(from_type.name, from_id, to_type.name, to_id, type_ids)
        labels = [
            spec.label
            for t in type_ids
            if (spec := association_type(from_type.name, to_type.name, t)) and spec.label
        ]
        body = {
            "fromObjectTypeId": from_type.type_id,
            "fromObjectId": from_id,
            "toObjectTypeId": to_type.type_id,
            "toObjectId": to_id,
            "labels": labels,
        }
        return JSONResponse(body, status_code=201)

    async def remove(self, request: Request) -> Response:
        from_type, to_type = self._types(request)
        self.repo.disassociate(
            from_type.name,
            request.path_params["from_id"],
            to_type.name,
            request.path_params["to_id"],
        )
        return Response(status_code=204)

    async def batch_read(self, request: Request) -> Response:
        from_type, to_type = self._types(request)
        started = now_ms()
        inputs = (await read_json(request)).get("inputs")
        if not isinstance(inputs, list) or len(inputs) > 1000:
            raise validation("inputs must be a list of at most 1000 {id} objects")
        results: list[dict[str, Any]] = []
        empty: list[str] = []
        for item in inputs:
            from_id = str(item.get("id", ""))
            after = int(item.get("after") or 0) or None
            pairs, next_seq = self.repo.associations_page(
                from_type.name, from_id, to_type.name, after, MAX_PAGE
            )
            if not pairs:
                empty.append(from_id)
                continue
            entry: dict[str, Any] = {
                "from": {"id": from_id},
                "to": [
                    {
                        "toObjectId": to_id,
                        "associationTypes": type_specs(from_type.name, to_type.name, ids),
                    }
                    for to_id, ids in pairs
                ],
            }
            if next_seq is not None:
                entry["paging"] = {"next": {"after": str(next_seq)}}
            results.append(entry)
        if not empty:
            return JSONResponse(batch_body(results, started))
        errors = [_no_associations(from_type, to_type, i) for i in empty]
        return JSONResponse(batch_body(results, started, errors), status_code=207)


def _default_result(from_id: str, to_id: str, type_id: int) -> dict[str, Any]:
    return {
        "from": {"id": from_id},
        "to": {"id": to_id},
        "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id},
    }


async def _spec_list(request: Request) -> list[dict[str, Any]]:
    """The labeled PUT takes a bare JSON array of ``AssociationSpec``."""
    try:
        specs = json.loads(await request.body() or b"[]")
    except ValueError as exc:
        raise validation(f"Invalid input JSON: {exc}") from None
    if not isinstance(specs, list) or not specs:
        raise validation("body must be a non-empty array of association specs")
    for spec in specs:
        if not isinstance(spec, dict) or spec.get("associationCategory") != "HUBSPOT_DEFINED":
            raise CrmError(400, "VALIDATION_ERROR", "only HUBSPOT_DEFINED associations exist here")
    return specs


def _no_associations(from_type: ObjectType, to_type: ObjectType, from_id: str) -> dict[str, Any]:
    return {
        "status": "error",
        "category": "OBJECT_NOT_FOUND",
        "message": f"No {to_type.name} is associated with {from_type.singular} {from_id}.",
        "context": {"fromObjectId": [from_id]},
        "errors": [],
        "links": {},
    }
