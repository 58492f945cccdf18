"""The ``$metadata`` CSDL document, generated from the entity definitions.

Every set lives in one container (as in Business Central's document); the company entity type
holds a contained navigation property per company-scoped set, and each ``post`` action is bound
to its entity type. Read-only fields carry ``Org.OData.Core.V1.Computed`` so a generic client
(python-odata) leaves them out of inserts. Each API route (the standard ``v2.0`` and the
companion extension's custom API) has its own document, holding only the sets it serves.
"""

from __future__ import annotations

from functools import cache
from xml.sax.saxutils import quoteattr

from sandboxes.erp.entities import (
    COMPANY,
    EDM_TYPES,
    ENTITIES,
    ENTITY_LIST,
    STANDARD_API,
    EntityDef,
    api_sets,
)

NAMESPACE = "Microsoft.NAV"
_HEADER = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">'
    "<edmx:DataServices>"
    f'<Schema Namespace="{NAMESPACE}" xmlns="http://docs.oasis-open.org/odata/ns/edm">'
)
_FOOTER = "</Schema></edmx:DataServices></edmx:Edmx>"
_COMPUTED = '<Annotation Term="Org.OData.Core.V1.Computed" Bool="true"/>'


def _property(entity: EntityDef, name: str) -> str:
    field = entity.by_name[name]
    attrs = f"Name={quoteattr(name)} Type={quoteattr(EDM_TYPES[field.kind])}"
    if name == "id":
        attrs += ' Nullable="false"'
    if field.max_len is not None:
        attrs += f' MaxLength="{field.max_len}"'
    if field.kind in ("money", "decimal"):
        attrs += ' Scale="Variable"'
    if field.writable:
        return f"<Property {attrs}/>"
    return f"<Property {attrs}>{_COMPUTED}</Property>"


def _entity_type(entity: EntityDef, sets: dict[str, EntityDef]) -> str:
    parts = [f'<EntityType Name="{entity.type_name}"><Key><PropertyRef Name="id"/></Key>']
    parts += [_property(entity, f.name) for f in entity.fields]
    navs = [(n.name, n.entity) for n in entity.navs]
    if entity is COMPANY:
        navs = [(s.set_name, s.type_name) for s in sets.values() if s is not COMPANY]
    for name, target in navs:
        parts.append(
            f'<NavigationProperty Name="{name}" Type="Collection({NAMESPACE}.{target})" '
            'ContainsTarget="true"/>'
        )
    parts.append("</EntityType>")
    return "".join(parts)


def _action(entity: EntityDef) -> str:
    return (
        '<Action Name="post" IsBound="true">'
        f'<Parameter Name="bindingParameter" Type="{NAMESPACE}.{entity.type_name}"/>'
        "</Action>"
    )


def _container(sets: dict[str, EntityDef]) -> str:
    parts = ['<EntityContainer Name="default">']
    for entity in sets.values():
        bindings = "".join(
            f'<NavigationPropertyBinding Path="{n.name}" Target="{ENTITIES[n.entity].set_name}"/>'
            for n in entity.navs
            if ENTITIES[n.entity].company_set
        )
        parts.append(
            f'<EntitySet Name="{entity.set_name}" EntityType="{NAMESPACE}.{entity.type_name}">'
            f"{bindings}</EntitySet>"
        )
    parts.append("</EntityContainer>")
    return "".join(parts)


@cache
def metadata_document(api: str = STANDARD_API) -> str:
    sets = api_sets(api)
    entities = [e for e in ENTITY_LIST if e is COMPANY or e.api == api]
    types = "".join(_entity_type(e, sets) for e in entities)
    actions = "".join(_action(e) for e in entities if e.post_action)
    return _HEADER + types + actions + _container(sets) + _FOOTER


def service_document(base: str, api: str = STANDARD_API) -> dict[str, object]:
    return {
        "@odata.context": f"{base}$metadata",
        "value": [
            {"name": s.set_name, "kind": "EntitySet", "url": s.set_name}
            for s in api_sets(api).values()
        ],
    }
