"""What a lab costs in its status: a STOPPED lab pays for its root volume only."""

from __future__ import annotations

import pytest

from ads.lab.cost import HOURS_PER_MONTH, lab_cost
from ads.lab.plan import PlanOptions, plan_from_labspec_source
from ads.lab.pricing import price_table, storage_prices
from tests.unit.lab.specs import minimal_spec

PLAN = {"root_volume_gib": 15, "region": "us-east-1", "hourly_cost_usd": 0.0104}


def test_given_the_bundled_prices_then_every_priced_region_prices_gp3_storage_with_its_date():
    prices = storage_prices()
    assert prices.volume_type == "gp3"
    assert set(prices.regions) == set(price_table().regions)
    assert prices.regions["us-east-1"] == 0.08
    assert prices.source == "bundled gp3 storage price of 2020-12-01"


def test_given_a_labspec_when_planned_then_the_plan_prices_its_root_volume():
    plan = plan_from_labspec_source(minimal_spec(), PlanOptions(region="us-west-2"))

    assert plan.storage_monthly_cost_usd == pytest.approx(plan.root_volume_gib * 0.08)
    assert plan.storage_price_source == "bundled gp3 storage price of 2020-12-01"


def test_given_a_stopped_lab_when_costed_then_no_compute_and_the_storage_alone_is_the_month():
    cost = lab_cost({**PLAN, "storage_monthly_cost_usd": 1.2}, "STOPPED")

    assert cost.compute_hourly_usd == 0.0
    assert cost.storage_monthly_usd == cost.monthly_usd == 1.2
    assert cost.summary.startswith("stopped: no compute is billed; storage $1.20 per month")
    assert "15 GiB root volume in us-east-1" in cost.summary


def test_given_a_ready_lab_when_costed_then_the_month_is_compute_all_month_plus_storage():
    cost = lab_cost({**PLAN, "storage_monthly_cost_usd": 1.2}, "READY")

    assert cost.compute_hourly_usd == 0.0104
    assert cost.monthly_usd == round(0.0104 * HOURS_PER_MONTH + 1.2, 2)
    assert cost.summary.startswith("compute $0.0104 per hour, plus storage $1.20 per month")


def test_given_a_plan_made_before_storage_was_priced_when_stopped_then_the_table_prices_it():
    assert lab_cost(PLAN, "STOPPED").storage_monthly_usd == pytest.approx(15 * 0.08)


def test_given_a_region_without_a_storage_price_when_stopped_then_no_figure_and_the_summary_says_so():
    cost = lab_cost({**PLAN, "region": "eu-west-1"}, "STOPPED")

    assert (cost.compute_hourly_usd, cost.storage_monthly_usd, cost.monthly_usd) == (
        0.0,
        None,
        None,
    )
    assert "storage is not priced in eu-west-1" in cost.summary


def test_given_a_destroyed_lab_when_costed_then_nothing_is_billed():
    assert lab_cost(PLAN, "DESTROYED").monthly_usd == 0.0
