"""Resolve a Business Central URL path into the records it addresses.

``companies({id})/salesInvoices({id})/salesInvoiceLines({id})``, ``.../Microsoft.NAV.post``
and ``.../$count`` are walked segment by segment, so any contained collection works alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sandboxes.erp.context import Ctx
from sandboxes.erp.entities import COMPANY, ENTITIES, SETS, EntityDef, Nav
from sandboxes.erp.errors import bad_request, not_found
from sandboxes.erp.filters import column
from sandboxes.erp.odata import Scope
from sandboxes.kit.store import SandboxStore

_SEGMENT = re.compile(r"^(?P<name>[A-Za-z$][A-Za-z0-9_.$]*)(?:\((?P<key>[^)]*)\))?$")
_KEY = re.compile(r"^(?:id=)?'?(?P<id>[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12})'?$")
POST_ACTION = "Microsoft.NAV.post"


@dataclass
class Target:
    entity: EntityDef
    scope: Scope
    ctx: Ctx | None = None
    doc: dict[str, Any] | None = None  # set when the path ends in a key
    parent: dict[str, Any] | None = None
    nav: Nav | None = None
    action: str | None = None  # "post" or "$count"


def split_segment(segment: str) -> tuple[str, str | None]:
    match = _SEGMENT.match(segment)
    if match is None:
        raise bad_request(f"The URL segment '{segment}' is not valid.")
    key = match.group("key")
    if key is None:
        return match.group("name"), None
    key_match = _KEY.match(key)
    if key_match is None:
        raise bad_request(f"The key '{key}' is not a valid Edm.Guid.")
    return match.group("name"), key_match.group("id").lower()


def resolve(
    store: SandboxStore, ctx_factory: Any, segments: list[str], sets: dict[str, EntityDef] = SETS
) -> Target:
    """Walk ``companies(...)/set(...)/nav(...)/action`` over the ``sets`` of one API route;
    unknown names or ids are 404s."""
    name, key = split_segment(segments[0])
    if name != "companies":
        raise not_found(f"The resource '{name}' was not found.")
    target = Target(COMPANY, Scope("company"))
    if key is None:
        return _finish(target, segments[1:])
    company = store.get("company", key)
    if company is None:
        raise not_found(f"The company with id '{key}' does not exist.")
    target.doc = company
    rest = segments[1:]
    if not rest:
        return target
    ctx: Ctx = ctx_factory(company)
    name, key = split_segment(rest[0])
    entity = sets.get(name)
    if entity is None or entity is COMPANY:
        raise not_found(f"The resource '{name}' was not found.")
    target = Target(entity, Scope(ctx.kind(entity.type_name)), ctx=ctx)
    _select_key(target, key)
    return _walk(target, rest[1:])


def _select_key(target: Target, key: str | None) -> None:
    if key is None:
        return
    assert target.ctx is not None
    doc = target.ctx.get(target.entity.type_name, key)
    parent_id = target.parent["id"] if target.parent else None
    if doc is None or (target.nav and doc.get(target.nav.parent_field) != parent_id):
        raise not_found(f"The {target.entity.type_name} with id '{key}' does not exist.")
    target.doc = doc


def _walk(target: Target, rest: list[str]) -> Target:
    while rest:
        name, key = split_segment(rest[0])
        if name in (POST_ACTION, "$count"):
            return _finish(target, rest)
        nav = target.entity.nav(name)
        if nav is None or target.doc is None:
            raise not_found(f"The resource '{name}' was not found.")
        assert target.ctx is not None
        child = ENTITIES[nav.entity]
        scope = Scope(
            target.ctx.kind(child.type_name), f"{column(nav.parent_field)} = ?", (target.doc["id"],)
        )
        target = Target(child, scope, ctx=target.ctx, parent=target.doc, nav=nav)
        _select_key(target, key)
        rest = rest[1:]
    return target


def _finish(target: Target, rest: list[str]) -> Target:
    if not rest:
        return target
    name = rest[0]
    if len(rest) > 1 or name not in (POST_ACTION, "$count"):
        raise not_found(f"The resource '{'/'.join(rest)}' was not found.")
    if name == POST_ACTION:
        if target.doc is None or not target.entity.post_action:
            raise bad_request(f"The action '{name}' is not bound to this resource.")
        target.action = "post"
    else:
        if target.doc is not None:
            raise bad_request("$count applies to collections only.")
        target.action = "$count"
    return target
