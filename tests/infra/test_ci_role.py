"""The CI role: owner of labs that CI events request without an IAM ARN."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.infra.conftest import cdk_json_context
from tests.infra.template_queries import ads_functions, of_type, statements_of_role

# What a pipeline needs on the labs it owns: request and plan them, follow them, stop,
# start and restart them, run and list their actions, read their logs, update them in
# place, destroy them. Pinned here so a route added to the API fails this file until its
# grant to CI is decided.
PIPELINE_ROUTES = {
    ("GET", "/labs"),
    ("GET", "/labs/*"),
    ("GET", "/labs/*/history"),
    ("DELETE", "/labs/*"),
    ("POST", "/labs"),
    ("POST", "/plans"),
    ("POST", "/labs/*/stop"),
    ("POST", "/labs/*/start"),
    ("POST", "/labs/*/restart"),
    ("POST", "/labs/*/actions/*"),
    ("GET", "/labs/*/actions"),
    ("GET", "/labs/*/logs"),
    # Update in place (the REST twin of its Lab Update Requested event).
    ("POST", "/labs/*/redeploy"),
    # A pipeline renews the lease of a lab it still needs (within the maximum).
    ("POST", "/labs/*/lease"),
    # What its labs have cost (its own only: GET /costs answers an owner's own).
    ("GET", "/costs"),
    # A course's pipeline may deploy a lab for every student (and renew or destroy them).
    ("POST", "/cohorts"),
    ("GET", "/cohorts"),
    ("GET", "/cohorts/*"),
    ("POST", "/cohorts/*/lease"),
    ("DELETE", "/cohorts/*"),
    # A pipeline that deploys with reuse_image lists and removes its own lab images.
    ("GET", "/images"),
    ("DELETE", "/images/*"),
}


def _rendered(value: Any) -> str:
    """A Fn::Join of strings and Refs as text, Refs shown as ``<LogicalId>``."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return f"<{value['Ref']}>"
    separator, parts = value["Fn::Join"]
    return separator.join(_rendered(part) for part in parts)


def _only(template: dict[str, Any], resource_type: str) -> str:
    [logical_id] = of_type(template, resource_type)
    return logical_id


def _ci_role(template: dict[str, Any], name: str) -> tuple[str, dict[str, Any]]:
    roles = {
        logical_id: resource["Properties"]
        for logical_id, resource in of_type(template, "AWS::IAM::Role").items()
        if resource["Properties"].get("RoleName") == name
    }
    assert len(roles) == 1, f"roles named {name!r}: {sorted(roles)}"
    return next(iter(roles.items()))


def _granted_routes(template: dict[str, Any], role_id: str) -> set[tuple[str, str]]:
    api = _only(template, "AWS::ApiGateway::RestApi")
    stage = _only(template, "AWS::ApiGateway::Stage")
    prefix = f"arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<{api}>/<{stage}>/"
    [statement] = statements_of_role(template, role_id)
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "execute-api:Invoke"
    assert "Condition" not in statement
    assert "*" not in statement["Resource"]
    routes = set()
    for resource in statement["Resource"]:
        arn = _rendered(resource)
        assert arn.startswith(prefix), arn
        method, path = arn.removeprefix(prefix).split("/", 1)
        routes.add((method, f"/{path}"))
    return routes


@pytest.fixture(scope="module")
def ci_role(synthesis) -> tuple[str, dict[str, Any]]:
    return _ci_role(synthesis.template, f"{cdk_json_context()['name_prefix']}-ci")


def test_given_the_stack_when_synthesized_then_the_ci_role_is_assumable_only_from_its_own_account(
    ci_role,
):
    _, properties = ci_role
    [statement] = properties["AssumeRolePolicyDocument"]["Statement"]

    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sts:AssumeRole"
    assert list(statement["Principal"]) == ["AWS"]
    assert (
        _rendered(statement["Principal"]["AWS"])
        == "arn:<AWS::Partition>:iam::<AWS::AccountId>:root"
    )
    assert "ManagedPolicyArns" not in properties


def test_given_the_ci_role_when_synthesized_then_it_may_invoke_exactly_the_pipeline_routes_on_the_stage(
    synthesis, ci_role
):
    role_id, _ = ci_role

    assert _granted_routes(synthesis.template, role_id) == PIPELINE_ROUTES


def test_given_the_ci_role_when_synthesized_then_its_grant_is_the_api_route_table(
    synthesis, ci_role
):
    from ads.api_routes import routes

    role_id, _ = ci_role
    table = {(r.method, re.sub(r"\{[^}]+\}", "*", r.path)) for r in routes() if not r.admin}

    assert _granted_routes(synthesis.template, role_id) == table


def test_given_the_admin_routes_when_the_ci_role_is_synthesized_then_it_may_not_invoke_them(
    synthesis, ci_role
):
    from ads.api_routes import admin_routes

    role_id, _ = ci_role

    # The sweep is an admin operation: a pipeline must not terminate other owners' VMs.
    assert set(admin_routes()) == {("GET", "/sweep"), ("POST", "/sweep")}
    assert not set(admin_routes()) & _granted_routes(synthesis.template, role_id)


def test_given_the_ci_role_grant_when_compared_with_the_api_then_every_route_exists():
    from cdk_app.api_construct import ROUTES

    served = {(method, re.sub(r"\{[^}]+\}", "*", path)) for path, method, _ in ROUTES}

    assert served >= PIPELINE_ROUTES


def test_given_the_stack_when_synthesized_then_the_ci_role_arn_is_an_output(synthesis, ci_role):
    role_id, _ = ci_role

    assert synthesis.template["Outputs"]["CiRoleArn"]["Value"] == {"Fn::GetAtt": [role_id, "Arn"]}


def test_given_the_ci_trigger_when_synthesized_then_it_is_told_the_ci_role_name(synthesis, ci_role):
    _, role = ci_role
    _, trigger = ads_functions(synthesis.template)["ci_trigger"]

    assert trigger["Environment"]["Variables"]["ADS_CI_ROLE_NAME"] == role["RoleName"]


def test_given_another_name_prefix_when_the_ci_role_is_built_then_its_name_follows_the_prefix():
    from aws_cdk import App, Stack
    from aws_cdk import aws_apigateway as apigw
    from aws_cdk.assertions import Template

    from cdk_app.ci_trigger_construct import CiRole
    from cdk_app.settings import Settings

    stack = Stack(App(), "Probe")
    rest_api = apigw.RestApi(stack, "RestApi")
    rest_api.root.add_method("GET", apigw.MockIntegration())

    CiRole(stack, "CiRole", settings=Settings(name_prefix="team"), rest_api=rest_api)

    template = Template.from_stack(stack).to_json()
    role_id, _ = _ci_role(template, "team-ci")
    assert _granted_routes(template, role_id) == PIPELINE_ROUTES
