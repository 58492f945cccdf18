"""The adapters inbox routing asks (``sync_platform.inbox_routing.Lookups``): regions from the
store's snapshots first, then from the source itself, each asked once per lookup object."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from resources.billing import BillingResource
from resources.crm import CrmResource
from resources.errors import NotFound
from sync_platform.customers.region_flow import billing_region
from sync_platform.inbox_routing import ChargeRef, Lookups
from sync_platform.settings import REGIONS
from sync_platform.store import Store
from sync_platform.transactions import flow
from sync_platform.transactions.billing_mapping import charge_took_money


def billing_region_lookup(billing: BillingResource, store: Store) -> flow.RegionLookup:
    """Billing customer id → region: the customer snapshots, else billing's customer."""

    def fetch(customer_id: str) -> str | None:
        try:
            customer = billing.get_customer(customer_id)
        except NotFound:
            return None
        country = customer.address.country if customer.address else None
        return billing_region(customer.metadata, country)

    return flow.RegionLookup(flow.billing_regions(store), fetch)


def inbox_lookups(
    store: Store, billing: BillingResource, crm: CrmResource | None = None
) -> Lookups:
    companies = store.source_regions("crm", "company")
    contacts = store.source_regions("crm", "contact")

    @cache
    def company_region(company_id: str) -> str | None:
        if company_id in companies or crm is None:
            return companies.get(company_id)
        try:
            region = crm.get_object("companies", company_id).prop("region")
        except NotFound:
            return None
        return region if region in REGIONS else None

    @cache
    def charge_of_intent(intent_id: str) -> ChargeRef | None:
        for charge in billing.list_charges(payment_intent=intent_id):
            if charge_took_money(charge):
                return ChargeRef(charge.id, charge.created, charge.customer)
        return None

    contact_region: Callable[[str], str | None] = contacts.get
    return Lookups(
        billing_customer_region=billing_region_lookup(billing, store),
        crm_company_region=company_region,
        crm_contact_region=contact_region,
        charge_of_intent=charge_of_intent,
    )
