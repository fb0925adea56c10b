"""The bundled price table."""

from __future__ import annotations

import pytest

from ads.lab.pricing import price_table, quote
from ads.lab.sizing import DEFAULT_ALLOWED

EXPECTED = {
    "t3.micro": 0.0104,
    "t3.small": 0.0208,
    "t3.medium": 0.0416,
    "t3.large": 0.0832,
    "t3.xlarge": 0.1664,
    "t3.2xlarge": 0.3328,
    "t4g.micro": 0.0084,
    "t4g.small": 0.0168,
    "t4g.medium": 0.0336,
    "t4g.large": 0.0672,
    "t4g.xlarge": 0.1344,
    "t4g.2xlarge": 0.2688,
}


def test_given_the_bundled_table_then_it_carries_its_date_and_currency():
    table = price_table()
    assert (table.as_of, table.currency) == ("2026-11-01", "USD")
    assert table.source == "bundled on-demand price table of 2026-11-01"


@pytest.mark.parametrize("region", ["us-east-1", "us-west-2"])
@pytest.mark.parametrize(("instance_type", "price"), sorted(EXPECTED.items()))
def test_given_a_default_type_in_a_covered_region_when_quoted_then_the_hourly_price_is_known(
    region, instance_type, price
):
    result = quote(instance_type, region)
    assert (result.hourly_cost_usd, result.warning) == (price, None)


def test_given_every_default_allowed_type_then_the_table_prices_it_in_us_east_1():
    for names in DEFAULT_ALLOWED.values():
        for name in names:
            assert price_table().hourly_price(name, "us-east-1") is not None


def test_given_a_region_outside_the_table_when_quoted_then_no_price_and_a_warning_naming_it():
    result = quote("t3.micro", "ap-south-1")
    assert result.hourly_cost_usd is None
    assert (
        "region ap-south-1 is not in the bundled on-demand price table of 2026-11-01"
        in result.warning
    )


def test_given_a_type_outside_the_table_when_quoted_then_no_price_and_a_warning_naming_it():
    result = quote("x9.huge", "us-east-1")
    assert result.hourly_cost_usd is None
    assert "x9.huge" in result.warning
