"""The ERP system API's ship-to addresses against the ERP sandbox: Business Central's standard
API has none, so they come from the companion extension's custom API
(``/api/syncPlatform/integration/v1.0``), read per customer, created once per (customer, code),
changed only under their ETag."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from resources.erp import ErpResource, ErpShipToAddress, ShipToAddressFields
from resources.errors import NotFound, PermanentError, PreconditionFailed
from sandboxes.kit.world import World


def numbers(world: World, region: str) -> list[str]:
    return [c.erp_customer_number for c in world.by_region[region] if c.in_erp]


def test_ship_tos_are_read_for_the_company_or_one_customer(erp: ErpResource, world: World) -> None:
    company = erp.company_for_region("emea")
    seeded = {
        c.erp_customer_number: c for c in world.by_region["emea"] if c.in_erp and c.index % 5 == 0
    }

    every = erp.list_ship_to_addresses(company.id)

    assert {(a.customerNumber, a.code) for a in every} == {(n, "MAIN") for n in seeded}
    number, owner = next(iter(seeded.items()))
    (main,) = erp.list_ship_to_addresses(company.id, number)
    assert isinstance(main, ErpShipToAddress) and main.etag and main.lastModifiedDateTime
    assert (main.addressLine1, main.city, main.country) == (owner.line1, owner.city, owner.country)
    without = next(n for n in numbers(world, "emea") if n not in seeded)
    assert erp.list_ship_to_addresses(company.id, without) == []


def test_a_ship_to_is_created_once_per_customer_and_code(erp: ErpResource, world: World) -> None:
    company = erp.company_for_region("na")
    number = numbers(world, "na")[1]
    fields = ShipToAddressFields(
        customerNumber=number,
        code="SP00AB12",
        name="Wayne Health West",
        addressLine1="1 Market Street",
        city="San Francisco",
        state="CA",
        country="US",
        postalCode="94105",
    )

    created = erp.create_ship_to_address(company.id, fields)

    assert (created.customerNumber, created.code, created.state) == (number, "SP00AB12", "CA")
    assert [a.id for a in erp.list_ship_to_addresses(company.id, number)] == [created.id]
    with pytest.raises(PermanentError, match="already exists"):
        erp.create_ship_to_address(company.id, fields)
    with pytest.raises(PermanentError, match="The Customer does not exist"):
        erp.create_ship_to_address(company.id, {"customerNumber": "NOPE", "code": "X"})
    with pytest.raises(ValidationError):
        erp.create_ship_to_address(company.id, {"customerNumber": number, "code": "SP00AB12XYZ"})


def test_a_ship_to_changes_only_under_the_etag_read(erp: ErpResource, world: World) -> None:
    company = erp.company_for_region("apac")
    number = numbers(world, "apac")[0]
    created = erp.create_ship_to_address(
        company.id, {"customerNumber": number, "code": "DEPOT", "city": "Perth"}
    )

    moved = erp.update_ship_to_address(company.id, created, {"city": "Fremantle"})

    assert moved.city == "Fremantle" and moved.etag != created.etag
    with pytest.raises(PreconditionFailed):
        erp.update_ship_to_address(company.id, created, {"city": "Broome"})
    assert erp.list_ship_to_addresses(company.id, number)[-1].city == "Fremantle"


def test_a_missing_companion_api_says_what_to_install(erp: ErpResource) -> None:
    with pytest.raises(NotFound, match="install the sync-platform companion extension"):
        erp.list_ship_to_addresses("00000000-0000-0000-0000-00000000beef")
