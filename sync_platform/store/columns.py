"""Column types shared by every table: aware UTC datetimes and JSON documents."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Dialect
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine

from sync_platform.store.errors import NaiveDatetimeError

# JSONB on PostgreSQL so documents can be indexed and compared there; text JSON on SQLite.
JsonDocument: TypeEngine[Any] = JSON().with_variant(JSONB(), "postgresql")


def utc_now() -> datetime:
    return datetime.now(UTC)


def require_aware(value: datetime) -> datetime:
    """Return ``value`` in UTC; refuse naive datetimes, whose instant is unknowable."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDatetimeError(value)
    return value.astimezone(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Stores UTC instants and always returns aware UTC datetimes, on SQLite too.

    SQLite has no timezone type and SQLAlchemy drops the offset there, so values are
    normalised to UTC before binding; the fixed-width text it stores then sorts by instant.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        utc = require_aware(value)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
