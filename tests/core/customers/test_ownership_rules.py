"""The ownership config: who owns what, and errors that name the file, key and value."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from customer_factories import OWNERSHIP_FILE

from sync_platform.config_files import ConfigError
from sync_platform.customers.model import CANONICAL_ATTRIBUTES
from sync_platform.customers.ownership import OwnershipRules

Change = Callable[[dict[str, Any]], object]


def test_the_shipped_config_follows_the_architecture() -> None:
    rules = OwnershipRules.load(OWNERSHIP_FILE)

    owners = {attribute: rules.owner_of(attribute) for attribute in CANONICAL_ATTRIBUTES}
    assert owners == {
        "trading_name": "crm",
        "parent_crm_company_id": "crm",
        "sales_contacts": "crm",
        "subscription_state": "billing",
        "billing_contacts": "billing",
        "invoice_delivery_email": "billing",
        "bill_to": "billing",
        "currency": "billing",
        "status": "billing",
        "legal_name": "erp",
        "payment_terms": "erp",
        "tax_registrations": "erp",
        "ship_to": "erp",
    }
    assert rules.fallback_order == ("erp", "billing", "crm")


def test_sources_for_an_attribute_start_with_its_owner() -> None:
    rules = OwnershipRules.load(OWNERSHIP_FILE)

    assert rules.sources_for("trading_name") == ("crm", "erp", "billing")


def test_asking_for_an_unknown_attribute_fails() -> None:
    with pytest.raises(KeyError, match="website"):
        OwnershipRules.load(OWNERSHIP_FILE).owner_of("website")


def _write_variant(tmp_path: Path, change: Change) -> Path:
    data = yaml.safe_load(OWNERSHIP_FILE.read_text())
    change(data)
    path = tmp_path / "ownership.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("change", "key", "value"),
    [
        (lambda d: d["owners"].update(website="crm"), "owners.website", "crm"),
        (lambda d: d["owners"].update(legal_name="sap"), "owners.legal_name", "sap"),
        (lambda d: d["owners"].pop("currency"), "owners.currency", "<missing>"),
        (lambda d: d.update(fallback_order=["erp", "crm"]), "fallback_order", ["erp", "crm"]),
        (lambda d: d.update(fallback_order=["erp", "x"]), "fallback_order[1]", "x"),
    ],
)
def test_bad_config_names_file_key_and_value(
    tmp_path: Path, change: Change, key: str, value: object
) -> None:
    path = _write_variant(tmp_path, change)

    with pytest.raises(ConfigError) as raised:
        OwnershipRules.load(path)

    assert (raised.value.path, raised.value.key, raised.value.value) == (path, key, value)
    assert str(path) in str(raised.value) and key in str(raised.value)


def test_yaml_syntax_errors_name_the_position(tmp_path: Path) -> None:
    path = tmp_path / "ownership.yaml"
    path.write_text("owners:\n  legal_name: erp\n  bill_to: [billing\n")

    with pytest.raises(ConfigError, match=r"ownership.yaml: line \d+, column \d+: not valid YAML"):
        OwnershipRules.load(path)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nowhere\.yaml"):
        OwnershipRules.load(tmp_path / "nowhere.yaml")
