"""The ERP sandbox, judged by an OData v4 client from PyPI (python-odata) and raw HTTP.

These tests read as the specification of the Business Central API v2.0 behaviour the sync
platform relies on: reflection of ``$metadata``, ``@odata.nextLink`` paging, ETags with 412,
``$filter``, posting documents, applying payments and credit memos, throttling and restarts;
and of the companion extension's custom API (ship-to addresses).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from odata import ODataService

from sandboxes.kit.server import RunningSandbox, SandboxConfig, running_sandbox
from sandboxes.kit.world import World, build_world

ANCHOR = datetime.now(UTC).date()  # posting defaults to today, so the world ends today
CUSTOMERS = 60


def erp_config(state_dir: Path, customers: int = CUSTOMERS) -> SandboxConfig:
    return SandboxConfig(kind="erp", state_dir=state_dir, customers=customers, anchor=ANCHOR)


class Erp:
    """A thin Business Central client over httpx: company-scoped paths, OData errors."""

    def __init__(self, sandbox: RunningSandbox) -> None:
        self.root = f"{sandbox.base_url}/api/v2.0"
        self.http = httpx.Client(headers={"Authorization": f"Bearer {sandbox.api_key}"})
        companies = self.http.get(f"{self.root}/companies").json()["value"]
        # A region's company is the one named "CRONUS <REGION>".
        self.company_ids = {c["name"].removeprefix("CRONUS ").lower(): c["id"] for c in companies}

    def url(self, region: str, path: str) -> str:
        return f"{self.root}/companies({self.company_ids[region]})/{path}"

    def get(self, region: str, path: str, **kw: Any) -> httpx.Response:
        return self.http.get(self.url(region, path), **kw)

    def post(self, region: str, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        return self.http.post(self.url(region, path), json=body, **kw)

    def patch(self, region: str, path: str, body: Any, etag: str) -> httpx.Response:
        return self.http.patch(self.url(region, path), json=body, headers={"If-Match": etag})

    def values(self, region: str, path: str, **params: str) -> list[dict[str, Any]]:
        response = self.get(region, path, params=params)
        assert response.status_code == 200, response.text
        return list(response.json()["value"])


def assert_odata_error(response: httpx.Response, status: int, code_prefix: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"].startswith(code_prefix), error
    assert error["message"]
    return str(error["message"])


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(42, CUSTOMERS, ANCHOR)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    with running_sandbox(erp_config(tmp_path_factory.mktemp("erp"))) as running:
        yield running


@pytest.fixture(scope="module")
def erp(sandbox: RunningSandbox) -> Erp:
    return Erp(sandbox)


def erp_customers(world: World, region: str) -> list[str]:
    return [c.erp_customer_number for c in world.by_region[region] if c.in_erp]


def new_invoice(erp: Erp, region: str, customer: str, **header: Any) -> dict[str, Any]:
    body = {"customerNumber": customer, "externalDocumentNumber": header.pop("ext", ""), **header}
    response = erp.post(region, "salesInvoices", body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def add_line(erp: Erp, region: str, invoice_id: str, **line: Any) -> dict[str, Any]:
    body = {"lineType": "Item", "lineObjectNumber": "TEAM", "quantity": 1, **line}
    response = erp.post(region, f"salesInvoices({invoice_id})/salesInvoiceLines", body)
    assert response.status_code == 201, response.text
    return dict(response.json())


# -- service document, metadata, companies ----------------------------------------------------
def test_requests_without_the_bearer_key_get_an_odata_401(sandbox: RunningSandbox) -> None:
    response = httpx.get(f"{sandbox.base_url}/api/v2.0/companies")
    assert_odata_error(response, 401, "Authentication_InvalidCredentials")


def test_one_company_per_region_named_after_it(erp: Erp) -> None:
    companies = erp.http.get(f"{erp.root}/companies").json()["value"]
    assert sorted(c["name"] for c in companies) == ["CRONUS APAC", "CRONUS EMEA", "CRONUS NA"]
    assert all(c["displayName"] and c["@odata.etag"].startswith('W/"') for c in companies)
    root = erp.http.get(f"{erp.root}/").json()
    assert {"customers", "salesInvoices", "customerPayments"} <= {s["name"] for s in root["value"]}


def test_python_odata_reflects_metadata_and_pages_every_customer_once(
    sandbox: RunningSandbox, erp: Erp, world: World
) -> None:
    session = requests.Session()
    session.headers.update(
        {"Authorization": f"Bearer {sandbox.api_key}", "Prefer": "odata.maxpagesize=7"}
    )
    pages: list[str] = []
    session.hooks["response"].append(lambda r, *a, **k: pages.append(r.url))
    service = ODataService(
        erp.url("na", ""), session=session, reflect_entities=True, quiet_progress=True
    )
    customer_set = service.entities["customers"]
    assert hasattr(service.entities["salesInvoices"], "post")  # the bound action is reflected
    assert "defaultDimensions" in service.entities

    customers = service.query(customer_set).all()

    numbers = [c.number for c in customers]
    assert sorted(numbers) == sorted(erp_customers(world, "na"))
    assert len(set(c.id for c in customers)) == len(customers)
    assert sum("skiptoken" in url for url in pages) == (len(customers) - 1) // 7
    first = service.query(customer_set).filter(customer_set.number == numbers[0]).first()
    assert first.displayName == customers[0].displayName


def test_server_page_size_and_prefer_maxpagesize(erp: Erp, world: World) -> None:
    response = erp.get("emea", "customers", headers={"Prefer": "odata.maxpagesize=5"})
    assert response.headers["Preference-Applied"] == "odata.maxpagesize=5"
    seen: list[str] = []
    body = response.json()
    while True:
        seen += [c["number"] for c in body["value"]]
        if "@odata.nextLink" not in body:
            break
        body = erp.http.get(body["@odata.nextLink"], headers={"Prefer": "odata.maxpagesize=5"})
        body = body.json()
    assert seen == sorted(erp_customers(world, "emea"))  # default order: insertion (seq)
    unpaged = erp.get("emea", "customers", params={"$count": "true"}).json()
    assert unpaged["@odata.count"] == len(seen) and "@odata.nextLink" not in unpaged


def test_top_skip_select_orderby(erp: Erp, world: World) -> None:
    numbers = sorted(erp_customers(world, "na"))
    page = erp.values("na", "customers", **{"$top": "3", "$skip": "2", "$select": "number"})
    assert [c["number"] for c in page] == numbers[2:5]
    assert set(page[0]) == {"@odata.etag", "number"}
    desc = erp.values("na", "customers", **{"$orderby": "number desc", "$top": "4"})
    assert [c["number"] for c in desc] == numbers[::-1][:4]


# -- ETags and writes --------------------------------------------------------------------------
def test_patch_with_a_stale_etag_is_412_and_the_current_etag_wins(erp: Erp) -> None:
    customer = erp.values("apac", "customers", **{"$top": "1"})[0]
    path = f"customers({customer['id']})"
    fresh = erp.patch("apac", path, {"phoneNumber": "+61-2-5550-0001"}, customer["@odata.etag"])
    assert fresh.status_code == 200, fresh.text

    stale = erp.patch("apac", path, {"displayName": "Lost update"}, customer["@odata.etag"])

    assert_odata_error(stale, 412, "Request_EntityChanged")
    current = erp.get("apac", path).json()
    assert current["displayName"] == customer["displayName"]
    assert current["phoneNumber"] == "+61-2-5550-0001"
    assert current["@odata.etag"] != customer["@odata.etag"]
    assert current["lastModifiedDateTime"] > customer["lastModifiedDateTime"]
    assert current["lastModifiedDateTime"].endswith("Z")
    missing = erp.http.patch(erp.url("apac", path), json={"city": "Perth"})
    assert_odata_error(missing, 428, "Request_")


def test_customer_create_validates_and_returns_201_with_location(erp: Erp) -> None:
    created = erp.post("na", "customers", {"displayName": "Newco Inc.", "currencyCode": "USD"})
    assert created.status_code == 201, created.text
    assert created.headers["Location"].endswith(f"customers({created.json()['id']})")
    assert created.json()["@odata.etag"] == created.headers["ETag"]
    assert_odata_error(erp.post("na", "customers", {"colour": "red"}), 400, "BadRequest")
    assert_odata_error(erp.post("na", "customers", {"taxLiable": "yes"}), 400, "BadRequest")
    assert_odata_error(
        erp.post("emea", "customers", {"displayName": "Swiss AG", "currencyCode": "CHF"}),
        400,
        "BadRequest",
    )
    unknown = erp.get("na", "customers(00000000-0000-0000-0000-00000000beef)")
    assert_odata_error(unknown, 404, "BadRequest_NotFound")
    etag = created.json()["@odata.etag"]
    deleted = erp.http.delete(
        erp.url("na", f"customers({created.json()['id']})"), headers={"If-Match": etag}
    )
    assert deleted.status_code == 204


# -- default dimensions: the parent account ---------------------------------------------------
def parent_value(erp: Erp, region: str, number: str) -> dict[str, Any]:
    """The PARENT dimension value whose code is a customer number."""
    dimension = erp.values(region, "dimensions", **{"$filter": "code eq 'PARENT'"})[0]
    path = f"dimensions({dimension['id']})/dimensionValues"
    return erp.values(region, path, **{"$filter": f"code eq '{number}'"})[0]


def test_parent_accounts_are_seeded_as_customer_default_dimensions(erp: Erp, world: World) -> None:
    for region in ("na", "emea", "apac"):
        numbers = {c.erp_customer_number for c in world.by_region[region]}
        dimension = erp.values(region, "dimensions", **{"$filter": "code eq 'PARENT'"})[0]
        values = erp.values(region, f"dimensions({dimension['id']})/dimensionValues")
        assert {v["code"] for v in values} == numbers
        expected = {
            c.erp_customer_number: world.companies[c.parent_index].erp_customer_number
            for c in world.by_region[region]
            if c.in_erp and c.parent_index is not None and world.companies[c.parent_index].in_erp
        }
        customers = erp.values(region, "customers", **{"$expand": "defaultDimensions"})
        parents = {
            c["number"]: d["dimensionValueCode"]
            for c in customers
            for d in c["defaultDimensions"]
            if d["dimensionCode"] == "PARENT"
        }
        assert parents == expected
    assert any(erp.values("emea", "defaultDimensions"))  # also a company-level set, as in BC


def test_a_default_dimension_is_one_per_customer_and_dimension(erp: Erp, world: World) -> None:
    customer = erp.post("na", "customers", {"displayName": "Subsidiary Inc."}).json()
    value = parent_value(erp, "na", erp_customers(world, "na")[0])
    path = f"customers({customer['id']})/defaultDimensions"
    body = {"dimensionId": value["dimensionId"], "dimensionValueId": value["id"]}

    created = erp.post("na", path, body)

    assert created.status_code == 201, created.text
    assert created.headers["Location"].endswith(f"{path}({created.json()['id']})")
    assert {k: created.json()[k] for k in ("parentType", "parentId", "dimensionCode")} == {
        "parentType": "Customer",
        "parentId": customer["id"],
        "dimensionCode": "PARENT",
    }
    assert created.json()["dimensionValueCode"] == value["code"]
    message = assert_odata_error(erp.post("na", path, body), 400, "Internal_EntityWithSameKey")
    assert "Dimension Code='PARENT'" in message
    assert [d["id"] for d in erp.values("na", path)] == [created.json()["id"]]
    unknown = {**body, "dimensionValueId": "00000000-0000-0000-0000-00000000beef"}
    message = assert_odata_error(erp.post("na", path, unknown), 400, "Application_")
    assert "dimensionValueId" in message
    region_value = erp.values("na", "dimensionValues", **{"$filter": "code eq 'NA'"})[0]
    mismatch = {**body, "dimensionValueId": region_value["id"]}
    assert_odata_error(erp.post("na", path, mismatch), 400, "Application_")
    by_code = {"dimensionId": value["dimensionId"], "dimensionValueCode": value["code"]}
    assert_odata_error(erp.post("na", path, by_code), 400, "BadRequest_ReadOnly")


def test_a_default_dimension_changes_only_under_its_current_etag(erp: Erp, world: World) -> None:
    customer = erp.post("emea", "customers", {"displayName": "Tochter GmbH"}).json()
    first, second = (parent_value(erp, "emea", n) for n in erp_customers(world, "emea")[:2])
    path = f"customers({customer['id']})/defaultDimensions"
    created = erp.post(
        "emea", path, {"dimensionId": first["dimensionId"], "dimensionValueId": first["id"]}
    ).json()
    item = f"{path}({created['id']})"

    moved = erp.patch("emea", item, {"dimensionValueId": second["id"]}, created["@odata.etag"])

    assert moved.status_code == 200, moved.text
    assert moved.json()["dimensionValueCode"] == second["code"]
    stale = erp.patch("emea", item, {"dimensionValueId": first["id"]}, created["@odata.etag"])
    assert_odata_error(stale, 412, "Request_EntityChanged")
    unguarded = erp.http.patch(erp.url("emea", item), json={"postingValidation": "Same Code"})
    assert_odata_error(unguarded, 428, "Request_")
    other = erp.values("emea", "dimensions", **{"$filter": "code eq 'REGION'"})[0]
    renamed = erp.patch("emea", item, {"dimensionId": other["id"]}, moved.json()["@odata.etag"])
    assert_odata_error(renamed, 400, "Application_")
    stale_delete = erp.http.delete(
        erp.url("emea", item), headers={"If-Match": created["@odata.etag"]}
    )
    assert_odata_error(stale_delete, 412, "Request_EntityChanged")
    deleted = erp.http.delete(
        erp.url("emea", item), headers={"If-Match": moved.json()["@odata.etag"]}
    )
    assert deleted.status_code == 204
    assert erp.values("emea", path) == []


# -- $filter -----------------------------------------------------------------------------------
def test_filters_on_number_modified_time_and_external_document_number(
    erp: Erp, world: World
) -> None:
    number = erp_customers(world, "na")[3]
    exact = erp.values("na", "customers", **{"$filter": f"number eq '{number}'"})
    assert [c["number"] for c in exact] == [number]

    customer = exact[0]
    before = customer["lastModifiedDateTime"]
    changed = erp.patch(
        "na", f"customers({customer['id']})", {"city": "Austin"}, customer["@odata.etag"]
    )
    assert changed.status_code == 200
    recent = erp.values("na", "customers", **{"$filter": f"lastModifiedDateTime gt {before}"})
    assert customer["id"] in [c["id"] for c in recent]
    assert all(c["lastModifiedDateTime"] > before for c in recent)

    invoice = new_invoice(erp, "na", number, ext="INV-O'Brien-1")
    escaped = "INV-O''Brien-1"
    both = erp.values(
        "na",
        "salesInvoices",
        **{"$filter": f"externalDocumentNumber eq '{escaped}' and customerNumber eq '{number}'"},
    )
    assert [i["id"] for i in both] == [invoice["id"]]
    either = erp.values(
        "na",
        "salesInvoices",
        **{"$filter": f"(status eq 'Open' or status eq 'Draft') and id eq {invoice['id']}"},
    )
    assert [i["id"] for i in either] == [invoice["id"]]


@pytest.mark.parametrize(
    "bad",
    ["number eq", "number eq 'x", "nosuchfield eq 1", "number eq 5", "(number eq 'a'", "a b c"],
)
def test_a_malformed_filter_is_a_400_odata_error(erp: Erp, bad: str) -> None:
    assert_odata_error(erp.get("na", "customers", params={"$filter": bad}), 400, "BadRequest")


# -- sales invoices ----------------------------------------------------------------------------
def test_invoice_with_lines_posts_to_open_with_the_same_id(erp: Erp, world: World) -> None:
    number = erp_customers(world, "na")[0]
    invoice = new_invoice(erp, "na", number, ext="BILL-1")
    add_line(erp, "na", invoice["id"], quantity=2, unitPrice=100, taxCode="US-CA")
    add_line(erp, "na", invoice["id"], lineType="Comment", description="Thanks!")

    posted = erp.post("na", f"salesInvoices({invoice['id']})/Microsoft.NAV.post")

    assert posted.status_code == 204, posted.text
    read = erp.get("na", f"salesInvoices({invoice['id']})", params={"$expand": "salesInvoiceLines"})
    body = read.json()
    assert body["id"] == invoice["id"] and body["status"] == "Open"
    assert body["totalAmountExcludingTax"] == 200.0
    assert body["totalTaxAmount"] == 14.5  # 7.25 % California sales tax
    assert body["totalAmountIncludingTax"] == body["remainingAmount"] == 214.5
    assert [line["lineType"] for line in body["salesInvoiceLines"]] == ["Item", "Comment"]
    again = erp.post("na", f"salesInvoices({invoice['id']})/Microsoft.NAV.post")
    assert_odata_error(again, 400, "Application_")


def test_deep_insert_of_lines(erp: Erp, world: World) -> None:
    number = erp_customers(world, "apac")[0]
    lines = [{"lineType": "Item", "lineObjectNumber": "STARTER", "quantity": 3}]
    created = erp.post(
        "apac",
        "salesInvoices?$expand=salesInvoiceLines",
        {"customerNumber": number, "salesInvoiceLines": lines},
    )
    assert created.status_code == 201, created.text
    assert created.json()["salesInvoiceLines"][0]["amountExcludingTax"] == 147.0  # 3 x 49.00


def test_a_deep_insert_is_all_or_nothing(erp: Erp, world: World) -> None:
    number = erp_customers(world, "apac")[2]
    before = new_invoice(erp, "apac", number, ext="DEEP-OK-1")
    lines = [
        {"lineType": "Item", "lineObjectNumber": "STARTER", "quantity": 1},
        {"lineType": "Item", "lineObjectNumber": "NO-SUCH-ITEM", "quantity": 1},
    ]
    body = {
        "customerNumber": number,
        "externalDocumentNumber": "DEEP-BAD",
        "salesInvoiceLines": lines,
    }

    refused = erp.post("apac", "salesInvoices", body)

    assert "NO-SUCH-ITEM" in assert_odata_error(refused, 400, "BadRequest")
    flt = {"$filter": "externalDocumentNumber eq 'DEEP-BAD'"}
    assert erp.values("apac", "salesInvoices", **flt) == []
    after = new_invoice(erp, "apac", number, ext="DEEP-OK-2")
    assert int(after["number"]) == int(before["number"]) + 1, "not even a number was used"


def test_posting_into_a_closed_period_fails_with_a_clear_400(erp: Erp, world: World) -> None:
    periods = erp.values("na", "accountingPeriods", **{"$filter": "closed eq true"})
    assert periods, "periods that ended > 75 days before the anchor are closed"
    old_day = (ANCHOR - timedelta(days=120)).isoformat()
    invoice = new_invoice(erp, "na", erp_customers(world, "na")[1], invoiceDate=old_day)
    add_line(erp, "na", invoice["id"])

    refused = erp.post("na", f"salesInvoices({invoice['id']})/Microsoft.NAV.post")

    message = assert_odata_error(refused, 400, "Application_")
    assert "closed accounting period" in message and old_day in message
    assert erp.get("na", f"salesInvoices({invoice['id']})").json()["status"] == "Draft"


def test_a_line_with_an_unknown_tax_code_cannot_be_posted(erp: Erp, world: World) -> None:
    codes = {g["code"] for g in erp.values("emea", "taxGroups")}
    assert codes == {"VAT19", "VAT20", "UKVAT20", "VAT21"}
    invoice = new_invoice(erp, "emea", erp_customers(world, "emea")[0])
    add_line(erp, "emea", invoice["id"], taxCode="NL21")

    refused = erp.post("emea", f"salesInvoices({invoice['id']})/Microsoft.NAV.post")

    message = assert_odata_error(refused, 400, "Application_")
    assert "NL21" in message and "tax group" in message.lower()


# -- payments and credit memos ---------------------------------------------------------------
def test_payment_applied_to_an_invoice_reduces_remaining_amount(erp: Erp, world: World) -> None:
    customer = erp_customers(world, "na")[2]
    invoice = new_invoice(erp, "na", customer)
    add_line(erp, "na", invoice["id"], quantity=1, unitPrice=300, taxCode="US-EXEMPT")
    assert erp.post("na", f"salesInvoices({invoice['id']})/Microsoft.NAV.post").status_code == 204
    journal = erp.values("na", "customerPaymentJournals", **{"$filter": "code eq 'GENERAL'"})[0]
    payment = erp.post(
        "na",
        f"customerPaymentJournals({journal['id']})/customerPayments",
        {"customerNumber": customer, "amount": 120.5, "appliesToInvoiceNumber": invoice["number"]},
    )
    assert payment.status_code == 201, payment.text
    assert payment.json()["appliesToInvoiceId"] == invoice["id"]
    assert payment.json()["journalDisplayName"] == "GENERAL"

    posted = erp.post("na", f"customerPaymentJournals({journal['id']})/Microsoft.NAV.post")

    assert posted.status_code == 204, posted.text
    after = erp.get("na", f"salesInvoices({invoice['id']})").json()
    assert after["remainingAmount"] == 179.5 and after["status"] == "Open"
    assert erp.values("na", f"customerPaymentJournals({journal['id']})/customerPayments") == []

    rest = {"customerNumber": customer, "amount": 179.5, "appliesToInvoiceId": invoice["id"]}
    assert erp.post("na", "customerPayments", rest).status_code == 201
    assert erp.post("na", f"customerPaymentJournals({journal['id']})/Microsoft.NAV.post")
    paid = erp.get("na", f"salesInvoices({invoice['id']})").json()
    assert paid["remainingAmount"] == 0.0 and paid["status"] == "Paid"


def test_a_credit_memo_referencing_an_invoice_posts(erp: Erp, world: World) -> None:
    customer = erp_customers(world, "apac")[1]
    invoice = new_invoice(erp, "apac", customer)
    add_line(erp, "apac", invoice["id"], unitPrice=100, taxCode="GST10")
    assert erp.post("apac", f"salesInvoices({invoice['id']})/Microsoft.NAV.post").status_code == 204
    memo = erp.post(
        "apac",
        "salesCreditMemos",
        {
            "customerNumber": customer,
            "invoiceNumber": invoice["number"],
            "salesCreditMemoLines": [
                {"lineObjectNumber": "TEAM", "quantity": 1, "unitPrice": 40, "taxCode": "GST10"}
            ],
        },
    ).json()
    assert memo["invoiceId"] == invoice["id"]

    posted = erp.post("apac", f"salesCreditMemos({memo['id']})/Microsoft.NAV.post")

    assert posted.status_code == 204, posted.text
    memo_after = erp.get("apac", f"salesCreditMemos({memo['id']})").json()
    assert memo_after["status"] == "Paid" and memo_after["totalAmountIncludingTax"] == 44.0
    invoice_after = erp.get("apac", f"salesInvoices({invoice['id']})").json()
    assert invoice_after["remainingAmount"] == 110.0 - 44.0


# -- general ledger ----------------------------------------------------------------------------
def ledger(
    erp: Erp, region: str, document_type: str, number: str
) -> dict[str, tuple[float, float]]:
    """Account number → (debit, credit) of one posted document's G/L entries."""
    flt = f"documentType eq '{document_type}' and documentNumber eq '{number}'"
    entries = erp.values(region, "generalLedgerEntries", **{"$filter": flt})
    return {e["accountNumber"]: (e["debitAmount"], e["creditAmount"]) for e in entries}


