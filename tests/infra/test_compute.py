"""The Lambda factory's guarantees, the agent bundle and the lab instance role."""

from __future__ import annotations

import json
import re

import pytest

from tests.infra.conftest import PROJECT_ROOT, cdk_json_context
from tests.infra.template_queries import (
    ADS_FUNCTIONS,
    ads_functions,
    of_type,
    resources_of,
    statements_of_function,
    statements_of_role,
    statements_with_action,
)


def _pinned_powertools() -> str:
    text = (PROJECT_ROOT / "requirements.txt").read_text(encoding="utf-8")
    (version,) = re.findall(r"^aws-lambda-powertools==(\S+)", text, flags=re.MULTILINE)
    return version


# The layer of exactly the release the tests ran against, never `latest`.
POWERTOOLS_PARAMETER = f"/aws/service/powertools/python/arm64/python3.13/{_pinned_powertools()}"
# What the SSM agent calls for Run Command and Session Manager (and nothing else).
SSM_AGENT_ACTIONS = {
    "ssm:UpdateInstanceInformation",
    "ec2messages:AcknowledgeMessage",
    "ec2messages:DeleteMessage",
    "ec2messages:FailMessage",
    "ec2messages:GetEndpoint",
    "ec2messages:GetMessages",
    "ec2messages:SendReply",
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
}
COMMON_VARIABLES = {
    "ADS_TABLE_NAME",
    "ADS_PROVIDER",
    "ADS_DEFAULT_OS_POLICY",
    "ADS_SUBNET_IDS",
    "ADS_SECURITY_GROUP_IDS",
    "ADS_INSTANCE_PROFILE_ARN",
    "ADS_AGENT_PORT",
    "ADS_EVENT_BUS_NAME",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
}


def test_given_the_stack_when_synthesized_then_every_ads_function_exists_with_its_contract_handler(
    synthesis,
):
    functions = ads_functions(synthesis.template)
    assert set(functions) == set(ADS_FUNCTIONS)
    for name, (_, props) in functions.items():
        assert props["Handler"] == f"functions.{name}.handler.handler"


@pytest.mark.parametrize("name", ADS_FUNCTIONS)
def test_given_a_function_when_synthesized_then_factory_settings_apply(synthesis, name):
    _, props = ads_functions(synthesis.template)[name]
    assert props["Runtime"] == "python3.13"
    assert props["Architectures"] == ["arm64"]
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert isinstance(props["Timeout"], int) and 1 <= props["Timeout"] <= 900
    assert isinstance(props["MemorySize"], int) and props["MemorySize"] >= 128
    assert props["LoggingConfig"]["LogFormat"] == "JSON"
    log_group = synthesis.template["Resources"][props["LoggingConfig"]["LogGroup"]["Ref"]]
    assert log_group["Properties"]["RetentionInDays"] == cdk_json_context()["log_retention_days"]


@pytest.mark.parametrize("name", ADS_FUNCTIONS)
def test_given_a_function_when_synthesized_then_powertools_comes_from_the_public_layer_parameter(
    synthesis, name
):
    _, props = ads_functions(synthesis.template)[name]
    assert len(props["Layers"]) == 1
    parameter = synthesis.template["Parameters"][props["Layers"][0]["Ref"]]
    assert parameter["Type"] == "AWS::SSM::Parameter::Value<String>"
    assert parameter["Default"] == POWERTOOLS_PARAMETER


@pytest.mark.parametrize("name", ADS_FUNCTIONS)
def test_given_a_function_when_synthesized_then_it_gets_the_configuration_variables(
    synthesis, name
):
    _, props = ads_functions(synthesis.template)[name]
    variables = props["Environment"]["Variables"]
    assert set(variables) >= COMMON_VARIABLES
    assert variables["ADS_PROVIDER"] == "ec2"
    assert variables["ADS_AGENT_PORT"] == "9089"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "ADS"
    assert "AWS_REGION" not in variables
    starts_executions = name in ("api", "ci_trigger")
    assert ("ADS_DEPLOY_STATE_MACHINE_ARN" in variables) is starts_executions
    # The health watch starts DestroyLab too (its destroy policy), never DeployLab.
    # So does lab_timer (a lease's expiry).
    destroys = starts_executions or name in ("watch_labs", "lab_timer")
    assert ("ADS_DESTROY_STATE_MACHINE_ARN" in variables) is destroys
    assert ("ADS_AGENT_BUNDLE_KEY" in variables) is (name == "init_vm")


def test_given_the_stack_when_synthesized_then_all_functions_share_one_code_asset_without_docker(
    synthesis,
):
    keys = {
        json.dumps(props["Code"], sort_keys=True)
        for _, props in ads_functions(synthesis.template).values()
    }
    assert len(keys) == 1
    manifest = json.loads((synthesis.outdir / "AdsControlPlane.assets.json").read_text())
    assert not manifest.get("dockerImages")


