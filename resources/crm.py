"""CRM system API: HubSpot CRM v3 (``after`` paging, search, batch, v4 associations)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field

from resources.base import SystemApiResource
from resources.http import VendorError
from resources.paginators import HubSpotAfterPaginator, PageRequest

ObjectType = Literal["companies", "contacts"]
LAST_MODIFIED = {"companies": "hs_lastmodifieddate", "contacts": "lastmodifieddate"}
SEARCH_PAGE_LIMIT = 200
SEARCH_RESULT_CAP = 10_000
# Contacts are read with their companies: a contact's region is its company's.
CONTACT_ASSOCIATIONS = ("companies",)

COMPANY_PROPERTIES = (
    "name",
    "domain",
    "country",
    "state",
    "city",
    "zip",
    "address",
    "phone",
    "industry",
    "lifecyclestage",
    "hs_parent_company_id",
    "vat_number",
    "account_key",
    "billing_customer_id",
    "payment_terms",
    "region",
    "createdate",
    "hs_lastmodifieddate",
)
CONTACT_PROPERTIES = (
    "email",
    "firstname",
    "lastname",
    "phone",
    "jobtitle",
    "company",
    "associatedcompanyid",
    "lifecyclestage",
    "createdate",
    "lastmodifieddate",
)


class HubSpotObject(BaseModel):
    """A CRM record: HubSpot's ``SimplePublicObject``."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: str
    properties: dict[str, str | None]
    createdAt: datetime
    updatedAt: datetime
    archived: bool = False
    associations: dict[str, Any] | None = None

    def prop(self, name: str) -> str | None:
        value = self.properties.get(name)
        return value if value not in ("", None) else None


