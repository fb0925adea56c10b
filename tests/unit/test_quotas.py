"""Quota arithmetic and cost-allocation tag values (no AWS)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ads.config import AdsConfig
from ads.cost_tags import COURSE_TAG, OWNER_TAG, cost_tags, tag_list, tag_value
from ads.quotas import (
    LABS_QUOTA,
    SPEND_QUOTA,
    InstanceTypeNotAllowedError,
    QuotaExceededError,
    QuotaLimits,
    SpendUncheckedError,
    Usage,
    checked_plan,
    exceeded,
    fits,
    lab_hourly_usd,
    lab_share,
    limits_for,
)

ALICE = "arn:aws:iam::123456789012:user/alice"
STUDENT = "arn:aws:sts::123456789012:assumed-role/students/s1"
STUDENTS = "arn:aws:iam::123456789012:role/students"
ADMIN = "arn:aws:iam::123456789012:role/ads-admin"
PLAN = {
    "instance_type": "t3.micro",
    "fallback_instance_types": ["t3a.micro", "t3.small"],
    "hourly_cost_usd": 0.0104,
    "storage_monthly_cost_usd": 0.64,
    "region": "us-east-1",
}


def test_given_a_plan_when_priced_then_instance_plus_storage_per_hour_to_the_micro_dollar():
    assert lab_hourly_usd(PLAN) == Decimal("0.011277")
    assert lab_hourly_usd({**PLAN, "hourly_cost_usd": None}) is None


def test_given_limits_when_use_is_at_or_under_them_then_only_going_over_is_refused():
    limits = QuotaLimits(max_labs=2, max_hourly_usd=Decimal("0.05"))
    hourly = Decimal("0.02")

    assert exceeded(ALICE, limits, Usage(1, Decimal("0.03")), hourly) is None
    labs = exceeded(ALICE, limits, Usage(2, Decimal("0")), hourly)
    spend = exceeded(ALICE, limits, Usage(1, Decimal("0.031")), hourly)

    assert isinstance(labs, QuotaExceededError) and labs.details["quota"] == LABS_QUOTA
    assert labs.details["use"] == 2 and labs.details["limit"] == 2
    assert isinstance(spend, QuotaExceededError) and spend.details["quota"] == SPEND_QUOTA
    assert spend.details == {
        "quota": SPEND_QUOTA,
        "owner": ALICE,
        "use": 0.031,
        "requested": 0.02,
        "limit": 0.05,
    }
    assert spend.http_status == 429


def test_given_a_lab_over_the_spend_limit_by_itself_or_unpriced_when_shared_then_refused():
    with pytest.raises(QuotaExceededError):
        lab_share(PLAN, ALICE, QuotaLimits(max_hourly_usd=Decimal("0.01")))
    with pytest.raises(SpendUncheckedError) as unpriced:
        lab_share({**PLAN, "hourly_cost_usd": None}, ALICE, QuotaLimits(max_hourly_usd=Decimal(1)))
    assert unpriced.value.http_status == 403
    # Without a spend limit an unpriced lab still counts (for zero).
    assert lab_share({**PLAN, "hourly_cost_usd": None}, ALICE, QuotaLimits()) == 0


def test_given_admins_when_limits_are_read_then_exempt_unless_given_their_own():
    config = AdsConfig(admin_principals=(ADMIN,), quota_max_labs=1)
    session = "arn:aws:sts::123456789012:assumed-role/ads-admin/oncall"

    assert limits_for(ALICE, config) == QuotaLimits(max_labs=1)
    assert limits_for(session, config).counted is False
    own = AdsConfig(admin_principals=(ADMIN,), quota_max_labs=1, quota_admin_max_labs=10)
    assert limits_for(session, own) == QuotaLimits(max_labs=10, counted=True)


def test_given_an_instance_type_policy_when_checked_then_the_group_decides_and_fallbacks_are_trimmed():
    config = AdsConfig.from_env(
        {
            "ADS_QUOTA_INSTANCE_TYPES": f'{{"{STUDENTS}": ["t3.micro", "t3.small"], "*": ["t3.nano"]}}',
            "ADS_ADMIN_PRINCIPALS": ADMIN,
        }
    )

    assert checked_plan(PLAN, STUDENT, config)["fallback_instance_types"] == ["t3.small"]
    with pytest.raises(InstanceTypeNotAllowedError) as refused:
        checked_plan(PLAN, ALICE, config)
    assert refused.value.http_status == 403
    assert refused.value.details == {
        "quota": "instance_types_per_owner_group",
        "owner_group": ALICE,
        "use": "t3.micro",
        "limit": ["t3.nano"],
    }
    assert checked_plan(PLAN, ADMIN, config) == PLAN


def test_given_a_bad_instance_type_policy_when_configured_then_the_variable_is_named():
    from ads.errors import ConfigError

    with pytest.raises(ConfigError, match="ADS_QUOTA_INSTANCE_TYPES"):
        AdsConfig.from_env({"ADS_QUOTA_INSTANCE_TYPES": '{"*": "t3.micro"}'})
    with pytest.raises(ConfigError, match="ADS_QUOTA_MAX_LABS"):
        AdsConfig.from_env({"ADS_QUOTA_MAX_LABS": "-1"})


def test_given_usage_when_a_plan_is_checked_then_fits_says_so_with_the_refusal():
    limits = QuotaLimits(max_labs=1)
    assert fits(ALICE, limits, Usage(0, Decimal(0)), PLAN)["fits"] is True
    answer = fits(ALICE, limits, Usage(1, Decimal("0.011277")), PLAN)
    assert answer["fits"] is False
    assert answer["refusal"]["error"] == "quota_exceeded"
    assert answer["labs_held"] == 1 and answer["hourly_usd_held"] == 0.011277


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("CS101 Fall-2026", "CS101 Fall-2026"),
        (
            "arn:aws:iam::123456789012:user/a.b+c=d@e_f",
            "arn:aws:iam::123456789012:user/a.b+c=d@e_f",
        ),
        ("semester <1> & {2}", "semester _1_ _ _2_"),
        ("tabs\tand\nnewlines", "tabs and newlines"),
        ("Álgebra 線形", "Álgebra 線形"),
        ("x" * 300, "x" * 256),
        ("bell\x07", "bell_"),
    ],
)
def test_given_user_text_when_made_a_tag_value_then_aws_tag_rules_hold(raw, clean):
    import re

    value = tag_value(raw)
    assert value == clean
    assert len(value) <= 256
    assert re.fullmatch(r"[\w .:/=+\-@]*", value)


def test_given_a_lab_when_its_cost_tags_are_made_then_id_name_owner_and_course_if_asked():
    tags = cost_tags("hello-web-01abc", "Hello Web!", ALICE, "CS 101")
    assert tags == {
        "ads:lab-id": "hello-web-01abc",
        "ads:lab-name": "Hello Web_",
        OWNER_TAG: ALICE,
        COURSE_TAG: "CS 101",
    }
    assert COURSE_TAG not in cost_tags("l", "n", ALICE, None)
    # A plan made before cost tags existed still tags the lab id.
    assert tag_list(None, "lab-1") == [{"Key": "ads:lab-id", "Value": "lab-1"}]