def test_posting_writes_balanced_general_ledger_entries(erp: Erp, world: World) -> None:
    customer = erp_customers(world, "na")[3]
    invoice = new_invoice(erp, "na", customer, ext="GL-INV")
    add_line(erp, "na", invoice["id"], quantity=2, unitPrice=100, taxCode="US-CA")
    add_line(
        erp,
        "na",
        invoice["id"],
        lineType="Account",
        lineObjectNumber="40110",
        unitPrice=50,
        taxCode="US-CA",
    )
    assert ledger(erp, "na", "Invoice", invoice["number"]) == {}, "drafts are not in the ledger"

    assert erp.post("na", f"salesInvoices({invoice['id']})/Microsoft.NAV.post").status_code == 204

    assert ledger(erp, "na", "Invoice", invoice["number"]) == {
        "13100": (268.13, 0.0),  # receivables: 250.00 + 7.25 % tax, rounded per line
        "40120": (0.0, 200.0),  # the TEAM item's revenue account
        "40110": (0.0, 50.0),  # the account line's own account
        "22300": (0.0, 18.13),  # sales tax payable
    }
    memo = erp.post(
        "na",
        "salesCreditMemos",
        {
            "customerNumber": customer,
            "invoiceId": invoice["id"],
            "salesCreditMemoLines": [
                {"lineObjectNumber": "TEAM", "quantity": 1, "unitPrice": 100, "taxCode": "US-CA"}
            ],
        },
    ).json()
    assert erp.post("na", f"salesCreditMemos({memo['id']})/Microsoft.NAV.post").status_code == 204
    assert ledger(erp, "na", "Credit Memo", memo["number"]) == {
        "13100": (0.0, 107.25),
        "40120": (100.0, 0.0),
        "22300": (7.25, 0.0),
    }
    payment = {"customerNumber": customer, "amount": 161.0, "documentNumber": "GL-PAY"}
    assert erp.post("na", "customerPayments", payment).status_code == 201
    journal = erp.values("na", "customerPaymentJournals", **{"$filter": "code eq 'GENERAL'"})[0]
    assert erp.post("na", f"customerPaymentJournals({journal['id']})/Microsoft.NAV.post")

    assert ledger(erp, "na", "Payment", "GL-PAY") == {"10100": (161.0, 0.0), "13100": (0.0, 161.0)}
    entry = erp.values("na", "generalLedgerEntries", **{"$filter": "documentNumber eq 'GL-PAY'"})[0]
    assert entry["postingDate"] == ANCHOR.isoformat() and entry["entryNumber"] > 0
    read_only = erp.post("na", "generalLedgerEntries", {"documentNumber": "X"})
    assert_odata_error(read_only, 405, "BadRequest_MethodNotAllowed")


