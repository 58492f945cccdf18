"""First-start seeding from the deterministic world (``sandboxes.kit.world``).

One company per region; each gets its reference data and the world's companies that are
already ERP customers. Ids are uuid5 values of (seed, what, key), so two sandboxes started with
the same seed agree on every id. No sales documents are seeded: history posted by the legacy
interface is out of scope.

The account hierarchy is a ``PARENT`` dimension whose values are customer numbers: finance has
set one up for every company of the region, and each ERP customer whose parent is an ERP
customer too carries it as a default dimension. Business Central's API cannot create
dimension values, so the sandbox cannot either.

Every fifth ERP customer has a ship-to address ``MAIN`` at its own address (table 222, served
by the companion extension's API), so clients meet ship-tos they did not create.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sandboxes.erp.entities import store_kind
from sandboxes.erp.wire import ZERO_GUID, format_stamp, stable_guid
from sandboxes.kit.store import SandboxStore
from sandboxes.kit.world import (
    COUNTRIES,
    PLANS,
    REGIONS,
    TAX_RATES,
    Company,
    World,
    build_world,
)

REGION_NAMES = {
    "na": "North America",
    "emea": "Europe, Middle East & Africa",
    "apac": "Asia Pacific",
}
LOCAL_CURRENCY = {"na": "USD", "emea": "EUR", "apac": "AUD"}
CURRENCIES = {
    "USD": ("US dollar", "$"),
    "EUR": ("Euro", "€"),
    "GBP": ("Pound", "£"),
    "AUD": ("Australian dollar", "$"),
}  # CHF deliberately missing
PAYMENT_TERMS = {"NET15": 15, "NET30": 30, "NET60": 60, "DUE": 0}
CLOSED_AFTER_DAYS = 75  # periods that ended longer ago than this are closed
BANK_ACCOUNT, RECEIVABLES, TAX_PAYABLE, FEES = "10100", "13100", "22300", "64100"
PARENT_DIMENSION = "PARENT"
_REGION_OF_COUNTRY = {c.code: c.region for c in COUNTRIES}

Row = tuple[str, dict[str, Any]]


def company_id(seed: int, region: str) -> str:
    return stable_guid(seed, "company", region)


def company_name(region: str) -> str:
    """How a client finds a region's company: ``name == "CRONUS " + region.upper()``."""
    return f"CRONUS {region.upper()}"


def seed_store(store: SandboxStore, seed: int, customers: int, anchor: date) -> None:
    world = build_world(seed, customers, anchor)
    stamp = format_stamp(datetime(anchor.year, anchor.month, anchor.day, tzinfo=UTC))
    with store.transaction():
        for region in REGIONS:
            cid = company_id(seed, region)
            store.insert("company", cid, _company(cid, region, stamp))
            tables = _reference_data(seed, region, anchor, stamp)
            refs = {
                kind: {doc["code"]: doc["id"] for _, doc in rows if "code" in doc}
                for kind, rows in tables.items()
            }
            tables["customer"] = list(_customers(seed, world.by_region[region], refs))
            tables["shipToAddress"] = list(_ship_tos(seed, world.by_region[region]))
            for kind, rows in _parent_dimension(seed, region, world, stamp).items():
                tables.setdefault(kind, []).extend(rows)
            for kind, rows in tables.items():
                store.insert_many(store_kind(kind, cid), rows)
        store.set_meta("anchor", anchor.isoformat())
        store.set_meta("seed", str(seed))
        store.set_meta("seeded", stamp)


def _doc(doc_id: str, stamp: str, **fields: Any) -> Row:
    return doc_id, {"id": doc_id, **fields, "lastModifiedDateTime": stamp, "_v": 1}


def _company(cid: str, region: str, stamp: str) -> dict[str, Any]:
    return {
        "id": cid,
        "systemVersion": "24.0.16410.18040",
        "name": company_name(region),
        "displayName": f"CRONUS {REGION_NAMES[region]}",
        "businessProfileId": "",
        "systemCreatedAt": stamp,
        "systemModifiedAt": stamp,
        "_region": region,
        "_lcy": LOCAL_CURRENCY[region],
        "_v": 1,
    }