def test_given_the_agent_bundle_when_synthesized_then_init_vm_points_at_a_zip_of_the_agent_directory(
    synthesis,
):
    _, props = ads_functions(synthesis.template)["init_vm"]
    key = props["Environment"]["Variables"]["ADS_AGENT_BUNDLE_KEY"]
    asset_hash = key.removesuffix(".zip")
    manifest = json.loads((synthesis.outdir / "AdsControlPlane.assets.json").read_text())
    source = manifest["files"][asset_hash]["source"]
    assert source["packaging"] == "zip"
    staged = synthesis.outdir / source["path"]
    assert (staged / "__init__.py").is_file()
    assert not list(staged.rglob("__pycache__"))


def _actions(statement):
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def test_given_the_agent_bundle_when_synthesized_then_only_init_vm_may_read_it(synthesis):
    readers = {
        name
        for name in ADS_FUNCTIONS
        if any(
            action.startswith(("s3:Get", "s3:List"))
            for s in _statements(synthesis, name)
            for action in _actions(s)
        )
    }
    assert readers == {"init_vm"}


def test_given_the_agent_bundle_when_synthesized_then_init_vm_may_read_that_object_and_nothing_else_of_the_bucket(
    synthesis,
):
    _, init_vm = ads_functions(synthesis.template)["init_vm"]
    variables = init_vm["Environment"]["Variables"]
    s3_statements = [
        s
        for s in _statements(synthesis, "init_vm")
        if any(a.startswith("s3:") for a in _actions(s))
    ]

    (statement,) = s3_statements
    assert statement["Action"] == "s3:GetObject"
    assert statement["Resource"] == {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":s3:::",
                variables["ADS_AGENT_BUNDLE_BUCKET"],
                f"/{variables['ADS_AGENT_BUNDLE_KEY']}",
            ],
        ]
    }
    assert "*" not in variables["ADS_AGENT_BUNDLE_KEY"]


def _lab_instance_role(template):
    roles = {
        logical_id: role
        for logical_id, role in of_type(template, "AWS::IAM::Role").items()
        if role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"].get(
            "Service"
        )
        == "ec2.amazonaws.com"
    }
    assert len(roles) == 1
    return next(iter(roles.items()))


def test_given_the_lab_instance_role_when_synthesized_then_it_may_do_what_the_ssm_agent_needs_and_nothing_more(
    synthesis,
):
    template = synthesis.template
    logical_id, role = _lab_instance_role(template)
    assert "ManagedPolicyArns" not in role["Properties"]  # not AmazonSSMManagedInstanceCore
    statements = statements_of_role(template, logical_id)
    allowed = {
        action
        for statement in statements
        if statement["Effect"] == "Allow"
        for action in _actions(statement)
    }
    assert allowed == SSM_AGENT_ACTIONS


def test_given_the_lab_instance_role_when_synthesized_then_no_statement_reads_ssm_parameters(
    synthesis,
):
    logical_id, _ = _lab_instance_role(synthesis.template)
    for statement in statements_of_role(synthesis.template, logical_id):
        for action in _actions(statement):
            pattern = "^" + re.escape(action).replace(r"\*", ".*") + "$"
            for read in ("ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"):
                assert not re.match(pattern, read, flags=re.IGNORECASE), statement


def test_given_the_lab_instance_role_when_synthesized_then_its_profile_is_what_create_vm_launches_with(
    synthesis,
):
    template = synthesis.template
    logical_id, _ = _lab_instance_role(template)
    profiles = of_type(template, "AWS::IAM::InstanceProfile")
    assert [p["Properties"]["Roles"] for p in profiles.values()] == [[{"Ref": logical_id}]]
    _, create_vm = ads_functions(template)["create_vm"]
    (profile_id,) = profiles
    assert create_vm["Environment"]["Variables"]["ADS_INSTANCE_PROFILE_ARN"] == {
        "Fn::GetAtt": [profile_id, "Arn"]
    }


def test_given_the_lab_instance_role_when_synthesized_then_only_create_vm_may_pass_it_to_ec2(
    synthesis,
):
    (role_id,) = [
        logical_id
        for logical_id, role in of_type(synthesis.template, "AWS::IAM::Role").items()
        if role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"].get(
            "Service"
        )
        == "ec2.amazonaws.com"
    ]
    role_arn = {"Fn::GetAtt": [role_id, "Arn"]}
    passers = {
        name
        for name in ADS_FUNCTIONS
        if any(
            role_arn in resources_of(s) or "*" in resources_of(s)
            for s in statements_with_action(_statements(synthesis, name), "iam:PassRole")
        )
    }
    assert passers == {"create_vm"}
    (statement,) = statements_with_action(_statements(synthesis, "create_vm"), "iam:PassRole")
    assert statement["Resource"] == {"Fn::GetAtt": [role_id, "Arn"]}
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}


def _statements(synthesis, name):
    return statements_of_function(synthesis.template, name)