# -- ship-to addresses: the companion extension's custom API ----------------------------------
COMPANION = "api/syncPlatform/integration/v1.0"


class ShipTos:
    """``shipToAddresses`` of one region's company, under the companion extension's API."""

    def __init__(self, erp: Erp, region: str) -> None:
        self.http = erp.http
        self.root = f"{erp.root.removesuffix('/api/v2.0')}/{COMPANION}"
        self.company = f"{self.root}/companies({erp.company_ids[region]})"
        self.url = f"{self.company}/shipToAddresses"

    def post(self, body: Any) -> httpx.Response:
        return self.http.post(self.url, json=body)

    def patch(self, item: dict[str, Any], body: Any, etag: str) -> httpx.Response:
        return self.http.patch(f"{self.url}({item['id']})", json=body, headers={"If-Match": etag})

    def values(self, **params: str) -> list[dict[str, Any]]:
        response = self.http.get(self.url, params=params)
        assert response.status_code == 200, response.text
        return list(response.json()["value"])


def site(number: str, code: str, **fields: Any) -> dict[str, Any]:
    return {
        "customerNumber": number,
        "code": code,
        "name": "Site",
        "addressLine1": "1 Rue de la Paix",
        "city": "Lyon",
        "country": "fr",
        "postalCode": "69001",
        **fields,
    }


