"""Reviews: the approval checkpoint finance signs off before risky changes reach the ERP.

pending ──decide──> approved ──mark_applied──> applied
   │                   │
   ├──decide──> rejected
   └──supersede──> superseded <──supersede──┘
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from sync_platform.store.dialect import insert_for
from sync_platform.store.errors import ReviewError, ReviewNotFound
from sync_platform.store.schema import REVIEW_KINDS
from sync_platform.store.schema import reviews as t


@dataclass(frozen=True, slots=True)
class Review:
    id: int
    region: str
    kind: str
    subject: str
    summary: str
    payload: dict[str, Any]
    status: str
    dedupe_key: str
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None
    applied_at: datetime | None


def open_review(
    conn: Connection,
    region: str,
    kind: str,
    subject: str,
    summary: str,
    payload: dict[str, Any],
    dedupe_key: str,
    now: datetime,
) -> Review:
    if kind not in REVIEW_KINDS:
        raise ReviewError(f"review kind {kind!r} is not one of {', '.join(REVIEW_KINDS)}")
    conn.execute(
        insert_for(conn, t)
        .values(
            region=region,
            kind=kind,
            subject=subject,
            summary=summary,
            payload=payload,
            status="pending",
            dedupe_key=dedupe_key,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=[t.c.dedupe_key])
    )
    row = conn.execute(select(t).where(t.c.dedupe_key == dedupe_key)).one()
    return Review(**row._asdict())


def get(conn: Connection, review_id: int) -> Review:
    row = conn.execute(select(t).where(t.c.id == review_id)).first()
    if row is None:
        raise ReviewNotFound(review_id)
    return Review(**row._asdict())


def list_reviews(
    conn: Connection, status: str | None, region: str | None, kind: str | None
) -> list[Review]:
    query = select(t).order_by(t.c.id)
    for column, value in (("status", status), ("region", region), ("kind", kind)):
        if value is not None:
            query = query.where(t.c[column] == value)
    return [Review(**row._asdict()) for row in conn.execute(query)]


def transition(
    conn: Connection,
    review_id: int,
    allowed_from: tuple[str, ...],
    action: str,
    values: dict[str, Any],
) -> Review:
    """Move a review on only if it is still in an allowed state; the check is part of the
    UPDATE, so two people deciding at once cannot both win."""
    result = conn.execute(
        update(t).where(t.c.id == review_id, t.c.status.in_(allowed_from)).values(**values)
    )
    review = get(conn, review_id)
    if result.rowcount != 1:
        raise ReviewError(
            f"cannot {action} review {review_id} ({review.kind} {review.subject!r}): it is "
            f"{review.status}, and only a review that is {' or '.join(allowed_from)} can be"
        )
    return review


def require_text(review_id: int, name: str, value: str) -> str:
    if not value.strip():
        raise ReviewError(f"deciding review {review_id} needs a non-blank {name!r}")
    return value.strip()
