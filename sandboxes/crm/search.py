"""``POST /crm/v3/objects/{type}/search``: HubSpot's filter language translated to SQL.

Filters run in SQLite over ``json_extract`` so a search over 10,000 records never loads them
all. Paging is an offset (``after``), which is why HubSpot caps a query at 10,000 results.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sandboxes.crm.errors import CrmError, validation
from sandboxes.crm.model import PROPERTY_NAME, ObjectType, parse_datetime_value
from sandboxes.crm.repo import CrmRepository, Doc, fold

MAX_GROUPS = 5
MAX_FILTERS_PER_GROUP = 6
MAX_FILTERS = 18  # HubSpot also caps the filters of one request in total
MAX_LIMIT = 200
RESULT_CAP = 10_000
_COMPARISONS = {"EQ": "=", "NEQ": "!=", "GT": ">", "GTE": ">=", "LT": "<", "LTE": "<="}


@dataclass(frozen=True)
class SearchPage:
    docs: list[Doc]
    total: int
    next_after: int | None


def run_search(repo: CrmRepository, otype: ObjectType, body: dict[str, Any]) -> SearchPage:
    limit = _int(body.get("limit"), 10, "limit")
    after = _int(body.get("after"), 0, "after")
    if not 0 < limit <= MAX_LIMIT:
        raise validation(f"limit must be between 1 and {MAX_LIMIT}, was {limit}")
    if after + limit > RESULT_CAP:
        # What HubSpot answers when a page would reach past the 10,000th result.
        raise CrmError(
            400,
            "VALIDATION_ERROR",
            f"Search results are limited to {RESULT_CAP:,} total results per query; "
            f"after={after} with limit={limit} reaches past that. Narrow the query with filters.",
        )
    where, params = _where(otype, body)
    order = _order(otype, body.get("sorts") or [])
    base = f"FROM objects WHERE kind = ? AND json_extract(data, '$.archived') = 0 AND ({where})"
    args = [otype.kind, *params]
    with repo.store.lock:
        conn = repo.store.connection
        total = int(conn.execute(f"SELECT COUNT(*) {base}", args).fetchone()[0])
        rows = conn.execute(
            f"SELECT data {base} ORDER BY {order} LIMIT ? OFFSET ?", [*args, limit, after]
        ).fetchall()
    docs = [json.loads(r[0]) for r in rows]
    more = after + len(docs) < total
    return SearchPage(docs=docs, total=total, next_after=after + len(docs) if more else None)


def _int(raw: Any, default: int, name: str) -> int:
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise validation(f"{name} must be an integer, was {raw!r}") from None


def _where(otype: ObjectType, body: dict[str, Any]) -> tuple[str, list[Any]]:
    groups = body.get("filterGroups") or []
    if not isinstance(groups, list) or len(groups) > MAX_GROUPS:
        raise validation(f"filterGroups may hold at most {MAX_GROUPS} groups")
    clauses: list[str] = []
    params: list[Any] = []
    count = 0
    for group in groups:
        filters = (group or {}).get("filters") or []
        if len(filters) > MAX_FILTERS_PER_GROUP:
            raise validation(f"a filter group may hold at most {MAX_FILTERS_PER_GROUP} filters")
        count += len(filters)
        parts = [_filter(otype, f, params) for f in filters]
        clauses.append("(" + " AND ".join(parts or ["1"]) + ")")
    if count > MAX_FILTERS:
        raise validation(f"a search may hold at most {MAX_FILTERS} filters in all")
    where = " OR ".join(clauses) if clauses else "1"
    query = body.get("query")
    if query:
        words = [w for w in str(query).split() if w]
        for word in words:
            token = word if word.endswith("*") else word + "*"
            alternatives = [f"crm_token({_col(p)}, ?)" for p in otype.searchable]
            where = f"({where}) AND ({' OR '.join(alternatives)})"
            params.extend([token] * len(otype.searchable))
    return where, params


def _col(name: str) -> str:
    return f"json_extract(data, '$.properties.{name}')"


def _filter(otype: ObjectType, spec: dict[str, Any], params: list[Any]) -> str:
    name = str(spec.get("propertyName") or "")
    operator = str(spec.get("operator") or "EQ").upper()
    kind = otype.properties.get(name)
    if not PROPERTY_NAME.match(name) or kind is None:
        raise validation(f"Property {name!r} does not exist on {otype.name}")
    col = _col(name)
    if operator == "HAS_PROPERTY":
        return f"({col} IS NOT NULL AND {col} != '')"
    if operator == "NOT_HAS_PROPERTY":
        return f"({col} IS NULL OR {col} = '')"
    if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        params.append(str(spec.get("value", "")))
        neg = "NOT " if operator.startswith("NOT") else ""
        return f"{neg}crm_token({col}, ?)"
    expr = _typed(kind, col)
    if operator in _COMPARISONS:
        params.append(_value(kind, spec.get("value"), name))
        clause = f"{expr} {_COMPARISONS[operator]} ?"
        # HubSpot's NEQ also matches records that have no value at all.
        return f"({clause} OR {col} IS NULL)" if operator == "NEQ" else clause
    if operator == "BETWEEN":
        params.extend(
            [_value(kind, spec.get("value"), name), _value(kind, spec.get("highValue"), name)]
        )
        return f"{expr} BETWEEN ? AND ?"
    if operator in ("IN", "NOT_IN"):
        values = [_value(kind, v, name) for v in spec.get("values") or []]
        if not values:
            raise validation(f"{operator} needs a non-empty values list")
        params.extend(values)
        marks = ", ".join("?" * len(values))
        if operator == "IN":
            return f"{expr} IN ({marks})"
        return f"({expr} NOT IN ({marks}) OR {col} IS NULL)"
    raise validation(f"Unsupported operator {operator!r}")


def _typed(kind: str, col: str) -> str:
    if kind == "number":
        return f"CAST({col} AS REAL)"
    if kind == "datetime":
        return col  # stored as fixed-width ISO-8601, so text order is time order
    return f"crm_fold({col})"  # HubSpot compares strings case-insensitively


def _value(kind: str, raw: Any, name: str) -> Any:
    if raw is None:
        raise validation(f"filter on {name} needs a value")
    if kind == "number":
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise validation(f"{raw!r} is not a number (property {name})") from None
    if kind == "datetime":
        parsed = parse_datetime_value(str(raw))
        if parsed is None:
            raise validation(f"{raw!r} is not a timestamp in ms or ISO-8601 (property {name})")
        return parsed
    return fold(str(raw).lower() if isinstance(raw, bool) else raw)


def _order(otype: ObjectType, sorts: list[Any]) -> str:
    """``sorts`` entries are a property name or ``{"propertyName", "direction"}``."""
    terms: list[str] = []
    for sort in sorts[:1]:  # HubSpot honours a single sort
        if isinstance(sort, str):
            name, direction = sort.lstrip("-"), "DESC" if sort.startswith("-") else "ASC"
        else:
            name = str(sort.get("propertyName") or "")
            direction = "DESC" if str(sort.get("direction", "")).upper() == "DESCENDING" else "ASC"
        kind = otype.properties.get(name)
        if kind is None or not PROPERTY_NAME.match(name):
            raise validation(f"Cannot sort by unknown property {name!r}")
        terms.append(f"{_typed(kind, _col(name))} {direction}")
    # Ties keep id order, so paging through equal timestamps neither skips nor repeats.
    terms.append("seq ASC")
    return ", ".join(terms)