def test_the_companion_api_has_its_own_service_document_and_metadata(
    sandbox: RunningSandbox, erp: Erp, world: World
) -> None:
    ship_tos = ShipTos(erp, "na")
    root = erp.http.get(f"{ship_tos.root}/").json()
    assert [s["name"] for s in root["value"]] == ["companies", "shipToAddresses"]
    assert root["@odata.context"] == f"{ship_tos.root}/$metadata"
    metadata = erp.http.get(f"{ship_tos.root}/$metadata").text
    assert '<EntityType Name="shipToAddress">' in metadata
    assert '<Property Name="code" Type="Edm.String" MaxLength="10"/>' in metadata
    assert '<EntityType Name="customer">' not in metadata
    # Business Central's standard API has no ship-to entity.
    assert "shipToAddress" not in erp.http.get(f"{erp.root}/$metadata").text
    assert_odata_error(erp.get("na", "shipToAddresses"), 404, "BadRequest_NotFound")
    assert_odata_error(erp.http.get(f"{ship_tos.company}/customers"), 404, "BadRequest_NotFound")

    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {sandbox.api_key}"})
    service = ODataService(
        f"{ship_tos.company}/", session=session, reflect_entities=True, quiet_progress=True
    )
    entity = service.entities["shipToAddresses"]
    seeded = [c for c in world.by_region["na"] if c.in_erp and c.index % 5 == 0]
    found = service.query(entity).filter(entity.customerNumber == seeded[0].erp_customer_number)
    main = found.first()
    assert (main.code, main.addressLine1) == ("MAIN", seeded[0].line1)