class HubSpotAssociation(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    toObjectId: str | int
    associationTypes: list[dict[str, Any]] = Field(default_factory=list)


class HubSpotDialect:
    system = "crm"

    def parse_error(self, response: httpx.Response) -> VendorError:
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        message = body.get("message") or f"HTTP {response.status_code} without an error body"
        return VendorError(code=body.get("errorType") or body.get("category"), message=message)

    def retry_decision(self, response: httpx.Response) -> bool | None:
        return None

    def throttle_seconds(self, response: httpx.Response) -> float:
        """Hold off for the rest of the rolling window when no calls remain in it."""
        remaining = response.headers.get("X-HubSpot-RateLimit-Remaining")
        interval = response.headers.get("X-HubSpot-RateLimit-Interval-Milliseconds")
        if remaining is None or interval is None:
            return 0.0
        try:
            if int(remaining) > 0:
                return 0.0
            return int(interval) / 1000
        except ValueError:
            return 0.0

    def is_precondition_failure(self, response: httpx.Response, error: VendorError) -> bool:
        return False

    def is_idempotency_conflict(self, response: httpx.Response, error: VendorError) -> bool:
        return False


class CrmResource(SystemApiResource):
    """HubSpot-shaped CRM API authenticated with a private app access token."""

    base_url: str = Field(
        default="https://api.hubapi.com", description="HubSpot API root or sandbox URL"
    )
    access_token: str = Field(description="private app access token")

    def _dialect(self) -> HubSpotDialect:
        return HubSpotDialect()

    def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}

    # -- objects ----------------------------------------------------------------------------
    def list_objects(
        self,
        object_type: ObjectType,
        properties: Sequence[str] | None = None,
        associations: Sequence[str] = (),
    ) -> Iterator[HubSpotObject]:
        params: dict[str, Any] = {
            "limit": min(self.page_size, 100),
            "properties": ",".join(properties or _default_properties(object_type)),
        }
        if associations:
            params["associations"] = ",".join(associations)
        first = PageRequest("GET", f"/crm/v3/objects/{object_type}", params=params)
        for raw in self.api.paginate(first, HubSpotAfterPaginator()):
            yield self._validate(HubSpotObject, raw)

    def list_companies(self) -> Iterator[HubSpotObject]:
        return self.list_objects("companies", associations=("contacts",))

    def list_contacts(self) -> Iterator[HubSpotObject]:
        return self.list_objects("contacts", associations=CONTACT_ASSOCIATIONS)

    def get_object(
        self, object_type: ObjectType, object_id: str, associations: Sequence[str] = ()
    ) -> HubSpotObject:
        params = {"properties": ",".join(_default_properties(object_type))}
        if associations:
            params["associations"] = ",".join(associations)
        raw = self.api.get_json(f"/crm/v3/objects/{object_type}/{object_id}", params=params)
        return self._validate(HubSpotObject, raw)

    def batch_read(
        self, object_type: ObjectType, ids: Sequence[str], id_property: str | None = None
    ) -> list[HubSpotObject]:
        out: list[HubSpotObject] = []
        for start in range(0, len(ids), 100):
            body: dict[str, Any] = {
                "inputs": [{"id": i} for i in ids[start : start + 100]],
                "properties": list(_default_properties(object_type)),
            }
            if id_property:
                body["idProperty"] = id_property
            response = self.api.request(
                "POST", f"/crm/v3/objects/{object_type}/batch/read", json=body, retry_unsafe=True
            )
            out.extend(
                self._validate(HubSpotObject, r) for r in self.api.decode(response)["results"]
            )
        return out

    def batch_upsert(
        self, object_type: ObjectType, id_property: str, records: Sequence[dict[str, Any]]
    ) -> list[HubSpotObject]:
        """Create-or-update by a unique property: repeating it is harmless, so it is retried."""
        out: list[HubSpotObject] = []
        for start in range(0, len(records), 100):
            inputs = [
                {"id": r[id_property], "idProperty": id_property, "properties": r}
                for r in records[start : start + 100]
            ]
            response = self.api.request(
                "POST",
                f"/crm/v3/objects/{object_type}/batch/upsert",
                json={"inputs": inputs},
                retry_unsafe=True,
            )
            out.extend(
                self._validate(HubSpotObject, r) for r in self.api.decode(response)["results"]
            )
        return out

    def search_modified(
        self,
        object_type: ObjectType,
        since: datetime,
        until: datetime | None = None,
    ) -> Iterator[HubSpotObject]:
        """Records modified in [since, until), oldest first, however many there are.

        HubSpot's search stops at 10,000 results per query, so the window is walked in slices:
        when a slice fills up, the next query starts at the last timestamp seen, and records of
        that timestamp already returned are skipped by id.
        """
        prop = LAST_MODIFIED[object_type]
        lower = since
        seen_at_lower: set[str] = set()
        while True:
            filters = [{"propertyName": prop, "operator": "GTE", "value": _ms(lower)}]
            if until is not None:
                filters.append({"propertyName": prop, "operator": "LT", "value": _ms(until)})
            body = {
                "filterGroups": [{"filters": filters}],
                "sorts": [{"propertyName": prop, "direction": "ASCENDING"}],
                "properties": list(_default_properties(object_type)),
                "limit": SEARCH_PAGE_LIMIT,
            }
            first = PageRequest("POST", f"/crm/v3/objects/{object_type}/search", json=body)
            returned = 0
            last: HubSpotObject | None = None
            newest_ids: set[str] = set()
            for raw in self.api.paginate(first, _CappedSearch()):
                returned += 1
                record = self._validate(HubSpotObject, raw)
                stamp = _modified(record, prop)
                if stamp == lower and record.id in seen_at_lower:
                    continue
                if last is None or _modified(last, prop) != stamp:
                    newest_ids = set()
                newest_ids.add(record.id)
                last = record
                yield record
            if returned < SEARCH_RESULT_CAP or last is None:
                return
            next_lower = _modified(last, prop)
            seen_at_lower = newest_ids | (seen_at_lower if next_lower == lower else set())
            lower = next_lower

    # -- associations (v4) ------------------------------------------------------------------
    def list_associations(
        self, from_type: ObjectType, object_id: str, to_type: ObjectType
    ) -> Iterator[HubSpotAssociation]:
        first = PageRequest(
            "GET",
            f"/crm/v4/objects/{from_type}/{object_id}/associations/{to_type}",
            params={"limit": 500},
        )
        for raw in self.api.paginate(first, HubSpotAfterPaginator()):
            yield self._validate(HubSpotAssociation, raw)


class _CappedSearch(HubSpotAfterPaginator):
    """Stops before asking past HubSpot's 10,000-result cap (which answers 400)."""

    def next_request(self, request: PageRequest, body: Any) -> PageRequest | None:
        following = super().next_request(request, body)
        if following is None or following.json is None:
            return following
        if int(following.json.get("after", 0)) >= SEARCH_RESULT_CAP:
            return None
        return following


def _default_properties(object_type: ObjectType) -> Sequence[str]:
    return COMPANY_PROPERTIES if object_type == "companies" else CONTACT_PROPERTIES


def _ms(when: datetime) -> str:
    return str(int(when.astimezone(UTC).timestamp() * 1000))


def _modified(record: HubSpotObject, prop: str) -> datetime:
    value = record.prop(prop)
    if value is None:
        return record.updatedAt
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
