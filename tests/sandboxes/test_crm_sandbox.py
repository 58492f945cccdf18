"""The CRM sandbox, judged by HubSpot's own client library and HubSpot's OpenAPI documents."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from hubspot import HubSpot
from hubspot.crm.companies import (
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchReadInputSimplePublicObjectId,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectId,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.companies.exceptions import ApiException
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInputUpsert as ContactUpsertBatch,
)
from hubspot.crm.contacts import (
    SimplePublicObjectBatchInputUpsert as ContactUpsert,
)

from sandboxes.kit.server import RunningSandbox, SandboxConfig, free_port, running_sandbox
from sandboxes.kit.world import World, build_world

# The vendor specs live in shared/, beside the repository (see README "Tests").
SPECS = Path(__file__).resolve().parents[3] / "shared" / "specs" / "hubspot"
ANCHOR = date(2025, 1, 15)
CUSTOMERS = 100  # small, yet holds duplicates, parents, missing and invalid tax ids
APP_ID = 1_160_452


# -- fixtures ---------------------------------------------------------------------------------
def crm_config(state_dir: Path, customers: int = CUSTOMERS, **extra: Any) -> SandboxConfig:
    return SandboxConfig(
        kind="crm", state_dir=state_dir, customers=customers, anchor=ANCHOR, **extra
    )


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(42, CUSTOMERS, ANCHOR)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    with running_sandbox(crm_config(tmp_path_factory.mktemp("crm"))) as running:
        yield running


@pytest.fixture(scope="module")
def hubspot_client(sandbox: RunningSandbox) -> HubSpot:
    return HubSpot(access_token=sandbox.api_key, host=sandbox.base_url)


@pytest.fixture(scope="module")
def http(sandbox: RunningSandbox) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {sandbox.api_key}"}
    with httpx.Client(base_url=sandbox.base_url, headers=headers, timeout=10) as client:
        yield client


def expected_company_ids(world: World) -> set[str]:
    crm = [c for c in world.companies if c.in_crm]
    return {c.crm_company_id for c in crm} | {c.crm_duplicate_id for c in crm if c.crm_duplicate}


# -- OpenAPI validation -----------------------------------------------------------------------
def _load_spec(name: str) -> dict[str, Any]:
    spec = json.loads((SPECS / name).read_text())
    return _openapi_to_jsonschema(spec)


def _openapi_to_jsonschema(node: Any, key: str | None = None) -> Any:
    """OpenAPI 3.0 schemas as JSON Schema: ``nullable`` becomes a null type.

    One relaxation, on purpose: HubSpot sends ``null`` for a known property that has no value
    (``"domain": null``), which the published schema (``additionalProperties: string``) omits.
    """
    if isinstance(node, list):
        return [_openapi_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _openapi_to_jsonschema(v, k) for k, v in node.items()}
    if out.pop("nullable", False) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if key == "properties" and out.get("type") == "object":
        extra = out.get("additionalProperties")
        if isinstance(extra, dict) and extra.get("type") == "string":
            out["additionalProperties"] = {**extra, "type": ["string", "null"]}
    return out


SCHEMAS = {
    "companies": _load_spec("crm-companies-v3.openapi.json"),
    "associations": _load_spec("crm-associations-v4.openapi.json"),
    "webhooks": _load_spec("webhooks-v3.openapi.json"),
}


def validate(document: str, schema_name: str, instance: Any) -> None:
    spec = SCHEMAS[document]
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": spec["components"]}
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
    validator.validate(instance)


# -- hubspot-api-client -----------------------------------------------------------------------
def test_client_pages_through_every_company_exactly_once(
    hubspot_client: HubSpot, world: World
) -> None:
    api = hubspot_client.crm.companies.basic_api
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = api.get_page(limit=17, after=after, properties=["name", "account_key"])
        seen.extend(c.id for c in page.results)
        pages += 1
        if page.paging is None or page.paging.next is None:
            break
        after = page.paging.next.after
    assert pages > 3
    assert len(seen) == len(set(seen))
    assert set(seen) == expected_company_ids(world)

    everything = hubspot_client.crm.companies.get_all(properties=["name", "vat_number"])
    assert sorted(c.id for c in everything) == sorted(seen)


def test_client_search_on_last_modified(hubspot_client: HubSpot, world: World) -> None:
    all_companies = hubspot_client.crm.companies.get_all()
    stamps = sorted(c.properties["hs_lastmodifieddate"] for c in all_companies)
    cutoff = stamps[len(stamps) // 2]
    cutoff_ms = str(int(time_from_iso(cutoff) * 1000))
    request = PublicObjectSearchRequest(
        filter_groups=[
            FilterGroup(
                filters=[
                    Filter(property_name="hs_lastmodifieddate", operator="GTE", value=cutoff_ms)
                ]
            )
        ],
        sorts=[{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
        properties=["name", "account_key"],
        limit=200,
    )
    result = hubspot_client.crm.companies.search_api.do_search(public_object_search_request=request)
    expected = [s for s in stamps if s >= cutoff]
    assert result.total == len(expected)
    got = [c.properties["hs_lastmodifieddate"] for c in result.results]
    assert got == sorted(got) and got[0] == cutoff


def time_from_iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_client_batch_read_and_upsert(hubspot_client: HubSpot, world: World) -> None:
    crm = [c for c in world.companies if c.in_crm][:5]
    batch = hubspot_client.crm.companies.batch_api
    read = batch.read(
        BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=c.crm_company_id) for c in crm],
            properties=["name", "vat_number", "account_key"],
            properties_with_history=[],
        )
    )
    assert read.status == "COMPLETE"
    assert {r.id: r.properties["name"] for r in read.results} == {
        c.crm_company_id: c.name for c in crm
    }

    by_key = batch.read(
        BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=crm[0].key)],
            id_property="account_key",
            properties=["name"],
            properties_with_history=[],
        )
    )
    assert [r.id for r in by_key.results] == [crm[0].crm_company_id]

    upserted = batch.upsert(
        BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                SimplePublicObjectBatchInputUpsert(
                    id=crm[0].key, id_property="account_key", properties={"payment_terms": "NET45"}
                ),
                SimplePublicObjectBatchInputUpsert(
                    id="SP-NEW-0001",
                    id_property="account_key",
                    properties={"name": "Brand New GmbH", "domain": "brand-new.example"},
                ),
            ]
        )
    )
    outcome = {r.properties["account_key"]: (r.new, r.id) for r in upserted.results}
    assert outcome[crm[0].key] == (False, crm[0].crm_company_id)
    assert outcome["SP-NEW-0001"][0] is True
    again = batch.upsert(
        BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                SimplePublicObjectBatchInputUpsert(
                    id="SP-NEW-0001", id_property="account_key", properties={"city": "Köln"}
                )
            ]
        )
    )
    assert [(r.id, r.new) for r in again.results] == [(outcome["SP-NEW-0001"][1], False)]

    contact = crm[1].contacts[0]
    contacts = hubspot_client.crm.contacts.batch_api.upsert(
        ContactUpsertBatch(
            inputs=[
                ContactUpsert(
                    id=contact.email.upper(), id_property="email", properties={"jobtitle": "CFO"}
                )
            ]
        )
    )
    assert [(r.id, r.new) for r in contacts.results] == [
        (str(7_000_000_000 + crm[1].index * 10), False)
    ]


def test_client_associations_v4(hubspot_client: HubSpot, world: World) -> None:
    company = next(c for c in world.companies if c.in_crm and len(c.contacts) == 2)
    v4 = hubspot_client.crm.associations.v4.basic_api
    page = v4.get_page("companies", company.crm_company_id, "contacts")
    assert {r.to_object_id for r in page.results} == {
        str(7_000_000_000 + company.index * 10 + n) for n in range(2)
    }
    assert {t.type_id for t in page.results[0].association_types} == {2, 280}

    other = next(c for c in world.companies if c.in_crm and c.index != company.index)
    other_contact = str(7_000_000_000 + other.index * 10)
    v4.create_default("companies", company.crm_company_id, "contacts", other_contact)
    back = v4.get_page("contacts", other_contact, "companies")
    assert {r.to_object_id for r in back.results} == {other.crm_company_id, company.crm_company_id}
    v4.archive("companies", company.crm_company_id, "contacts", other_contact)
    back = v4.get_page("contacts", other_contact, "companies")
    assert {r.to_object_id for r in back.results} == {other.crm_company_id}

    paged = v4.get_page("companies", company.crm_company_id, "contacts", limit=1)
    assert len(paged.results) == 1 and paged.paging.next.after


# -- shapes -----------------------------------------------------------------------------------
def test_responses_validate_against_hubspot_openapi(http: httpx.Client, world: World) -> None:
    company = next(c for c in world.companies if c.in_crm and c.tax_id is None)
    listing = http.get(
        "/crm/v3/objects/companies",
        params={"limit": 5, "properties": "name,vat_number,nope", "associations": "contacts"},
    )
    body = listing.json()
    validate("companies", "CollectionResponseSimplePublicObjectWithAssociationsForwardPaging", body)
    assert body["paging"]["next"]["link"].startswith(str(http.base_url).rstrip("/"))
    assert "nope" not in body["results"][0]["properties"]

    read = http.get(
        f"/crm/v3/objects/companies/{company.crm_company_id}",
        params={"properties": "vat_number,name", "associations": "contacts"},
    ).json()
    validate("companies", "SimplePublicObjectWithAssociations", read)
    assert read["properties"]["vat_number"] is None
    assert read["properties"]["hs_lastmodifieddate"].endswith("Z")
    assert len(read["properties"]["hs_lastmodifieddate"]) == len("2025-01-01T00:00:00.000Z")

    search = http.post(
        "/crm/v3/objects/contacts/search",
        json={
            "filterGroups": [{"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}]}]
        },
    ).json()
    validate("companies", "CollectionResponseWithTotalSimplePublicObject", search)
    assert "lastmodifieddate" in search["results"][0]["properties"]

    batch = http.post(
        "/crm/v3/objects/companies/batch/read",
        json={"inputs": [{"id": company.crm_company_id}, {"id": "404404"}], "properties": ["name"]},
    )
    assert batch.status_code == 207
    validate("companies", "BatchResponseSimplePublicObjectWithErrors", batch.json())

    upsert = http.post(
        "/crm/v3/objects/companies/batch/upsert",
        json={"inputs": [{"id": company.key, "idProperty": "account_key", "properties": {}}]},
    )
    assert upsert.status_code == 200
    validate("companies", "BatchResponseSimplePublicUpsertObject", upsert.json())

    assoc = http.get(
        f"/crm/v4/objects/companies/{company.crm_company_id}/associations/contacts"
    ).json()
    validate("associations", "CollectionResponseMultiAssociatedObjectWithLabelForwardPaging", assoc)

    batch_assoc = http.post(
        "/crm/v4/associations/companies/contacts/batch/read",
        json={"inputs": [{"id": company.crm_company_id}]},
    ).json()
    validate("associations", "BatchResponsePublicAssociationMultiWithLabel", batch_assoc)

    subs = http.get(f"/webhooks/v3/{APP_ID}/subscriptions").json()
    validate("webhooks", "SubscriptionListResponse", subs)

    missing = http.get("/crm/v3/objects/companies/1")
    assert missing.status_code == 404
    validate("companies", "Error", missing.json())


def test_unauthenticated_calls_get_hubspot_401(sandbox: RunningSandbox) -> None:
    response = httpx.get(
        f"{sandbox.base_url}/crm/v3/objects/companies",
        headers={"Authorization": "Bearer wrong"},
    )
    assert response.status_code == 401
    body = response.json()
    assert body["status"] == "error" and body["category"] == "INVALID_AUTHENTICATION"
    validate("companies", "Error", body)


def test_seeded_portal_matches_the_world(http: httpx.Client, world: World) -> None:
    props = "name,domain,vat_number,account_key,hs_parent_company_id,billing_customer_id"

    def company(object_id: str) -> dict[str, Any]:
        response = http.get(f"/crm/v3/objects/companies/{object_id}", params={"properties": props})
        assert response.status_code == 200, response.text
        return response.json()["properties"]

    duplicated = next(c for c in world.companies if c.crm_duplicate)
    original, twin = company(duplicated.crm_company_id), company(duplicated.crm_duplicate_id)
    assert twin["name"] != original["name"]
    assert twin["name"].strip().casefold() == original["name"].casefold()
    assert twin["domain"] == "www." + original["domain"]
    assert twin["vat_number"] is None

    invalid = next(c for c in world.companies if c.in_crm and c.tax_id and not c.tax_id_valid)
    assert company(invalid.crm_company_id)["vat_number"] == invalid.tax_id

    foreign = next(c for c in world.companies if c.in_crm and not c.name.isascii())
    assert company(foreign.crm_company_id)["name"] == foreign.name

    child = next(
        c
        for c in world.companies
        if c.in_crm and c.parent_index is not None and world.companies[c.parent_index].in_crm
    )
    parent = world.companies[child.parent_index or 0]
    assert company(child.crm_company_id)["hs_parent_company_id"] == parent.crm_company_id
    up = http.get(f"/crm/v4/objects/companies/{child.crm_company_id}/associations/companies")
    assert up.json()["results"] == [
        {
            "toObjectId": parent.crm_company_id,
            "associationTypes": [
                {"category": "HUBSPOT_DEFINED", "typeId": 14, "label": "Parent Company"}
            ],
        }
    ]

    person = http.get(
        f"/crm/v3/objects/contacts/{7_000_000_000 + child.index * 10}",
        params={"properties": "email,associatedcompanyid"},
    ).json()
    assert person["properties"]["email"] == child.contacts[0].email
    assert person["properties"]["associatedcompanyid"] == child.crm_company_id


# -- search limits and cursor ties ------------------------------------------------------------
def test_search_past_ten_thousand_results_is_refused(http: httpx.Client) -> None:
    response = http.post("/crm/v3/objects/companies/search", json={"after": "9950", "limit": 100})
    assert response.status_code == 400
    body = response.json()
    assert body["category"] == "VALIDATION_ERROR" and "10,000" in body["message"]
    assert http.post("/crm/v3/objects/companies/search", json={"limit": 201}).status_code == 400
    too_many_groups: dict[str, Any] = {"filterGroups": [{"filters": []}] * 6}
    assert http.post("/crm/v3/objects/companies/search", json=too_many_groups).status_code == 400


def test_batch_update_ties_survive_search_paging(http: httpx.Client, world: World) -> None:
    targets = [c.crm_company_id for c in world.companies if c.in_crm][10:50]
    updated = http.post(
        "/crm/v3/objects/companies/batch/update",
        json={"inputs": [{"id": i, "properties": {"industry": "RESEARCH"}} for i in targets]},
    )
    assert updated.status_code == 200, updated.text
    stamps = {r["properties"]["hs_lastmodifieddate"] for r in updated.json()["results"]}
    assert len(stamps) == 1  # one bulk write, one timestamp: a cursor tie
    (stamp,) = stamps

    seen: list[str] = []
    after: str | None = None
    while True:
        body: dict[str, Any] = {
            "filterGroups": [
                {
                    "filters": [
                        {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": stamp}
                    ]
                }
            ],
            "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
            "limit": 7,
        }
        if after:
            body["after"] = after
        page = http.post("/crm/v3/objects/companies/search", json=body).json()
        assert page["total"] == len(targets)
        seen.extend(r["id"] for r in page["results"])
        after = page.get("paging", {}).get("next", {}).get("after")
        if not after:
            break
    assert sorted(seen) == sorted(targets)


# -- faults -----------------------------------------------------------------------------------
def test_injected_rate_limit_is_hubspots_429(
    sandbox: RunningSandbox, http: httpx.Client, hubspot_client: HubSpot
) -> None:
    sandbox.set_faults(rate_limit=1.0)
    try:
        response = http.get("/crm/v3/objects/companies")
        assert response.status_code == 429
        body = response.json()
        assert set(body) == {"status", "message", "errorType", "correlationId", "policyName"}
        assert body["message"] == "You have reached your ten_secondly_rolling limit."
        assert (body["status"], body["errorType"], body["policyName"]) == (
            "error",
            "RATE_LIMIT",
            "TEN_SECONDLY_ROLLING",
        )
        uuid.UUID(body["correlationId"])
        # HubSpot's real 429 lacks ``category``, so it only meets the rest of the Error schema.
        error_schema = copy.deepcopy(SCHEMAS["companies"]["components"]["schemas"]["Error"])
        error_schema["required"] = ["correlationId", "message"]
        jsonschema.validate(body, error_schema, format_checker=jsonschema.FormatChecker())
        assert response.headers["X-HubSpot-RateLimit-Max"] == "190"
        assert response.headers["X-HubSpot-RateLimit-Remaining"] == "0"
        assert response.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
        assert "X-HubSpot-RateLimit-Daily-Remaining" in response.headers
        with pytest.raises(ApiException) as caught:
            hubspot_client.crm.companies.basic_api.get_page(limit=1)
        assert caught.value.status == 429
        sandbox.set_faults(rate_limit=0.0, server_error=1.0)
        failing = http.get("/crm/v3/objects/companies")
        assert failing.status_code in (500, 502, 503, 504)
        assert failing.json()["status"] == "error"
        validate("companies", "Error", failing.json())
    finally:
        sandbox.set_faults(rate_limit=0.0, server_error=0.0)
    first = http.get("/crm/v3/objects/companies", params={"limit": 1})
    second = http.get("/crm/v3/objects/companies", params={"limit": 1})
    assert first.status_code == second.status_code == 200
    remaining = [int(r.headers["X-HubSpot-RateLimit-Remaining"]) for r in (first, second)]
    assert remaining[1] == remaining[0] - 1  # a real rolling count of calls


# -- webhooks ---------------------------------------------------------------------------------
class _Receiver:
    """A webhook endpoint on a free loopback port that records what it is sent."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.received.append((dict(self.headers.items()), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hubspot/events?source=crm"

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [e for _, body in self.received for e in json.loads(body)]

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            events = self.events()
            if predicate(events):
                return events
            time.sleep(0.05)
        raise AssertionError(f"webhook events never matched; got {self.events()}")


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    rec = _Receiver()
    rec.thread.start()
    yield rec
    rec.server.shutdown()
    rec.server.server_close()