def test_a_ship_to_needs_an_existing_customer_and_a_unique_code(erp: Erp, world: World) -> None:
    ship_tos = ShipTos(erp, "emea")
    number, other = erp_customers(world, "emea")[1:3]

    created = ship_tos.post(site(number, "sp1a2b3c"))

    assert created.status_code == 201, created.text
    assert created.headers["Location"] == f"{ship_tos.url}({created.json()['id']})"
    assert created.headers["ETag"] == created.json()["@odata.etag"]
    assert (created.json()["code"], created.json()["country"]) == ("SP1A2B3C", "FR")
    assert created.json()["lastModifiedDateTime"].endswith("Z")
    message = assert_odata_error(
        ship_tos.post(site(number, "SP1A2B3C", city="Paris")), 400, "Internal_EntityWithSameKey"
    )
    assert f"Customer No.='{number}',Code='SP1A2B3C'" in message
    assert ship_tos.post(site(other, "SP1A2B3C")).status_code == 201
    unknown = assert_odata_error(ship_tos.post(site("NOPE", "X")), 400, "BadRequest_RecordNotFound")
    assert unknown == "The Customer does not exist. Identification fields and values: No.='NOPE'"
    assert_odata_error(ship_tos.post(site(number, "")), 400, "Application_")
    too_long = ship_tos.post(site(number, "SP1A2B3C4D5"))
    assert_odata_error(too_long, 400, "Application_StringExceededLength")
    assert_odata_error(ship_tos.post({**site(number, "Y"), "colour": "red"}), 400, "BadRequest")
    mine = f"customerNumber eq '{number}' and code eq 'SP1A2B3C'"
    assert [s["id"] for s in ship_tos.values(**{"$filter": mine})] == [created.json()["id"]]


