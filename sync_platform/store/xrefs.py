"""Cross-references: which CRM company, billing customer and ERP customer are one customer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, or_, select

from sync_platform.store.dialect import insert_for
from sync_platform.store.errors import DuplicateExternalId
from sync_platform.store.schema import customer_xref as t

# Each unique external id column and the system whose id it holds.
EXTERNAL_IDS = {
    "crm_company_id": "crm",
    "billing_customer_id": "billing",
    "erp_customer_number": "erp",
}


@dataclass(frozen=True, slots=True)
class CustomerXref:
    """A canonical customer's ids; the timestamps are set by the store when saved."""

    canonical_id: str
    region: str
    match_rule: str
    crm_company_id: str | None = None
    billing_customer_id: str | None = None
    erp_customer_number: str | None = None
    erp_customer_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


_MUTABLE = (
    "region",
    "match_rule",
    "crm_company_id",
    "billing_customer_id",
    "erp_customer_number",
    "erp_customer_id",
)


def save(conn: Connection, xref: CustomerXref, now: datetime) -> None:
    values = {name: getattr(xref, name) for name in _MUTABLE}
    stmt = insert_for(conn, t).values(
        canonical_id=xref.canonical_id, created_at=now, updated_at=now, **values
    )
    # updated_at moves only when something did change.
    differs = [t.c[name].is_distinct_from(stmt.excluded[name]) for name in _MUTABLE]
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[t.c.canonical_id],
            set_={**{name: stmt.excluded[name] for name in _MUTABLE}, "updated_at": now},
            where=or_(*differs),
        )
    )


def find_clash(conn: Connection, xref: CustomerXref) -> DuplicateExternalId | None:
    """The first external id of ``xref`` that another canonical customer already holds."""
    for column, system in EXTERNAL_IDS.items():
        external_id = getattr(xref, column)
        if external_id is None:
            continue
        owner = conn.execute(
            select(t.c.canonical_id).where(
                t.c[column] == external_id, t.c.canonical_id != xref.canonical_id
            )
        ).scalar()
        if owner is not None:
            return DuplicateExternalId(system, external_id, owner)
    return None


def get(conn: Connection, canonical_id: str) -> CustomerXref | None:
    row = conn.execute(select(t).where(t.c.canonical_id == canonical_id)).first()
    return None if row is None else _xref(row)


def list_xrefs(conn: Connection, region: str | None) -> list[CustomerXref]:
    query = select(t).order_by(t.c.canonical_id)
    if region is not None:
        query = query.where(t.c.region == region)
    return [_xref(row) for row in conn.execute(query)]


def _xref(row: Row[Any]) -> CustomerXref:
    return CustomerXref(**row._asdict())