def test_webhooks_are_signed_arrays(tmp_path: Path, receiver: _Receiver) -> None:
    config = crm_config(tmp_path, customers=20, webhook_url=receiver.url)
    with running_sandbox(config) as sandbox:
        client = HubSpot(access_token=sandbox.api_key, host=sandbox.base_url)
        settings = httpx.get(
            f"{sandbox.base_url}/webhooks/v3/{APP_ID}/settings",
            headers={"Authorization": f"Bearer {sandbox.api_key}"},
        ).json()
        validate("webhooks", "SettingsResponse", settings)
        assert settings["targetUrl"] == receiver.url
        subscription = httpx.post(
            f"{sandbox.base_url}/webhooks/v3/{APP_ID}/subscriptions",
            headers={"Authorization": f"Bearer {sandbox.api_key}"},
            json={"eventType": "contact.propertyChange", "propertyName": "jobtitle"},
        )
        assert subscription.status_code == 201
        validate("webhooks", "SubscriptionResponse", subscription.json())

        created = client.crm.companies.basic_api.create(
            SimplePublicObjectInputForCreate(
                properties={"name": "Straße & Söhne", "country": "DE"}, associations=[]
            )
        )
        events = receiver.wait_for(
            lambda evs: (
                any(e["subscriptionType"] == "company.creation" for e in evs)
                and any(e.get("propertyName") == "name" for e in evs)
            )
        )
        mine = [e for e in events if e["objectId"] == int(created.id)]
        creation = next(e for e in mine if e["subscriptionType"] == "company.creation")
        assert {"eventId", "subscriptionId", "portalId", "appId", "occurredAt"} <= set(creation)
        assert creation["attemptNumber"] == 0 and creation["changeSource"]
        name_change = next(e for e in mine if e.get("propertyName") == "name")
        assert name_change["propertyValue"] == "Straße & Söhne"
        assert name_change["subscriptionType"] == "company.propertyChange"

        client.crm.companies.basic_api.archive(created.id)
        receiver.wait_for(lambda evs: any(e["subscriptionType"] == "company.deletion" for e in evs))

    secret = config.webhook_secret
    for headers, body in receiver.received:
        assert isinstance(json.loads(body), list) and len(json.loads(body)) <= 100
        timestamp = headers["X-HubSpot-Request-Timestamp"]
        assert abs(int(timestamp) - time.time() * 1000) < 5 * 60 * 1000
        expected = _v3_signature(secret, "POST", receiver.url, body, timestamp)
        assert hmac.compare_digest(headers["X-HubSpot-Signature-v3"], expected)
        tampered = body.replace(b"Stra", b"Stro") if b"Stra" in body else body + b" "
        forged = _v3_signature(secret, "POST", receiver.url, tampered, timestamp)
        assert not hmac.compare_digest(headers["X-HubSpot-Signature-v3"], forged)


