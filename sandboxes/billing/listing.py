"""Stripe list pages and ``expand``.

Lists are newest first. A page is one indexed range query over the store's ``seq`` (seeded rows
were inserted in ``created`` order, so ``seq`` order is ``created`` order), fetching
``limit + 1`` rows to learn ``has_more``: a page costs the same on page 1 and page 1,000.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sandboxes.billing.errors import StripeError
from sandboxes.billing.forms import Params, integer, string_list, text
from sandboxes.billing.objects import Doc, list_object
from sandboxes.billing.service import Billing, kind_of

MAX_EXPAND_DEPTH = 4


@dataclass
class Filter:
    """SQL conditions over the stored JSON, built from a list request's parameters."""

    clauses: list[str] = field(default_factory=list)
    args: list[Any] = field(default_factory=list)

    def equals(self, field_path: str, value: Any) -> Filter:
        if value is not None:
            self.clauses.append(f"json_extract(data, '$.{field_path}') = ?")
            self.args.append(value)
        return self

    def is_null(self, field_path: str) -> Filter:
        self.clauses.append(f"json_extract(data, '$.{field_path}') IS NULL")
        return self

    def raw(self, clause: str, *args: Any) -> Filter:
        self.clauses.append(clause)
        self.args.extend(args)
        return self

    def range(self, params: Params, name: str, field_path: str | None = None) -> Filter:
        """``name=ts`` or ``name[gt|gte|lt|lte]=ts`` on an integer timestamp field."""
        raw = params.get(name)
        if raw is None or raw == "":
            return self
        column = f"json_extract(data, '$.{field_path or name}')"
        if isinstance(raw, str):
            return self.raw(f"{column} = ?", integer(params, name))
        if not isinstance(raw, dict):
            raise StripeError.invalid(name, f"Invalid {name}: expected a timestamp or a hash")
        operators = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
        for op in raw:
            if op not in operators:
                raise StripeError.invalid(
                    f"{name}[{op}]", f"Received unknown parameter: {name}[{op}]"
                )
            self.raw(f"{column} {operators[op]} ?", integer(raw, op))
        return self

    @property
    def where(self) -> str:
        return " AND ".join(self.clauses)


LIST_PARAMS = frozenset({"limit", "starting_after", "ending_before"})


def list_page(billing: Billing, kind: str, url: str, params: Params, where: Filter) -> Doc:
    limit = integer(params, "limit", 10, minimum=1, maximum=100) or 10
    after, before = text(params, "starting_after"), text(params, "ending_before")
    scan_args: dict[str, Any] = {"where": where.where, "params": tuple(where.args)}
    if after:
        scan_args["before_seq"] = _cursor(billing, kind, after, "starting_after")
    if before and not after:
        scan_args["after_seq"] = _cursor(billing, kind, before, "ending_before")
    newest_first = not (before and not after)
    rows = billing.store.scan(kind, descending=newest_first, limit=limit + 1, **scan_args)
    has_more = len(rows) > limit
    docs = [doc for _, doc in rows[:limit]]
    if not newest_first:
        docs.reverse()
    return list_object(url, docs, has_more)


def _cursor(billing: Billing, kind: str, obj_id: str, param: str) -> int:
    seq = billing.store.seq_of(kind, obj_id)
    if seq is None:
        raise StripeError.no_such(kind, obj_id, param=param, status=400)
    return seq


def page_of(items: list[Doc], url: str, params: Params) -> Doc:
    """A list page over an embedded list (invoice lines), oldest first as Stripe serves them."""
    limit = integer(params, "limit", 10, minimum=1, maximum=100) or 10
    after, before = text(params, "starting_after"), text(params, "ending_before")
    ids = [item["id"] for item in items]
    start, end = 0, len(items)
    if after:
        if after not in ids:
            raise StripeError.no_such("line_item", after, param="starting_after", status=400)
        start = ids.index(after) + 1
    elif before:
        if before not in ids:
            raise StripeError.no_such("line_item", before, param="ending_before", status=400)
        end = ids.index(before)
        start = max(0, end - limit)
    chosen = items[start:end][:limit]
    return list_object(url, chosen, start + len(chosen) < end if not before else start > 0)


# -- expand ------------------------------------------------------------------------------------
def expand(billing: Billing, doc: Doc, params: Params) -> Doc:
    for path in string_list(params, "expand"):
        parts = path.split(".")
        if len(parts) > MAX_EXPAND_DEPTH:
            raise StripeError.invalid(
                "expand", f"You cannot expand more than {MAX_EXPAND_DEPTH} levels of a property."
            )
        _expand(billing, doc, parts, path)
    return doc


def _expand(billing: Billing, doc: Doc, parts: list[str], path: str) -> None:
    head, rest = parts[0], parts[1:]
    if doc.get("object") == "list" and head == "data":
        for item in doc["data"]:
            if rest:
                _expand(billing, item, rest, path)
        return
    special = _special(billing, doc, head)
    if special is not None:
        doc[head] = special
    elif head not in doc:
        raise StripeError.invalid("expand", f"This property cannot be expanded ({path}).")
    value = doc[head]
    if isinstance(value, str):
        kind = kind_of(value)
        found = billing.find(kind, value) if kind else None
        if found is None:
            raise StripeError.invalid("expand", f"This property cannot be expanded ({path}).")
        doc[head] = value = found
    if rest:
        targets = value if isinstance(value, list) else [value]
        for target in targets:
            if isinstance(target, dict):
                _expand(billing, target, rest, path)


def _special(billing: Billing, doc: Doc, head: str) -> Any:
    """Properties Stripe only includes when expanded (not plain id references)."""
    kind = doc.get("object")
    if kind == "customer" and head == "tax_ids":
        return list_object(f"/v1/customers/{doc['id']}/tax_ids", doc.get("_tax_ids", []))
    if kind == "invoice" and head == "payments":
        rows = billing.store.scan(
            "invoice_payment",
            where="json_extract(data, '$.invoice') = ?",
            params=(doc["id"],),
            descending=True,
        )
        return list_object(f"/v1/invoice_payments?invoice={doc['id']}", [d for _, d in rows])
    return None