def test_ship_tos_are_filtered_and_paged_with_next_links(erp: Erp, world: World) -> None:
    ship_tos = ShipTos(erp, "apac")
    number = erp_customers(world, "apac")[2]
    codes = [f"SITE{i}" for i in range(5)]
    for code in codes:
        assert ship_tos.post(site(number, code)).status_code == 201
    mine = {"$filter": f"customerNumber eq '{number}' and startswith(code, 'SITE')"}

    seen: list[str] = []
    url: str | None = ship_tos.url
    params: dict[str, str] | None = mine
    while url is not None:
        page = erp.http.get(url, params=params, headers={"Prefer": "odata.maxpagesize=2"}).json()
        seen += [s["code"] for s in page["value"]]
        url, params = page.get("@odata.nextLink"), None
        assert url is None or url.startswith(f"{ship_tos.url}?")

    assert seen == codes
    assert [s["code"] for s in ship_tos.values(**mine, **{"$top": "3"})] == codes[:3]


def test_a_ship_to_changes_only_under_its_current_etag(erp: Erp, world: World) -> None:
    ship_tos = ShipTos(erp, "na")
    number = erp_customers(world, "na")[4]
    first = ship_tos.post(site(number, "DEPOT")).json()
    second = ship_tos.post(site(number, "DOCK")).json()

    moved = ship_tos.patch(first, {"city": "Marseille"}, first["@odata.etag"])

    assert moved.status_code == 200, moved.text
    assert moved.json()["city"] == "Marseille"
    assert moved.json()["lastModifiedDateTime"] > first["lastModifiedDateTime"]
    stale = ship_tos.patch(first, {"city": "Nice"}, first["@odata.etag"])
    assert_odata_error(stale, 412, "Request_EntityChanged")
    unguarded = erp.http.patch(f"{ship_tos.url}({first['id']})", json={"city": "Nice"})
    assert_odata_error(unguarded, 428, "Request_")
    clash = ship_tos.patch(second, {"code": "DEPOT"}, second["@odata.etag"])
    assert_odata_error(clash, 400, "Internal_EntityWithSameKey")
    item = f"{ship_tos.url}({first['id']})"
    stale_delete = erp.http.delete(item, headers={"If-Match": first["@odata.etag"]})
    assert_odata_error(stale_delete, 412, "Request_EntityChanged")
    deleted = erp.http.delete(item, headers={"If-Match": moved.json()["@odata.etag"]})
    assert deleted.status_code == 204
    assert_odata_error(erp.http.get(item), 404, "BadRequest_NotFound")


