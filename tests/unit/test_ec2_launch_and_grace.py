"""Pure parts of the ec2 provider: where a launch is tried, and the launch grace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ads.config import AdsConfig
from ads.errors import ConfigError
from ads.providers.base import ComputeNeeds
from ads.providers.consistency import launch_time_detail, within_launch_grace
from ads.providers.ec2_launch import LaunchRequest, Placement, placements, run_arguments

NEEDS = ComputeNeeds(
    image_parameter="/aws/service/x",
    instance_type="t3.micro",
    fallback_instance_types=["t3.small", "t3.micro", "t3.medium"],
)
SUBNETS = ("subnet-0aaa", "subnet-0bbb", "subnet-0ccc")


def test_given_three_subnets_when_placements_are_listed_then_each_type_is_tried_in_every_zone_first():
    tries = placements("hello-web-01", NEEDS, SUBNETS)

    assert [p.instance_type for p in tries] == ["t3.micro"] * 3 + ["t3.small"] * 3 + [
        "t3.medium"
    ] * 3
    for start in range(0, 9, 3):
        subnets = [p.subnet_id for p in tries[start : start + 3]]
        assert sorted(subnets) == sorted(SUBNETS)
        # The same rotation for every type: the lab's own subnet first.
        assert subnets == [p.subnet_id for p in tries[:3]]


def test_given_the_same_lab_when_placements_are_listed_twice_then_the_order_is_the_same():
    assert placements("lab-a", NEEDS, SUBNETS) == placements("lab-a", NEEDS, SUBNETS)
    firsts = {placements(f"lab-{i}", NEEDS, SUBNETS)[0].subnet_id for i in range(40)}
    assert firsts == set(SUBNETS)  # labs spread across the subnets


def test_given_no_subnets_when_placements_are_listed_then_ec2_chooses_the_subnet():
    assert placements("lab", NEEDS, ()) == [
        Placement("t3.micro", None),
        Placement("t3.small", None),
        Placement("t3.medium", None),
    ]


def test_given_every_placement_when_its_arguments_are_built_then_tokens_differ_and_fit_ec2():
    lab_id = "a-very-long-lab-name-" + "x" * 40
    tries = placements(lab_id, NEEDS, SUBNETS)
    request = LaunchRequest(lab_id=lab_id, needs=NEEDS, image_id="ami-1", user_data="#!/bin/sh")
    arguments = [run_arguments(AdsConfig(), request, p, tries[0]) for p in tries]

    tokens = [a["ClientToken"] for a in arguments]
    assert tokens[0] == lab_id
    assert len(set(tokens)) == len(tries) and all(len(t) <= 64 for t in tokens)
    assert [(a["InstanceType"], a["SubnetId"]) for a in arguments] == [
        (p.instance_type, p.subnet_id) for p in tries
    ]
    assert all(a["UserData"] == "#!/bin/sh" for a in arguments)


def test_given_no_user_data_when_arguments_are_built_then_none_is_sent():
    request = LaunchRequest(lab_id="lab", needs=NEEDS, image_id="ami-1")
    placement = Placement("t3.micro", None)

    assert "UserData" not in run_arguments(AdsConfig(), request, placement, placement)


NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("launched", "inside"),
    [
        (NOW - timedelta(seconds=5), True),
        (NOW - timedelta(seconds=119), True),
        (NOW - timedelta(seconds=120), False),
        (NOW - timedelta(hours=1), False),
    ],
)
def test_given_a_launch_time_when_a_not_found_is_weighed_then_only_the_grace_window_excuses_it(
    launched: datetime, inside: bool
):
    details = {"launched_at": launch_time_detail(launched)}

    assert within_launch_grace(details, 120, now=NOW) is inside


@pytest.mark.parametrize("details", [{}, {"launched_at": None}, {"launched_at": "yesterday"}])
def test_given_no_usable_launch_time_when_a_not_found_is_weighed_then_there_is_no_grace(details):
    assert within_launch_grace(details, 300, now=NOW) is False


def test_given_a_naive_launch_time_when_kept_then_it_is_read_as_utc():
    kept = launch_time_detail(datetime(2026, 1, 1, 11, 59))

    assert kept == "2026-01-01T11:59:00+00:00"
    assert within_launch_grace({"launched_at": kept}, 120, now=NOW) is True


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ADS_INIT_TIMEOUT_S", "7200"),
        ("ADS_INIT_TIMEOUT_S", "soon"),
        ("ADS_LAUNCH_GRACE_S", "301"),
        ("ADS_LAUNCH_GRACE_S", "-5"),
    ],
)
def test_given_a_budget_the_workflow_cannot_outlast_when_configured_then_the_variable_is_named(
    variable: str, value: str
):
    with pytest.raises(ConfigError) as raised:
        AdsConfig.from_env({variable: value})

    assert variable in str(raised.value)


def test_given_budgets_in_the_environment_when_configured_then_they_are_read():
    config = AdsConfig.from_env({"ADS_INIT_TIMEOUT_S": "900", "ADS_LAUNCH_GRACE_S": "60"})

    assert (config.init_timeout_s, config.launch_grace_s) == (900, 60)