def _reference_data(seed: int, region: str, anchor: date, stamp: str) -> dict[str, list[Row]]:
    def gid(*key: object) -> str:
        return stable_guid(seed, region, *key)

    accounts = [
        (BANK_ACCOUNT, "Checking Account", "Assets", "Cash"),
        (RECEIVABLES, "Accounts Receivable", "Assets", "Accounts Receivable"),
        (TAX_PAYABLE, "Sales Tax / VAT Payable", "Liabilities", "Current Liabilities"),
        *[
            (f"401{i}0", f"Revenue {name}", "Income", "Income, Services")
            for i, (_, name, _) in enumerate(PLANS, 1)
        ],
        (FEES, "Bank Fees", "Expense", "Other Expenses"),
    ]
    return {
        "currency": [
            _doc(
                gid("currency", code),
                stamp,
                code=code,
                displayName=name,
                symbol=symbol,
                amountDecimalPlaces="2:2",
                amountRoundingPrecision=0.01,
            )
            for code, (name, symbol) in CURRENCIES.items()
        ],
        "paymentTerm": [
            _doc(
                gid("terms", code),
                stamp,
                code=code,
                dueDateCalculation=f"{days}D",
                displayName="Due on receipt" if days == 0 else f"Net {days} days",
                discountDateCalculation="",
                discountPercent=0,
                calculateDiscountOnCreditMemos=False,
                _days=days,
            )
            for code, days in PAYMENT_TERMS.items()
        ],
        "taxGroup": [
            _doc(
                gid("tax", t.erp_tax_group),
                stamp,
                code=t.erp_tax_group,
                displayName=f"{t.display_name} {t.jurisdiction}",
                taxType="Sales Tax" if t.country == "US" else "VAT",
                _rateBp=t.percentage_bp,
            )
            for t in TAX_RATES
            if t.erp_tax_group and _REGION_OF_COUNTRY[t.country] == region
        ],
        "account": [
            _doc(
                gid("account", number),
                stamp,
                code=number,
                number=number,
                displayName=name,
                category=category,
                subCategory=sub,
                blocked=False,
                accountType="Posting",
                directPosting=True,
            )
            for number, name, category, sub in accounts
        ],
        "accountingPeriod": list(_periods(gid, anchor, stamp)),
        **_dimensions(gid, stamp),
        "item": [
            _doc(
                gid("item", code),
                stamp,
                code=code.upper(),
                number=code.upper(),
                displayName=name,
                type="Service",
                blocked=False,
                unitPrice=price,
                priceIncludesTax=False,
                unitCost=0,
                taxGroupId=ZERO_GUID,
                taxGroupCode="",
                baseUnitOfMeasureCode="PCS",
                _salesAccount=f"401{i}0",  # the item's general posting setup, in short
            )
            for i, (code, name, price) in enumerate(PLANS, 1)
        ],
        "customerPaymentJournal": [
            _doc(
                gid("journal", "GENERAL"),
                stamp,
                code="GENERAL",
                displayName="Cash receipts",
                balancingAccountId=gid("account", BANK_ACCOUNT),
                balancingAccountNumber=BANK_ACCOUNT,
            )
        ],
    }


def _periods(gid: Any, anchor: date, stamp: str) -> Iterator[Row]:
    closed_before = anchor - timedelta(days=CLOSED_AFTER_DAYS)
    for year in (anchor.year - 1, anchor.year):
        for month in range(1, 13):
            start = date(year, month, 1)
            end = date(year, month, calendar.monthrange(year, month)[1])
            closed = end < closed_before
            yield _doc(
                gid("period", start),
                stamp,
                startingDate=start.isoformat(),
                name=calendar.month_name[month],
                newFiscalYear=month == 1,
                closed=closed,
                dateLocked=closed,
            )