# -- faults and restarts -----------------------------------------------------------------------
def test_throttling_answers_429_with_retry_after_until_reset(
    sandbox: RunningSandbox, erp: Erp
) -> None:
    sandbox.set_faults(rate_limit=1.0)
    try:
        throttled = erp.get("na", "customers")
        assert_odata_error(throttled, 429, "Application_TooManyRequests")
        assert int(throttled.headers["Retry-After"]) >= 1
    finally:
        sandbox.set_faults(rate_limit=0.0)
    assert erp.get("na", "customers").status_code == 200
    sandbox.set_faults(server_error=1.0)
    try:
        assert_odata_error(erp.get("na", "customers"), 503, "ServiceUnavailable")
    finally:
        sandbox.set_faults(server_error=0.0)


def test_restart_keeps_state_and_does_not_reseed(tmp_path: Path) -> None:
    config = erp_config(tmp_path, customers=20)
    with running_sandbox(config) as first:
        erp = Erp(first)
        created = erp.post("emea", "customers", {"displayName": "Kept GmbH"}).json()
        before = erp.values("emea", "customers", **{"$count": "true"})
    with running_sandbox(config.model_copy(update={"customers": 40})) as second:
        erp = Erp(second)
        after = erp.values("emea", "customers")
        assert [c["id"] for c in after] == [c["id"] for c in before]
        kept = erp.get("emea", f"customers({created['id']})").json()
        assert kept["displayName"] == "Kept GmbH"
        health = httpx.get(f"{second.base_url}/_sandbox/health").json()
        assert health["anchor"] == ANCHOR.isoformat()