def _v3_signature(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """Recomputed here from HubSpot's documentation, independently of the sandbox."""
    source = method + uri + body.decode("utf-8") + timestamp
    digest = hmac.new(secret.encode(), source.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


# -- persistence and determinism --------------------------------------------------------------
def _all_companies(sandbox: RunningSandbox) -> list[dict[str, Any]]:
    client = HubSpot(access_token=sandbox.api_key, host=sandbox.base_url)
    names = [
        "name", "domain", "country", "state", "city", "zip", "address", "phone", "industry",
        "lifecyclestage", "hs_parent_company_id", "vat_number", "account_key",
        "billing_customer_id", "payment_terms", "region",
    ]  # fmt: skip
    return [c.to_dict() for c in client.crm.companies.get_all(properties=names)]


def test_restart_keeps_state_and_does_not_reseed(tmp_path: Path) -> None:
    with running_sandbox(crm_config(tmp_path, customers=30)) as sandbox:
        client = HubSpot(access_token=sandbox.api_key, host=sandbox.base_url)
        made = client.crm.companies.basic_api.create(
            SimplePublicObjectInputForCreate(properties={"name": "After Seed Ltd"}, associations=[])
        )
        before = _all_companies(sandbox)
        gone = before[0]["id"]
        client.crm.companies.basic_api.archive(gone)
    with running_sandbox(crm_config(tmp_path, customers=50)) as sandbox:
        after = _all_companies(sandbox)
        client = HubSpot(access_token=sandbox.api_key, host=sandbox.base_url)
        archived = client.crm.companies.basic_api.get_by_id(gone, archived=True)
    assert [c["id"] for c in after] == [c["id"] for c in before if c["id"] != gone]
    assert made.id in {c["id"] for c in after}
    assert archived.archived is True


def test_seeding_is_deterministic(tmp_path: Path) -> None:
    snapshots = []
    for name in ("one", "two"):
        with running_sandbox(crm_config(tmp_path / name, customers=30)) as sandbox:
            snapshots.append(_all_companies(sandbox))
    assert snapshots[0] == snapshots[1]
    assert len(snapshots[0]) >= 25
