"""Generic create / update / delete of one entity, with the type's business rules."""

from __future__ import annotations

from typing import Any

from sandboxes.erp.context import Ctx
from sandboxes.erp.documents import RULES, Doc
from sandboxes.erp.entities import ENTITIES, EntityDef, Nav
from sandboxes.erp.errors import ODataError, bad_request
from sandboxes.erp.wire import decode_body, new_document

_READ_ONLY = "The entity set '{}' is read-only."


def _rules_for(entity: EntityDef) -> Any:
    rules = RULES.get(entity.type_name)
    if rules is None or not entity.writable:
        raise ODataError(405, "BadRequest_MethodNotAllowed", _READ_ONLY.format(entity.set_name))
    return rules


def create(ctx: Ctx, entity: EntityDef, body: Any, parent: Doc | None, nav: Nav | None) -> Doc:
    """POST: validate, fill, store; deep-inserted children follow (``salesInvoiceLines``)."""
    rules = _rules_for(entity)
    values = decode_body(entity, body, creating=True)
    doc = new_document(entity)
    doc.update(values)
    if ctx.get(entity.type_name, doc["id"]) is not None:
        raise ODataError(400, "Internal_EntityWithSameKeyExists", f"The id {doc['id']} exists.")
    if parent is not None and nav is not None:
        doc[nav.parent_field] = parent["id"]
    doc["_given"] = sorted(values)
    rules.prepare(ctx, doc, None, parent)
    doc.pop("_given")
    ctx.save(entity.type_name, doc, new=True)
    rules.changed(ctx, doc)
    for child_nav in entity.navs:
        children = body.get(child_nav.name) if isinstance(body, dict) else None
        if children is None:
            continue
        if not isinstance(children, list):
            raise bad_request(f"'{child_nav.name}' must be an array for a deep insert.")
        for child in children:
            create(ctx, ENTITIES[child_nav.entity], child, doc, child_nav)
    return ctx.get(entity.type_name, doc["id"]) or doc


def update(ctx: Ctx, entity: EntityDef, old: Doc, body: Any, parent: Doc | None) -> Doc:
    rules = _rules_for(entity)
    values = decode_body(entity, body, creating=False)
    doc = {**old, **values, "_given": sorted(values)}
    rules.prepare(ctx, doc, old, parent)
    doc.pop("_given")
    ctx.save(entity.type_name, doc)
    rules.changed(ctx, doc)
    return ctx.get(entity.type_name, doc["id"]) or doc


def delete(ctx: Ctx, entity: EntityDef, doc: Doc, parent: Doc | None) -> None:
    rules = _rules_for(entity)
    if parent is not None:
        rules.prepare(ctx, dict(doc), doc, parent)  # e.g. lines of a posted invoice stay
    rules.check_delete(ctx, doc)
    for child_nav in entity.navs:
        for child in ctx.find_all(child_nav.entity, child_nav.parent_field, doc["id"]):
            ctx.delete(child_nav.entity, child["id"])
    ctx.delete(entity.type_name, doc["id"])
    rules.changed(ctx, doc)