def test_the_sandbox_only_out_of_band_edit_changes_a_posted_invoice_the_api_cannot(
    sandbox: RunningSandbox, erp: Erp, world: World
) -> None:
    number = erp_customers(world, "emea")[3]
    invoice = new_invoice(erp, "emea", number, ext="OOB-1")
    add_line(erp, "emea", invoice["id"], quantity=1, unitPrice=100)
    draft = new_invoice(erp, "emea", number, ext="OOB-DRAFT")
    assert erp.post("emea", f"salesInvoices({invoice['id']})/Microsoft.NAV.post").status_code == 204
    posted = erp.get("emea", f"salesInvoices({invoice['id']})").json()
    refused = erp.patch(
        "emea",
        f"salesInvoices({invoice['id']})",
        {"externalDocumentNumber": "X"},
        posted["@odata.etag"],
    )
    assert refused.status_code == 400
    url = f"{sandbox.base_url}/_sandbox/out_of_band/invoice_amount"
    body = {"company": erp.company_ids["emea"], "externalDocumentNumber": "OOB-1"}

    edited = erp.http.post(url, json={**body, "totalAmountIncludingTax": 15_000})
    unauthorized = httpx.post(url, json={**body, "totalAmountIncludingTax": 1})
    not_posted = erp.http.post(
        url,
        json={
            **body,
            "externalDocumentNumber": draft["externalDocumentNumber"],
            "totalAmountIncludingTax": 1,
        },
    )

    assert edited.status_code == 200, edited.text
    after = erp.get("emea", f"salesInvoices({invoice['id']})").json()
    assert after["totalAmountIncludingTax"] == after["remainingAmount"] == 150.0
    assert after["@odata.etag"] != posted["@odata.etag"]
    assert unauthorized.status_code == 401
    assert not_posted.status_code == 404
