"""OData query options ($filter, $top, $skip, $select, $orderby, $expand, $count) and paging.

Without ``$orderby`` a listing pages by the store's ``seq`` (keyset: ``$skiptoken`` is the last
``seq`` served), so every page is one indexed range query however large the set is. With
``$orderby`` the skiptoken is an offset into the ordered result.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import URL, QueryParams

from sandboxes.erp.entities import EntityDef
from sandboxes.erp.errors import bad_request
from sandboxes.erp.filters import column, parse_filter
from sandboxes.kit.store import SandboxStore

DEFAULT_PAGE_SIZE = 100  # the sandbox's server-driven page size (Business Central: 20,000)
MAX_PAGE_SIZE = 20_000
_KNOWN_OPTIONS = {
    "$filter",
    "$top",
    "$skip",
    "$select",
    "$orderby",
    "$expand",
    "$count",
    "$skiptoken",
    "$format",
    "$schemaversion",
    "company",
    "tenant",
}
_MAXPAGESIZE = re.compile(r"odata\.maxpagesize\s*=\s*(\d+)", re.IGNORECASE)


@dataclass
class Options:
    where: str
    params: tuple[Any, ...]
    order: list[tuple[str, bool]]  # (field, descending)
    top: int | None
    skip: int
    skiptoken: int | None
    select: list[str] | None
    expand: list[str]
    count: bool


def parse_options(entity: EntityDef, query: QueryParams) -> Options:
    for name in query:
        if name.startswith("$") and name not in _KNOWN_OPTIONS:
            raise bad_request(f"The query parameter '{name}' is not supported.")
    where, params = ("", ())
    if "$filter" in query:
        where, params = parse_filter(entity, query["$filter"])
    return Options(
        where=where,
        params=params,
        order=_parse_orderby(entity, query.get("$orderby")),
        top=_non_negative(query, "$top"),
        skip=_non_negative(query, "$skip") or 0,
        skiptoken=_non_negative(query, "$skiptoken"),
        select=_parse_select(entity, query.get("$select")),
        expand=parse_expand(entity, query.get("$expand")),
        count=_parse_bool(query.get("$count")),
    )


def _non_negative(query: QueryParams, name: str) -> int | None:
    text = query.get(name)
    if text is None:
        return None
    if not text.isdigit():
        raise bad_request(f"Invalid value '{text}' for {name} query option found.")
    return int(text)


def _parse_bool(text: str | None) -> bool:
    if text is None or text == "false":
        return False
    if text == "true":
        return True
    raise bad_request(f"'{text}' is not a valid count option.")


def _check_property(entity: EntityDef, name: str) -> str:
    if name not in entity.by_name:
        raise bad_request(
            f"Could not find a property named '{name}' on type 'Microsoft.NAV.{entity.type_name}'."
        )
    return name


def _parse_orderby(entity: EntityDef, text: str | None) -> list[tuple[str, bool]]:
    order: list[tuple[str, bool]] = []
    for part in (text or "").split(","):
        words = part.split()
        if not words:
            continue
        if len(words) > 2 or (len(words) == 2 and words[1] not in ("asc", "desc")):
            raise bad_request(f"Syntax error in $orderby: '{part.strip()}'.")
        order.append((_check_property(entity, words[0]), words[-1] == "desc"))
    return order


def _parse_select(entity: EntityDef, text: str | None) -> list[str] | None:
    if text is None or text.strip() in ("", "*"):
        return None
    return [_check_property(entity, name.strip()) for name in text.split(",") if name.strip()]


def parse_expand(entity: EntityDef, text: str | None) -> list[str]:
    names: list[str] = []
    for part in (text or "").split(","):
        name = part.strip()
        if not name:
            continue
        if "(" in name or "/" in name:
            raise bad_request(f"Nested options in $expand ('{name}') are not supported here.")
        if entity.nav(name) is None:
            raise bad_request(
                f"Could not find a property named '{name}' on type "
                f"'Microsoft.NAV.{entity.type_name}'."
            )
        names.append(name)
    return names


def page_size(prefer: str | None) -> tuple[int, bool]:
    """The page size and whether ``Prefer: odata.maxpagesize`` was applied."""
    match = _MAXPAGESIZE.search(prefer or "")
    if match is None or int(match.group(1)) < 1:
        return DEFAULT_PAGE_SIZE, False
    return min(int(match.group(1)), MAX_PAGE_SIZE), True


@dataclass
class Scope:
    """Which documents a collection URL covers: one store kind, maybe one parent's children."""

    kind: str
    where: str = ""
    params: tuple[Any, ...] = ()


@dataclass
class Page:
    rows: list[tuple[int, dict[str, Any]]]
    next_token: int | None  # skiptoken for the next page, if there is one
    next_top: int | None
    count: int | None


def fetch_page(store: SandboxStore, scope: Scope, opts: Options, size: int) -> Page:
    conditions = ["kind = ?"]
    args: list[Any] = [scope.kind]
    for where, params in ((scope.where, scope.params), (opts.where, opts.params)):
        if where:
            conditions.append(f"({where})")
            args.extend(params)
    count = _count(store, conditions, args) if opts.count else None
    want = size if opts.top is None else min(size, opts.top)
    sql, page_args = _page_sql(conditions, args, opts, want)
    with store.lock:
        raw = store.connection.execute(sql, page_args).fetchall()
    rows = [(int(seq), json.loads(data)) for seq, data in raw]
    more = len(rows) > want
    rows = rows[:want]
    left = None if opts.top is None else opts.top - len(rows)
    if not more or left == 0 or not rows:
        return Page(rows, None, None, count)
    token = rows[-1][0] if not opts.order else _offset(opts) + len(rows)
    return Page(rows, token, left, count)


def _offset(opts: Options) -> int:
    return opts.skiptoken if opts.skiptoken is not None else opts.skip


def _page_sql(
    conditions: list[str], args: list[Any], opts: Options, want: int
) -> tuple[str, list[Any]]:
    conditions, args = list(conditions), list(args)
    if opts.order:
        keys = [f"{column(name)} {'DESC' if desc else 'ASC'}" for name, desc in opts.order]
        order, offset = ", ".join([*keys, "seq ASC"]), _offset(opts)
    else:
        order, offset = "seq ASC", 0 if opts.skiptoken is not None else opts.skip
        if opts.skiptoken is not None:
            conditions.append("seq > ?")
            args.append(opts.skiptoken)
    sql = (
        f"SELECT seq, data FROM objects WHERE {' AND '.join(conditions)} "
        f"ORDER BY {order} LIMIT ? OFFSET ?"
    )
    return sql, [*args, want + 1, offset]


def _count(store: SandboxStore, conditions: list[str], args: list[Any]) -> int:
    sql = f"SELECT COUNT(*) FROM objects WHERE {' AND '.join(conditions)}"
    with store.lock:
        return int(store.connection.execute(sql, args).fetchone()[0])


def next_link(url: URL, page: Page) -> str | None:
    """The request's own URL with the paging options replaced, as Business Central builds it."""
    if page.next_token is None:
        return None
    params = [
        (k, v)
        for k, v in QueryParams(url.query).multi_items()
        if k not in ("$skip", "$skiptoken", "$top")
    ]
    if page.next_top is not None:
        params.append(("$top", str(page.next_top)))
    params.append(("$skiptoken", str(page.next_token)))
    return str(url.replace(query=urlencode(params, safe="$")))