def _dimensions(gid: Any, stamp: str) -> dict[str, list[Row]]:
    values = {
        "REGION": ("Region", [(r.upper(), REGION_NAMES[r]) for r in REGIONS]),
        "DEPARTMENT": (
            "Department",
            [("SALES", "Sales"), ("ADM", "Administration"), ("PROD", "Production")],
        ),
    }
    dims: list[Row] = []
    dim_values: list[Row] = []
    for code, (name, members) in values.items():
        dim_id = gid("dimension", code)
        dims.append(_doc(dim_id, stamp, code=code, displayName=name))
        dim_values += [
            _doc(
                gid("dimension", code, value),
                stamp,
                code=value,
                dimensionId=dim_id,
                displayName=value_name,
            )
            for value, value_name in members
        ]
    return {"dimension": dims, "dimensionValue": dim_values}


def _parent_dimension(seed: int, region: str, world: World, stamp: str) -> dict[str, list[Row]]:
    def gid(*key: object) -> str:
        return stable_guid(seed, region, *key)

    dim_id = gid("dimension", PARENT_DIMENSION)
    companies = world.by_region[region]
    values = [
        _doc(
            gid("dimension", PARENT_DIMENSION, c.erp_customer_number),
            stamp,
            code=c.erp_customer_number,
            dimensionId=dim_id,
            displayName=c.name[:50],
        )
        for c in companies
    ]
    defaults = [
        _doc(
            gid("defaultDimension", child.key, PARENT_DIMENSION),
            stamp,
            parentType="Customer",
            parentId=customer_id(seed, child),
            dimensionId=dim_id,
            dimensionCode=PARENT_DIMENSION,
            dimensionValueId=gid("dimension", PARENT_DIMENSION, parent.erp_customer_number),
            dimensionValueCode=parent.erp_customer_number,
            postingValidation=" ",
        )
        for child, parent in _erp_parents(world, companies)
    ]
    return {
        "dimension": [_doc(dim_id, stamp, code=PARENT_DIMENSION, displayName="Parent account")],
        "dimensionValue": values,
        "defaultDimension": defaults,
    }


def _erp_parents(world: World, companies: list[Company]) -> Iterator[tuple[Company, Company]]:
    """(child, parent) pairs the ERP already knows: both are ERP customers."""
    for child in companies:
        if child.in_erp and child.parent_index is not None:
            parent = world.companies[child.parent_index]
            if parent.in_erp:
                yield child, parent


def customer_id(seed: int, company: Company) -> str:
    return stable_guid(seed, "customer", company.key)


def _customers(
    seed: int, companies: list[Company], refs: dict[str, dict[str, str]]
) -> Iterator[Row]:
    for company in companies:
        if not company.in_erp:
            continue
        rate = company.tax_rate
        yield _doc(
            customer_id(seed, company),
            format_stamp(company.created),
            number=company.erp_customer_number,
            displayName=company.legal_name,
            type="Company",
            **_address(company),
            phoneNumber=company.contacts[0].phone,
            email=company.email,
            website=company.domain,
            salespersonCode="",
            balanceDue=0,
            creditLimit=0,
            taxLiable=rate.percentage_bp > 0,
            taxAreaId=ZERO_GUID,
            taxAreaDisplayName="",
            taxRegistrationNumber=company.tax_id or "",
            currencyId=refs["currency"][company.currency],
            currencyCode=company.currency,
            paymentTermsId=refs["paymentTerm"][company.payment_terms],
            shipmentMethodId=ZERO_GUID,
            paymentMethodId=ZERO_GUID,
            blocked=" ",
            _companyKey=company.key,
        )


def _address(company: Company) -> dict[str, str]:
    return {
        "addressLine1": company.line1,
        "addressLine2": "",
        "city": company.city,
        "state": company.state,
        "country": company.country,
        "postalCode": company.postal_code,
    }


def _ship_tos(seed: int, companies: list[Company]) -> Iterator[Row]:
    for company in companies:
        if company.in_erp and company.index % 5 == 0:
            yield _doc(
                stable_guid(seed, "shipToAddress", company.key, "MAIN"),
                format_stamp(company.created),
                customerNumber=company.erp_customer_number,
                code="MAIN",
                name=company.legal_name,
                **_address(company),
                email="",
                phoneNumber=company.contacts[0].phone,
            )
