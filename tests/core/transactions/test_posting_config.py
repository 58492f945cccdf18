"""config/posting.yaml: the shipped mapping loads, and a bad one names file, key and value."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync_platform.config_files import ConfigError
from sync_platform.transactions.mappings import PostingConfig

GOOD_REGION = "na: {erp_company: CRONUS NA, local_currency: USD, currencies: [USD]}"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "posting.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_mapping_loads_and_leaves_the_dutch_rate_unmapped() -> None:
    config = PostingConfig.load()
    assert config.tax_group("txr_DE19", "emea") == "VAT19"
    assert config.tax_group("txr_DE19", "na") is None
    assert config.tax_group("txr_NL21", "emea") is None
    assert {t.line_type for t in config.products.values()} == {"Item"}
    assert config.region("emea").currencies == ("EUR", "GBP")


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        (
            "regions:\n  na: {erp_company: X, local_currency: USD, currencies: [USD, ABC]}\n",
            "regions.na.currencies[1]",
            "ABC",
        ),
        (
            f"regions:\n  {GOOD_REGION}\nproducts:\n  prod_1: {{item: A, account: '4000'}}\n",
            "products.prod_1",
            None,
        ),
        (
            f"regions:\n  {GOOD_REGION}\ntax_rates:\n  txr_X: {{emea: VAT}}\n",
            "tax_rates.txr_X.emea",
            "emea",
        ),
        (f"regions:\n  {GOOD_REGION}\nmax_attempts: 0\n", "max_attempts", 0),
        (
            "regions:\n  apac: {erp_company: X, local_currency: JPY, currencies: [JPY]}\n",
            "regions.apac.local_currency",
            "JPY",
        ),
        (
            "regions:\n  emea: {erp_company: X, local_currency: EUR, currencies: [EUR, KWD]}\n",
            "regions.emea.currencies[1]",
            "KWD",
        ),
        (f"regions:\n  {GOOD_REGION}\npayment_jurnal: X\n", "payment_jurnal", "X"),
    ],
)
def test_a_bad_mapping_names_the_file_the_key_and_the_value(
    tmp_path: Path, text: str, key: str, value: object
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        PostingConfig.load(path)
    error = caught.value
    assert error.path == path
    assert error.key == key
    if value is not None:
        assert error.value == value
    assert str(path) in str(error) and key in str(error)


def test_a_currency_without_two_decimals_is_refused_because_the_erp_client_uses_two(
    tmp_path: Path,
) -> None:
    path = _write(
        tmp_path, "regions:\n  apac: {erp_company: X, local_currency: USD, currencies: [JPY]}\n"
    )
    with pytest.raises(ConfigError) as caught:
        PostingConfig.load(path)
    assert caught.value.key == "regions.apac.currencies[0]"
    assert "has 0 decimals, but the ERP client converts minor units with 2" in str(caught.value)
