"""``/crm/v3/objects/{objectType}``: list, read, create, update, archive, batch, search."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandboxes.crm.errors import CrmError, not_found, validation
from sandboxes.crm.model import ObjectType, association_type, now_ms, object_type
from sandboxes.crm.repo import Change, CrmRepository, Doc
from sandboxes.crm.search import run_search
from sandboxes.crm.views import (
    batch_body,
    batch_error,
    render,
    render_associations,
    requested_properties,
)
from sandboxes.crm.webhooks import WebhookHub

MAX_PAGE = 100
MAX_BATCH = 100


async def read_json(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError as exc:
        raise validation(f"Invalid input JSON: {exc}") from None
    if not isinstance(body, dict):
        raise validation("Invalid input JSON: expected an object")
    return body


def query_list(request: Request, name: str) -> list[str]:
    """``a,b`` and repeated ``name=a&name=b`` both work, as on HubSpot."""
    values = request.query_params.getlist(name)
    return [part.strip() for v in values for part in v.split(",") if part.strip()]


def query_bool(request: Request, name: str) -> bool:
    return request.query_params.get(name, "false").lower() == "true"


def resolve_type(request: Request) -> ObjectType:
    otype = object_type(request.path_params["object_type"])
    if otype is None:
        raise CrmError(
            400, "VALIDATION_ERROR", f"Unable to infer object type from: {request.path_params}"
        )
    return otype


class ObjectApi:
    def __init__(self, repo: CrmRepository, hub: WebhookHub) -> None:
        self.repo = repo
        self.hub = hub

    def routes(self) -> list[Route]:
        base = "/crm/v3/objects/{object_type}"
        return [
            Route(base, self.list_objects, methods=["GET"]),
            Route(base, self.create, methods=["POST"]),
            Route(base + "/search", self.search, methods=["POST"]),
            Route(base + "/batch/read", self.batch_read, methods=["POST"]),
            Route(base + "/batch/create", self.batch_create, methods=["POST"]),
            Route(base + "/batch/update", self.batch_update, methods=["POST"]),
            Route(base + "/batch/upsert", self.batch_upsert, methods=["POST"]),
            Route(base + "/batch/archive", self.batch_archive, methods=["POST"]),
            Route(base + "/{object_id}", self.read, methods=["GET"]),
            Route(base + "/{object_id}", self.update, methods=["PATCH"]),
            Route(base + "/{object_id}", self.archive, methods=["DELETE"]),
        ]

    # -- single records ---------------------------------------------------------------------
    async def list_objects(self, request: Request) -> Response:
        otype = resolve_type(request)
        limit = min(max(_int_param(request, "limit", 10), 1), MAX_PAGE)
        after = _int_param(request, "after", 0) or None
        docs, next_seq = self.repo.page(
            otype, after, limit, archived=query_bool(request, "archived")
        )
        names = requested_properties(otype, query_list(request, "properties"))
        assoc = query_list(request, "associations")
        results = [self._render_with(otype, d, names, assoc) for d in docs]
        body: dict[str, Any] = {"results": results}
        if next_seq is not None:
            body["paging"] = {
                "next": {"after": str(next_seq), "link": self._link(request, next_seq)}
            }
        return JSONResponse(body)

    @staticmethod
    def _link(request: Request, after: int) -> str:
        """The next page's absolute URL, with the request's own parameters."""
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "after"]
        query = urlencode([*params, ("after", str(after))])
        return f"{str(request.base_url).rstrip('/')}{request.url.path}?{query}"

    def _render_with(
        self, otype: ObjectType, doc: Doc, names: list[str], assoc: list[str]
    ) -> dict[str, Any]:
        out = render(otype, doc, names)
        if assoc:
            block = render_associations(self.repo, otype, doc["id"], assoc)
            if block:
                out["associations"] = block
        return out

    async def read(self, request: Request) -> Response:
        otype = resolve_type(request)
        doc = self.repo.find(
            otype,
            request.query_params.get("idProperty"),
            request.path_params["object_id"],
            archived=query_bool(request, "archived"),
        )
        if doc is None:
            raise not_found()
        names = requested_properties(otype, query_list(request, "properties"))
        return JSONResponse(
            self._render_with(otype, doc, names, query_list(request, "associations"))
        )

    async def create(self, request: Request) -> Response:
        otype = resolve_type(request)
        body = await read_json(request)
        ms = now_ms()
        props = self.repo.clean(otype, body.get("properties") or {})
        self.repo.check_unique(otype, props)
        changes: list[Change] = []
        with self.repo.store.transaction():
            doc = self._create_one(otype, props, body.get("associations") or [], ms, changes)
        self.hub.publish(changes)
        return JSONResponse(render(otype, doc, _written(otype, props)), status_code=201)

    def _create_one(
        self,
        otype: ObjectType,
        props: dict[str, str | None],
        associations: list[dict[str, Any]],
        ms: int,
        changes: list[Change],
    ) -> Doc:
        doc = self.repo.create(otype, props, ms)
        for spec in associations:
            self._associate_on_create(otype, doc["id"], spec)
        changes.append(Change(otype, doc["id"], "creation", ms))
        changes.extend(
            Change(otype, doc["id"], "propertyChange", ms, k, v)
            for k, v in props.items()
            if v is not None
        )
        return doc

    def _associate_on_create(self, otype: ObjectType, from_id: str, spec: dict[str, Any]) -> None:
        to_id = str((spec.get("to") or {}).get("id", ""))
        for t in spec.get("types") or []:
            type_id = int(t.get("associationTypeId", 0))
            target = next(
                (o for o in ("companies", "contacts") if association_type(otype.name, o, type_id)),
                None,
            )
            if target is None:
                raise validation(f"association type {type_id} is not defined from {otype.name}")
            to_type = object_type(target)
            assert to_type is not None
            if self.repo.get(to_type, to_id) is None:
                raise validation(f"cannot associate: {to_type.name} {to_id} does not exist")
            self.repo.associate(otype.name, from_id, target, to_id, [type_id])

    async def update(self, request: Request) -> Response:
        otype = resolve_type(request)
        body = await read_json(request)
        props = self.repo.clean(otype, body.get("properties") or {})
        doc = self.repo.require(
            otype, request.path_params["object_id"], request.query_params.get("idProperty")
        )
        self.repo.check_unique(otype, props, own_id=doc["id"])
        ms = now_ms()
        changed = self.repo.update(otype, doc, props, ms)
        self.hub.publish(_property_changes(otype, doc["id"], changed, ms))
        return JSONResponse(render(otype, doc, _written(otype, props)))

    async def archive(self, request: Request) -> Response:
        otype = resolve_type(request)
        doc = self.repo.get(otype, request.path_params["object_id"])
        if doc is not None:  # archiving an archived or unknown record is a no-op, as on HubSpot
            ms = now_ms()
            with self.repo.store.transaction():
                self.repo.archive(otype, doc, ms)
            self.hub.publish([Change(otype, doc["id"], "deletion", ms)])
        return Response(status_code=204)

    # -- search -----------------------------------------------------------------------------
    async def search(self, request: Request) -> Response:
        otype = resolve_type(request)
        body = await read_json(request)
        page = run_search(self.repo, otype, body)
        names = requested_properties(otype, [str(p) for p in body.get("properties") or []])
        out: dict[str, Any] = {
            "total": page.total,
            "results": [render(otype, d, names) for d in page.docs],
        }
        if page.next_after is not None:
            out["paging"] = {"next": {"after": str(page.next_after)}}
        return JSONResponse(out)

    # -- batches ----------------------------------------------------------------------------
    async def batch_read(self, request: Request) -> Response:
        otype = resolve_type(request)
        body = await read_json(request)
        started = now_ms()
        inputs = _inputs(body)
        id_property = body.get("idProperty")
        archived = query_bool(request, "archived")
        names = requested_properties(otype, [str(p) for p in body.get("properties") or []])
        found: list[dict[str, Any]] = []
        missing: list[str] = []
        for item in inputs:
            key = str(item.get("id", ""))
            doc = self.repo.find(otype, id_property, key, archived=archived)
            if doc is None:
                missing.append(key)
            elif doc["id"] not in {r["id"] for r in found}:
                found.append(render(otype, doc, names))
        return _batch_response(otype, found, missing, started, ok_status=200)

    async def batch_create(self, request: Request) -> Response:
        otype = resolve_type(request)
        inputs = _inputs(await read_json(request))
        started = ms = now_ms()
        cleaned = [self.repo.clean(otype, i.get("properties") or {}) for i in inputs]
        _check_batch_unique(otype, cleaned)
        for props in cleaned:
            self.repo.check_unique(otype, props)
        changes: list[Change] = []
        results = []
        with self.repo.store.transaction():
            for item, props in zip(inputs, cleaned, strict=True):
                doc = self._create_one(otype, props, item.get("associations") or [], ms, changes)
                results.append(render(otype, doc, _written(otype, props)))
        self.hub.publish(changes)
        return JSONResponse(batch_body(results, started), status_code=201)

    async def batch_update(self, request: Request) -> Response:
        otype = resolve_type(request)
        inputs = _inputs(await read_json(request))
        started = ms = now_ms()  # one timestamp for the whole batch: the cursor tie syncs meet
        results: list[dict[str, Any]] = []
        missing: list[str] = []
        changes: list[Change] = []
        with self.repo.store.transaction():
            for item in inputs:
                props = self.repo.clean(otype, item.get("properties") or {})
                doc = self.repo.find(otype, item.get("idProperty"), str(item.get("id", "")))
                if doc is None:
                    missing.append(str(item.get("id", "")))
                    continue
                self.repo.check_unique(otype, props, own_id=doc["id"])
                changed = self.repo.update(otype, doc, props, ms)
                changes.extend(_property_changes(otype, doc["id"], changed, ms))
                results.append(render(otype, doc, _written(otype, props)))
        self.hub.publish(changes)
        return _batch_response(otype, results, missing, started, ok_status=200)

    async def batch_upsert(self, request: Request) -> Response:
        otype = resolve_type(request)
        inputs = _inputs(await read_json(request))
        started = ms = now_ms()
        results: list[dict[str, Any]] = []
        changes: list[Change] = []
        with self.repo.store.transaction():
            for item in inputs:
                results.append(self._upsert_one(otype, item, ms, changes))
        self.hub.publish(changes)
        return JSONResponse(batch_body(results, started))

    def _upsert_one(
        self, otype: ObjectType, item: dict[str, Any], ms: int, changes: list[Change]
    ) -> dict[str, Any]:
        id_property = item.get("idProperty")
        if not id_property or id_property == "hs_object_id":
            raise validation(
                f"upsert needs idProperty, a unique property of {otype.name}: "
                + ", ".join(p for p in otype.unique if p != "hs_object_id")
            )
        key = str(item.get("id", ""))
        props = self.repo.clean(otype, item.get("properties") or {})
        doc = self.repo.find(otype, id_property, key)
        if doc is None:
            props[id_property] = key.lower() if id_property == "email" else key
            self.repo.check_unique(otype, props)
            doc = self._create_one(otype, props, [], ms, changes)
            return {**render(otype, doc, _written(otype, props)), "new": True}
        self.repo.check_unique(otype, props, own_id=doc["id"])
        changed = self.repo.update(otype, doc, props, ms)
        changes.extend(_property_changes(otype, doc["id"], changed, ms))
        # The key the caller matched on comes back too, so results can be paired with inputs.
        names = _written(otype, {**props, id_property: None})
        return {**render(otype, doc, names), "new": False}

    async def batch_archive(self, request: Request) -> Response:
        otype = resolve_type(request)
        inputs = _inputs(await read_json(request))
        ms = now_ms()
        changes: list[Change] = []
        with self.repo.store.transaction():
            for item in inputs:
                doc = self.repo.get(otype, str(item.get("id", "")))
                if doc is not None:
                    self.repo.archive(otype, doc, ms)
                    changes.append(Change(otype, doc["id"], "deletion", ms))
        self.hub.publish(changes)
        return Response(status_code=204)


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise validation(f"{name} must be an integer, was {raw!r}") from None


def _inputs(body: dict[str, Any]) -> list[dict[str, Any]]:
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
        raise validation("inputs must be a list of objects")
    if len(inputs) > MAX_BATCH:
        raise validation(f"Batch requests are limited to {MAX_BATCH} inputs, got {len(inputs)}")
    return inputs


def _written(otype: ObjectType, props: dict[str, str | None]) -> list[str]:
    """A write's response carries the defaults and what was written."""
    return list(dict.fromkeys([*otype.defaults, *props]))


def _property_changes(
    otype: ObjectType, object_id: str, changed: dict[str, str | None], ms: int
) -> list[Change]:
    return [Change(otype, object_id, "propertyChange", ms, k, v) for k, v in changed.items()]


def _check_batch_unique(otype: ObjectType, cleaned: list[dict[str, str | None]]) -> None:
    for prop in otype.unique:
        values = [p[prop] for p in cleaned if p.get(prop)]
        if len(values) != len(set(values)):
            raise CrmError(409, "CONFLICT", f"Duplicate {prop} values in one batch create")


def _batch_response(
    otype: ObjectType,
    results: list[dict[str, Any]],
    missing: list[str],
    started: int,
    ok_status: int,
) -> Response:
    if not missing:
        return JSONResponse(batch_body(results, started), status_code=ok_status)
    error = batch_error(
        "OBJECT_NOT_FOUND",
        f"Could not get some {otype.label} objects, they may be deleted or not exist. "
        "Check that ids are valid.",
        missing,
    )
    return JSONResponse(batch_body(results, started, [error]), status_code=207)
