"""One small class per list convention (after dlt's ``rest_client/paginators.py``).

A paginator reads one page's body: ``items(body)`` gives its records and
``next_request(request, body)`` the request for the following page, or None at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Protocol


@dataclass(frozen=True)
class PageRequest:
    method: str
    path: str  # relative to the API base, or an absolute URL (OData next links)
    params: dict[str, Any] = field(default_factory=dict)
    json: dict[str, Any] | None = None


class Paginator(Protocol):
    def items(self, body: Any) -> list[dict[str, Any]]: ...

    def next_request(self, request: PageRequest, body: Any) -> PageRequest | None: ...


def _list_field(body: Any, name: str) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get(name), list):
        raise ValueError(f"page has no {name!r} list")
    return list(body[name])


class StripeListPaginator:
    """Stripe list objects: ``data`` + ``has_more``; the next page starts after the last id."""

    def items(self, body: Any) -> list[dict[str, Any]]:
        return _list_field(body, "data")

    def next_request(self, request: PageRequest, body: Any) -> PageRequest | None:
        data = self.items(body)
        if not body.get("has_more") or not data:
            return None
        return replace(request, params={**request.params, "starting_after": data[-1]["id"]})


class HubSpotAfterPaginator:
    """HubSpot CRM v3: ``results`` + ``paging.next.after``; a query param for GET lists,
    a body field for POST searches."""

    def items(self, body: Any) -> list[dict[str, Any]]:
        return _list_field(body, "results")

    def next_request(self, request: PageRequest, body: Any) -> PageRequest | None:
        after = ((body.get("paging") or {}).get("next") or {}).get("after")
        if not after or not self.items(body):
            return None
        if request.json is not None:
            return replace(request, json={**request.json, "after": str(after)})
        return replace(request, params={**request.params, "after": str(after)})


class ODataNextLinkPaginator:
    """OData v4: ``value`` + ``@odata.nextLink``, an absolute URL that carries every option."""

    def items(self, body: Any) -> list[dict[str, Any]]:
        return _list_field(body, "value")

    def next_request(self, request: PageRequest, body: Any) -> PageRequest | None:
        link = body.get("@odata.nextLink")
        if not link:
            return None
        return replace(request, path=str(link), params={})
