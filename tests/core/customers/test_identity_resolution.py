"""Deciding which CRM company, billing customer and ERP customer are one account."""

from __future__ import annotations

import pytest
from customer_factories import DE_VAT, source
from hypothesis import given, settings
from hypothesis import strategies as st

from sync_platform.customers.identity import (
    IdentityResult,
    XrefLink,
    canonical_id_for,
    normalize_domain,
    resolve_identities,
)
from sync_platform.customers.model import SourceCustomer, tax_registration


def resolve(*records: SourceCustomer, existing: tuple[XrefLink, ...] = ()) -> IdentityResult:
    def of(system: str) -> list[SourceCustomer]:
        return [record for record in records if record.system == system]

    return resolve_identities("emea", of("crm"), of("billing"), of("erp"), existing)


def link_of(result: IdentityResult, system: str, record_id: str) -> XrefLink:
    (link,) = [link for link in result.links if (system, record_id) in link.members().items()]
    return link


def test_links_a_billing_record_states_join_the_three_systems() -> None:
    result = resolve(
        source("billing", "cus_B1", links={"crm": "101", "erp": "C001"}),
        source("crm", "101"),
        source("erp", "C001"),
    )

    (link,) = result.links
    assert link.members() == {"crm": "101", "billing": "cus_B1", "erp": "C001"}
    assert link.match_rule == "explicit"
    assert link.canonical_id == canonical_id_for("billing", "cus_B1")
    assert result.ambiguous == ()


def test_a_crm_record_can_state_its_billing_customer() -> None:
    result = resolve(source("crm", "101", links={"billing": "cus_B1"}), source("billing", "cus_B1"))

    (link,) = result.links
    assert (link.crm_company_id, link.billing_customer_id) == ("101", "cus_B1")


def test_a_shared_valid_tax_registration_links_records() -> None:
    result = resolve(
        source("billing", "cus_B1", tax_registrations=[tax_registration("DE", DE_VAT)]),
        source("erp", "C001", tax_registrations=[tax_registration("Germany", "136 695 976")]),
    )

    (link,) = result.links
    assert (link.billing_customer_id, link.erp_customer_number) == ("cus_B1", "C001")
    assert link.match_rule == "tax_id"


def test_an_invalid_tax_registration_links_nothing() -> None:
    typo = [tax_registration("DE", "DE136695977")]

    result = resolve(
        source("billing", "cus_B1", tax_registrations=typo),
        source("erp", "C001", tax_registrations=typo),
    )

    assert len(result.links) == 2


def test_the_same_web_or_email_domain_links_records() -> None:
    result = resolve(
        source("billing", "cus_B1", domain="ap@Acme.com"),
        source("crm", "101", domain="https://www.acme.com/about"),
    )

    (link,) = result.links
    assert (link.crm_company_id, link.billing_customer_id) == ("101", "cus_B1")
    assert link.match_rule == "domain"


def test_a_company_twice_in_the_crm_is_ambiguous_and_never_merged() -> None:
    result = resolve(
        source("crm", "101", domain="acme.com", legal_name="Acme GmbH"),
        source("crm", "102", domain="www.acme.com", legal_name="ACME GmbH"),
        source("billing", "cus_B1", domain="acme.com"),
    )

    (finding,) = result.ambiguous
    assert (finding.subject_system, finding.subject_id) == ("billing", "cus_B1")
    assert finding.candidates == (("crm", "101"), ("crm", "102"))
    assert "2 crm records match by web/email domain" in finding.reason
    # Each record stays its own customer until someone decides.
    assert sorted(link.match_rule for link in result.links) == ["single"] * 3
    assert link_of(result, "billing", "cus_B1").crm_company_id is None


def test_an_ambiguous_crm_match_does_not_block_a_unique_erp_match() -> None:
    result = resolve(
        source("crm", "101", domain="acme.com"),
        source("crm", "102", domain="acme.com"),
        source("billing", "cus_B1", domain="acme.com"),
        source("erp", "C001", domain="acme.com"),
    )

    link = link_of(result, "billing", "cus_B1")
    assert (link.crm_company_id, link.erp_customer_number) == (None, "C001")
    # The account is barred from the CRM duplicates, reported once for the billing record.
    assert [f.subject_id for f in result.ambiguous] == ["cus_B1"]


def test_stronger_rules_win_over_weaker_ones() -> None:
    result = resolve(
        source("billing", "cus_B1", links={"crm": "101"}, domain="acme.com"),
        source("crm", "101", domain="other.com"),
        source("crm", "102", domain="acme.com"),
    )

    assert link_of(result, "billing", "cus_B1").crm_company_id == "101"
    assert link_of(result, "crm", "102").billing_customer_id is None
    assert result.ambiguous == ()


