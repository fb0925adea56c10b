"""Quotas in the infra tier: CDK context to the ADS_QUOTA_* variables of the Lambdas that
request labs, and the table grants the quota transaction and its release need."""

from __future__ import annotations

import contextlib
import json
import os

import pytest

from cdk_app.settings import ContextError, Settings
from tests.infra.conftest import cdk_json_context
from tests.infra.template_queries import (
    ads_functions,
    of_type,
    statements_of_function,
    statements_with_action,
    text,
)

STUDENTS = "arn:aws:iam::123456789012:role/students"
QUOTA_CONTEXT = {
    "quota_max_labs": 3,
    "quota_max_hourly_usd": "0.5",
    "quota_admin_max_labs": "10",
    "quota_instance_types": {STUDENTS: ["t3.micro", "t3.small"], "*": ["t3.micro"]},
}


def test_given_quota_context_when_read_then_limits_and_the_policy_become_ads_quota_variables():
    settings = Settings.from_mapping(QUOTA_CONTEXT)

    assert settings.quota_environment() == {
        "ADS_QUOTA_MAX_LABS": "3",
        "ADS_QUOTA_MAX_HOURLY_USD": "0.5",
        "ADS_QUOTA_ADMIN_MAX_LABS": "10",
        "ADS_QUOTA_INSTANCE_TYPES": json.dumps(
            QUOTA_CONTEXT["quota_instance_types"], separators=(",", ":")
        ),
    }
    assert Settings().quota_environment() == {}
    cli = Settings.from_mapping({"quota_instance_types": '{"*": ["t3.nano"]}'})
    assert cli.quota_instance_types == (("*", ("t3.nano",)),)


@pytest.mark.parametrize(
    ("context", "key"),
    [
        ({"quota_max_labs": "2.5"}, "quota_max_labs"),
        ({"quota_max_labs": -1}, "quota_max_labs"),
        ({"quota_max_hourly_usd": "lots"}, "quota_max_hourly_usd"),
        ({"quota_instance_types": '["t3.micro"]'}, "quota_instance_types"),
        ({"quota_instance_types": {"students": ["t3.micro"]}}, "quota_instance_types"),
        ({"quota_instance_types": {"*": ["huge"]}}, "quota_instance_types"),
    ],
)
def test_given_a_bad_quota_value_when_read_then_the_error_names_the_key(context, key):
    with pytest.raises(ContextError) as refused:
        Settings.from_mapping(context)
    assert refused.value.key == key


@pytest.fixture(scope="module")
def quota_template(tmp_path_factory):
    from cdk_app.app import build_app

    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    outdir = tmp_path_factory.mktemp("cdk-out-quotas")
    app = build_app({**cdk_json_context(), **QUOTA_CONTEXT}, str(outdir))
    # cdk-nag's verdict is the compliance test's; the template is written either way.
    with contextlib.suppress(RuntimeError):
        app.synth()
    [template_file] = outdir.glob("*.template.json")
    return json.loads(template_file.read_text())


def test_given_quota_context_when_synthesized_then_api_and_ci_trigger_carry_the_quotas(
    quota_template,
):
    functions = ads_functions(quota_template)
    for name in ("api", "ci_trigger"):
        variables = functions[name][1]["Environment"]["Variables"]
        assert variables["ADS_QUOTA_MAX_LABS"] == "3", name
        assert variables["ADS_QUOTA_MAX_HOURLY_USD"] == "0.5", name
        assert (
            json.loads(variables["ADS_QUOTA_INSTANCE_TYPES"])
            == (QUOTA_CONTEXT["quota_instance_types"])
        )


def test_given_the_quota_transaction_when_granted_then_api_ci_and_the_final_step_reach_the_table(
    template,
):
    # TransactWriteItems is authorised item by item: PutItem for the record, UpdateItem
    # for the usage item; the final bookkeeping counts the usage down with UpdateItem.
    wanted = {
        "api": ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:GetItem"),
        "ci_trigger": ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:GetItem"),
        "record_status": ("dynamodb:UpdateItem",),
    }
    document = template.to_json()
    [table] = of_type(document, "AWS::DynamoDB::Table")
    for name, actions in wanted.items():
        statements = statements_of_function(document, name)
        for action in actions:
            granted = statements_with_action(statements, action)
            assert any(table in text(s["Resource"]) for s in granted), (name, action)
