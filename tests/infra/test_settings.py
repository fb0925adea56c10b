"""CDK context: cdk.json values and `-c key=value` strings, and clear errors for bad ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from cdk_app.settings import ContextError, Settings
from tests.infra.conftest import PROJECT_ROOT, cdk_json_context

DOCUMENTED_KEYS = {
    "name_prefix",
    "region",
    "vpc_id",
    "network_egress",
    "subnet_ids",
    "ci_principals",
    "allowed_instance_types",
    "admin_principals",
    "default_os_policy",
    "deletion_protection",
    "lifecycle_bus_name",
    "log_retention_days",
    "api_throttling_rate_limit",
    "api_throttling_burst_limit",
    "lab_source_buckets",
}


def test_given_cdk_json_when_read_then_it_sets_every_documented_key_and_the_defaults_hold():
    context = cdk_json_context()
    assert set(context) >= DOCUMENTED_KEYS
    assert Settings.from_mapping(context) == Settings()


def test_given_cli_strings_when_read_then_lists_and_flags_are_parsed():
    settings = Settings.from_mapping(
        {
            "network_egress": "none",
            "ci_principals": "arn:aws:iam::123456789012:role/release-pipeline,"
            "arn:aws-cn:iam::210987654321:user/ci-bot",
            "deletion_protection": "false",
            "allowed_instance_types": "t3.micro, t3.small,t3.micro",
            "admin_principals": "arn:aws:iam::123456789012:role/Admin",
            "log_retention_days": "90",
            "lab_source_buckets": "my-lab-sources",
        }
    )
    assert settings.lab_source_buckets == ("my-lab-sources",)
    assert settings.network_egress == "none" and settings.deletion_protection is False
    assert settings.ci_principals == (
        "arn:aws:iam::123456789012:role/release-pipeline",
        "arn:aws-cn:iam::210987654321:user/ci-bot",
    )
    assert settings.allowed_instance_types == ("t3.micro", "t3.small")
    assert settings.admin_principals == ("arn:aws:iam::123456789012:role/Admin",)
    assert settings.log_retention_days == 90


@pytest.mark.parametrize(
    ("context", "key", "found"),
    [
        ({"default_os_policy": "latest"}, "default_os_policy", "'latest'"),
        ({"log_retention_days": 31}, "log_retention_days", "31"),
        ({"network_egress": "public"}, "network_egress", "'public'"),
        (
            {"ci_principals": ["arn:aws:sts::123456789012:assumed-role/ci/session"]},
            "ci_principals",
            "assumed-role",
        ),
        ({"vpc_id": "my-vpc"}, "vpc_id", "'my-vpc'"),
        ({"allowed_instance_types": ["t3.micro", "huge"]}, "allowed_instance_types", "'huge'"),
        ({"admin_principals": ["alice"]}, "admin_principals", "'alice'"),
        ({"subnet_ids": ["subnet-0123456789abcdef0"]}, "subnet_ids", "subnet-0123456789abcdef0"),
        ({"lifecycle_bus_name": "default"}, "lifecycle_bus_name", "'default'"),
        ({"name_prefix": "ADS"}, "name_prefix", "'ADS'"),
        ({"api_throttling_rate_limit": 0}, "api_throttling_rate_limit", "0"),
        ({"lab_source_buckets": ["s3://bucket"]}, "lab_source_buckets", "'s3://bucket'"),
        ({"image_unused_days": 4000}, "image_unused_days", "4000"),
        ({"image_unused_days": -1}, "image_unused_days", "-1"),
    ],
)
def test_given_a_bad_context_value_when_read_then_the_error_names_key_found_value_and_allowed(
    context, key, found
):
    with pytest.raises(ContextError) as error:
        Settings.from_mapping(context)
    message = str(error.value)
    assert error.value.key == key
    assert f"'{key}'" in message and found in message and "allowed:" in message


@pytest.mark.parametrize(
    ("key", "value", "unit"),
    [
        ("image_unused_days", 4000, "days from 0 to 3650"),
        ("sweep_grace_minutes", 0, "minutes from 1 to 10080"),
        ("init_timeout_s", 5, "seconds from 60"),
    ],
)
def test_given_a_number_out_of_range_when_read_then_the_allowed_range_says_its_unit(
    key, value, unit
):
    with pytest.raises(ContextError) as error:
        Settings.from_mapping({key: value})
    assert unit in str(error.value)


def test_given_image_unused_days_when_read_then_zero_keeps_images_and_the_value_is_kept():
    assert Settings.from_mapping({"image_unused_days": 0}).image_unused_days == 0
    assert Settings.from_mapping({"image_unused_days": "90"}).image_unused_days == 90
    assert Settings().image_unused_days == 30


@pytest.mark.parametrize(
    ("key", "value", "replacement"),
    [
        ("create_nat", True, "create_nat true is network_egress nat"),
        ("create_nat", "false", "false is none"),
        ("subnet_type", "private_isolated", "private_isolated subnets are none"),
        (
            "subnet_type",
            "private_with_egress",
            "private_with_egress subnets are network_egress nat",
        ),
    ],
)
def test_given_a_context_key_network_egress_replaced_when_read_then_the_error_says_what_to_write(
    key, value, replacement
):
    with pytest.raises(ContextError) as error:
        Settings.from_mapping({key: value})

    assert error.value.key == key
    assert "replaced by network_egress" in str(error.value) and replacement in str(error.value)


def test_given_a_bad_context_value_when_the_app_runs_then_it_prints_one_line_and_exits_2(tmp_path):
    # A fresh interpreter: the jsii runtime of this process has its environment fixed.
    env = {
        "PATH": os.environ.get("PATH", ""),
        "CDK_CONTEXT_JSON": json.dumps({"default_os_policy": "latest"}),
        "CDK_OUTDIR": str(tmp_path / "cdk.out"),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    result = subprocess.run(
        [sys.executable, "-m", "cdk_app.app"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "error: CDK context 'default_os_policy': found 'latest'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "cdk.out" / "AdsControlPlane.template.json").exists()