def test_unmatched_records_become_their_own_customers_anchored_on_billing_crm_erp() -> None:
    result = resolve(source("crm", "101"), source("erp", "C001"), source("billing", "cus_B1"))

    assert {link.canonical_id for link in result.links} == {
        canonical_id_for("crm", "101"),
        canonical_id_for("erp", "C001"),
        canonical_id_for("billing", "cus_B1"),
    }
    assert canonical_id_for("crm", "101").startswith("cus-")


def test_canonical_ids_are_stable_across_runs() -> None:
    records = (
        source("billing", "cus_B1", links={"crm": "101"}),
        source("crm", "101"),
        source("crm", "102"),
    )

    first = resolve(*records)
    again = resolve(*reversed(records))
    with_history = resolve(*records, existing=first.links)

    assert again == first
    assert [link.canonical_id for link in with_history.links] == [
        link.canonical_id for link in first.links
    ]


def test_existing_links_are_kept_and_completed() -> None:
    first = resolve(source("crm", "101", tax_registrations=[tax_registration("DE", DE_VAT)]))
    (crm_only,) = first.links

    later = resolve(
        source("crm", "101", tax_registrations=[tax_registration("DE", DE_VAT)]),
        source("erp", "C001", tax_registrations=[tax_registration("DE", DE_VAT)]),
        existing=first.links,
    )

    (link,) = later.links
    assert link.canonical_id == crm_only.canonical_id  # not re-anchored on the ERP record
    assert link.erp_customer_number == "C001"
    assert link.match_rule == "tax_id"


def test_an_existing_link_wins_over_a_stated_link_that_contradicts_it() -> None:
    existing = XrefLink(
        canonical_id="cus-known",
        region="emea",
        crm_company_id="100",
        billing_customer_id="cus_B1",
        match_rule="explicit",
    )

    result = resolve(
        source("billing", "cus_B1", links={"crm": "101"}),
        source("crm", "101"),
        existing=(existing,),
    )

    assert existing in result.links
    assert link_of(result, "crm", "101").billing_customer_id is None
    (finding,) = result.ambiguous
    assert finding.candidates == (("crm", "101"),)
    assert "already linked to crm record 100" in finding.reason


def test_two_existing_customers_are_never_merged_automatically() -> None:
    existing = (
        XrefLink(canonical_id="cus-a", region="emea", crm_company_id="101", match_rule="single"),
        XrefLink(
            canonical_id="cus-b", region="emea", billing_customer_id="B1", match_rule="single"
        ),
    )

    result = resolve(
        source("crm", "101", domain="acme.com"),
        source("billing", "B1", domain="acme.com"),
        existing=existing,
    )

    assert result.links == existing
    (finding,) = result.ambiguous
    assert "both already have canonical customers" in finding.reason


def test_a_record_passed_as_another_system_is_refused() -> None:
    with pytest.raises(ValueError, match="was passed as a billing record"):
        resolve_identities("emea", [], [source("crm", "101")], [], [])


@pytest.mark.parametrize(
    ("raw", "domain"),
    [
        ("https://www.Acme.com/about", "acme.com"),
        ("WWW.acme.com", "acme.com"),
        ("ap@acme.co.uk", "acme.co.uk"),
        ("acme.com:443", "acme.com"),
        ("  ", None),
    ],
)
def test_domains_are_normalized(raw: str, domain: str | None) -> None:
    assert normalize_domain(raw) == domain


_RECORDS = st.lists(
    st.builds(
        lambda system, n, link, domain: source(system, f"{system}-{n}", links=link, domain=domain),
        system=st.sampled_from(["crm", "billing", "erp"]),
        n=st.integers(1, 3),
        link=st.sampled_from([{}, {"crm": "crm-1"}, {"erp": "erp-2"}, {"billing": "billing-1"}]),
        domain=st.sampled_from([None, "acme.com", "www.acme.com", "globex.com"]),
    ),
    max_size=7,
)


@settings(max_examples=100, deadline=None)
@given(records=_RECORDS, data=st.data())
def test_every_record_lands_in_one_account_whatever_the_order(
    records: list[SourceCustomer], data: st.DataObject
) -> None:
    result = resolve(*records)

    assert resolve(*data.draw(st.permutations(records))) == result
    members = [(s, i) for link in result.links for s, i in link.members().items()]
    assert sorted(members) == sorted({(r.system, r.record_id) for r in records})


@settings(max_examples=100, deadline=None)
@given(records=_RECORDS)
def test_resolving_again_with_the_links_as_history_changes_no_link(
    records: list[SourceCustomer],
) -> None:
    first = resolve(*records)

    assert resolve(*records, existing=first.links).links == first.links
