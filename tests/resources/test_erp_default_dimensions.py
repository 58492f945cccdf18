"""The ERP system API's default dimensions against the ERP sandbox: the parent account of a
customer read with the customers, written under its ETag, refused when BC would refuse it."""

from __future__ import annotations

import pytest

from resources.erp import ErpResource
from resources.errors import BusinessRuleViolation, PreconditionFailed
from sandboxes.kit.world import World


def test_customers_are_read_with_their_parent_in_one_listing(
    erp: ErpResource, world: World
) -> None:
    company = erp.company_for_region("emea")

    customers = list(erp.list_customers(company.id, with_default_dimensions=True))

    parents = {
        c.number: d.dimensionValueCode
        for c in customers
        for d in c.defaultDimensions or ()
        if d.dimensionCode == "PARENT"
    }
    assert parents == {"C00025": "C00012"}
    assert all(c.defaultDimensions is None for c in erp.list_customers(company.id))
    codes = {v.code for v in erp.list_dimension_values(company.id, "PARENT")}
    assert codes == {c.erp_customer_number for c in world.by_region["emea"]}
    assert erp.list_dimension_values(company.id, "NO-SUCH-DIMENSION") == []


def test_a_parent_is_set_moved_and_removed_under_its_etag(erp: ErpResource) -> None:
    company = erp.company_for_region("na")
    customer = erp.create_customer(company.id, {"displayName": "Subsidiary Inc."})
    first = erp.find_dimension_value(company.id, "PARENT", "C00010")
    second = erp.find_dimension_value(company.id, "PARENT", "C00011")
    assert first is not None and second is not None
    assert erp.find_dimension_value(company.id, "PARENT", "C99999") is None

    created = erp.create_customer_default_dimension(
        company.id, customer.id, {"dimensionId": first.dimensionId, "dimensionValueId": first.id}
    )
    moved = erp.update_customer_default_dimension(
        company.id, customer.id, created, {"dimensionValueId": second.id}
    )

    assert (created.dimensionValueCode, moved.dimensionValueCode) == ("C00010", "C00011")
    with pytest.raises(PreconditionFailed):
        erp.delete_customer_default_dimension(company.id, customer.id, created)
    erp.delete_customer_default_dimension(company.id, customer.id, moved)
    assert erp.list_customer_default_dimensions(company.id, customer.id) == []


def test_a_value_of_another_dimension_is_a_business_rule_violation(erp: ErpResource) -> None:
    company = erp.company_for_region("apac")
    customer = erp.create_customer(company.id, {"displayName": "Tasman Pty Ltd"})
    parent = erp.find_dimension_value(company.id, "PARENT", "C00014")
    region = erp.find_dimension_value(company.id, "REGION", "APAC")
    assert parent is not None and region is not None

    with pytest.raises(BusinessRuleViolation, match="different Dimension records"):
        erp.create_customer_default_dimension(
            company.id,
            customer.id,
            {"dimensionId": parent.dimensionId, "dimensionValueId": region.id},
        )
