"""The customer change policy: what a change may do once a customer has been invoiced."""

from __future__ import annotations

from pathlib import Path

import pytest
from customer_factories import POLICY_FILE, berlin_customer

from sync_platform.config_files import ConfigError
from sync_platform.customers.model import Address, Contact
from sync_platform.customers.policy import ChangePolicy, decide_change

POLICY = ChangePolicy.load(POLICY_FILE)
BEFORE = berlin_customer(parent_crm_company_id="900")
NEW_ADDRESS = Address(line1="Friedrichstr. 10", city="Berlin", country="DE", subdivision="DE-BE")
NEW_CONTACTS = [Contact(name="Bea Billing", email="bea@nordwind.de")]


def test_a_new_customer_is_applied() -> None:
    decision = decide_change(None, BEFORE, has_posted_invoice=True, policy=POLICY)

    assert decision.action == "apply"
    assert "legal_name" in decision.changed


def test_a_parent_change_after_an_invoice_goes_to_finance() -> None:
    proposed = BEFORE.model_copy(update={"parent_crm_company_id": "901"})

    decision = decide_change(BEFORE, proposed, has_posted_invoice=True, policy=POLICY)

    assert decision.action == "finance_review"
    assert decision.changed == ("parent_crm_company_id",)
    assert "parent account" in decision.reasons[0]


def test_a_parent_change_before_any_invoice_is_applied() -> None:
    proposed = BEFORE.model_copy(update={"parent_crm_company_id": "901"})

    assert decide_change(BEFORE, proposed, False, POLICY).action == "apply"


def test_a_bill_to_change_after_an_invoice_creates_a_new_ship_to() -> None:
    proposed = BEFORE.model_copy(update={"bill_to": NEW_ADDRESS})

    decision = decide_change(BEFORE, proposed, has_posted_invoice=True, policy=POLICY)

    assert decision.action == "new_ship_to"
    assert decision.changed == ("bill_to",)


def test_a_currency_change_after_an_invoice_goes_to_finance() -> None:
    proposed = BEFORE.model_copy(update={"currency": "USD"})

    assert decide_change(BEFORE, proposed, True, POLICY).action == "finance_review"


def test_only_billing_contacts_changing_updates_only_contacts() -> None:
    proposed = BEFORE.model_copy(
        update={"billing_contacts": NEW_CONTACTS, "invoice_delivery_email": "bea@nordwind.de"}
    )

    for invoiced in (True, False):
        decision = decide_change(BEFORE, proposed, invoiced, POLICY)
        assert decision.action == "billing_contact_only"
        assert decision.changed == ("billing_contacts", "invoice_delivery_email")


def test_the_first_matching_rule_decides_and_every_match_is_explained() -> None:
    proposed = BEFORE.model_copy(update={"parent_crm_company_id": "901", "bill_to": NEW_ADDRESS})

    decision = decide_change(BEFORE, proposed, has_posted_invoice=True, policy=POLICY)

    assert decision.action == "finance_review"
    assert len(decision.reasons) == 2


def test_other_changes_are_applied() -> None:
    proposed = BEFORE.model_copy(
        update={"trading_name": "Nordwind AI", "billing_contacts": NEW_CONTACTS}
    )

    decision = decide_change(BEFORE, proposed, has_posted_invoice=True, policy=POLICY)

    assert decision.action == "apply"
    assert decision.changed == ("trading_name", "billing_contacts")


def test_changes_of_form_only_are_no_change() -> None:
    proposed = BEFORE.model_copy(
        update={"legal_name": "NORDWIND  analytics gmbh", "lineage": {}, "external_ids": {}}
    )

    decision = decide_change(BEFORE, proposed, has_posted_invoice=True, policy=POLICY)

    assert (decision.action, decision.changed) == ("apply", ())


RULE = (
    "rules:\n"
    "  - name: r1\n"
    "    when_any_changed: [bill_to]\n"
    "    action: new_ship_to\n"
    "    reason: because\n"
)


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        (
            RULE.replace("[bill_to]", "[bill_to, website]"),
            "rules[0].when_any_changed[1]",
            "website",
        ),
        (RULE.replace("new_ship_to", "delete"), "rules[0].action", "delete"),
        (RULE.replace("reason: because\n", ""), "rules[0].reason", "<missing>"),
        (RULE + "default_action: ignore\n", "default_action", "ignore"),
        (RULE + "    posted_invoice: maybe\n", "rules[0].posted_invoice", "maybe"),
        (RULE + "    colour: red\n", "rules[0].colour", "red"),
        (RULE + RULE.removeprefix("rules:\n"), "rules", None),
        (
            RULE.replace("when_any_changed", "when_only_changed") + "    when_any_changed: [x]\n",
            "rules[0].when_any_changed[0]",
            "x",
        ),
    ],
)
def test_bad_policy_config_names_file_key_and_value(
    tmp_path: Path, text: str, key: str, value: object
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(text)

    with pytest.raises(ConfigError) as raised:
        ChangePolicy.load(path)

    assert (raised.value.path, raised.value.key) == (path, key)
    if value is not None:
        assert raised.value.value == value


def test_a_rule_needs_exactly_one_condition(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(RULE + "    when_only_changed: [currency]\n")

    with pytest.raises(ConfigError, match=r"policy.yaml: rules\[0\]: .*exactly one of"):
        ChangePolicy.load(path)
