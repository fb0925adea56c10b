"""Cohorts: the DeployCohort machine, what its role may do (start DeployLab and follow it
through .sync:2, nothing else of Step Functions), the api's grants, and the routes."""

from __future__ import annotations

import json

from ads.asl_placeholders import STATE_MACHINE_PLACEHOLDERS, STEP_FUNCTION_PLACEHOLDERS
from cdk_app.cohort_construct import COHORT_ASL, SYNC_EVENTS_RULE
from tests.infra.template_queries import (
    actions_of,
    ads_functions,
    of_type,
    resources_of,
    role_of,
    statements_of_function,
    statements_of_role,
    statements_with_action,
    text,
)

MACHINE_NAME = "ads-deploy-cohort"
DEPLOY_NAME = "ads-deploy-lab"


def _machines(synthesis) -> dict[str, tuple[str, dict]]:
    return {
        m["Properties"]["StateMachineName"]: (logical_id, m["Properties"])
        for logical_id, m in of_type(synthesis.template, "AWS::StepFunctions::StateMachine").items()
    }


def test_given_the_stack_when_synthesized_then_deploycohort_runs_the_asl_and_starts_deploylab(
    synthesis,
):
    machines = _machines(synthesis)
    _, props = machines[MACHINE_NAME]
    deploy_id, _ = machines[DEPLOY_NAME]
    definition = json.loads(props["DefinitionString"])
    assert set(definition["States"]) == set(json.loads(COHORT_ASL.read_text())["States"])
    assert definition["States"]["Deploy Member Labs"]["MaxConcurrency"] == 5
    substitutions = props["DefinitionSubstitutions"]
    assert substitutions[STATE_MACHINE_PLACEHOLDERS["DeployLab"]] == {"Ref": deploy_id}
    record_status = ads_functions(synthesis.template)["record_status"][0]
    assert substitutions[STEP_FUNCTION_PLACEHOLDERS["record_status"]] == {
        "Fn::GetAtt": [record_status, "Arn"]
    }


def test_given_deploycohorts_role_when_synthesized_then_it_may_start_and_follow_deploylab_only(
    synthesis,
):
    machines = _machines(synthesis)
    _, props = machines[MACHINE_NAME]
    deploy_id, _ = machines[DEPLOY_NAME]
    statements = statements_of_role(synthesis.template, props["RoleArn"]["Fn::GetAtt"][0])
    granted = {a for s in statements for a in actions_of(s)}

    states = {a for a in granted if a.startswith("states:")}
    assert states == {"states:StartExecution", "states:DescribeExecution", "states:StopExecution"}
    (start,) = statements_with_action(statements, "states:StartExecution")
    assert resources_of(start) == [{"Ref": deploy_id}]
    (follow,) = statements_with_action(statements, "states:DescribeExecution")
    assert set(actions_of(follow)) == {"states:DescribeExecution", "states:StopExecution"}
    assert f"execution:{DEPLOY_NAME}:*" in text(resources_of(follow))
    (rule,) = statements_with_action(statements, "events:PutRule")
    assert set(actions_of(rule)) == {"events:PutTargets", "events:PutRule", "events:DescribeRule"}
    assert f"rule/{SYNC_EVENTS_RULE}" in text(resources_of(rule))
    assert not {a for a in granted if a.startswith(("ec2:", "ssm:", "dynamodb:"))}


def test_given_the_api_when_synthesized_then_it_starts_follows_and_stops_deploycohort(synthesis):
    machine_id, _ = _machines(synthesis)[MACHINE_NAME]
    function = ads_functions(synthesis.template)["api"][1]
    assert function["Environment"]["Variables"]["ADS_COHORT_STATE_MACHINE_ARN"] == {
        "Ref": machine_id
    }
    statements = statements_of_role(synthesis.template, role_of(function))
    started = [
        r
        for s in statements_with_action(statements, "states:StartExecution")
        for r in resources_of(s)
    ]
    assert {"Ref": machine_id} in started
    stops = [
        s
        for s in statements_with_action(statements, "states:StopExecution")
        if f"{MACHINE_NAME}:*" in text(resources_of(s))
    ]
    assert len(stops) == 1


def test_given_the_api_when_synthesized_then_the_cohort_routes_exist_with_iam_auth(synthesis):
    resources = of_type(synthesis.template, "AWS::ApiGateway::Resource")
    parts = {r["Properties"]["PathPart"] for r in resources.values()}
    assert {"cohorts", "{cohort_id}", "lease"} <= parts
    methods = of_type(synthesis.template, "AWS::ApiGateway::Method")
    assert all(m["Properties"]["AuthorizationType"] == "AWS_IAM" for m in methods.values())


def test_given_cohort_max_members_in_context_when_read_then_it_is_the_ads_variable_and_checked():
    from cdk_app.settings import ContextError, Settings

    assert Settings().cohort_environment() == {"ADS_COHORT_MAX_MEMBERS": "200"}
    settings = Settings.from_mapping({"cohort_max_members": "40"})
    assert settings.cohort_environment() == {"ADS_COHORT_MAX_MEMBERS": "40"}
    for wrong in (0, 1001, "many", 2.5):
        try:
            Settings.from_mapping({"cohort_max_members": wrong})
        except ContextError as refused:
            assert refused.key == "cohort_max_members" and "1 to 1000" in str(refused)
        else:
            raise AssertionError(f"cohort_max_members {wrong!r} was accepted")


def test_given_the_stack_when_synthesized_then_the_lambdas_requesting_cohorts_carry_the_limit(
    synthesis,
):
    functions = ads_functions(synthesis.template)
    for name in ("api", "ci_trigger"):
        variables = functions[name][1]["Environment"]["Variables"]
        assert variables["ADS_COHORT_MAX_MEMBERS"] == "200", name


def test_given_record_cohort_when_synthesized_then_deploycohort_invokes_it_and_it_puts_only_on_the_lifecycle_bus(
    synthesis,
):
    machines = _machines(synthesis)
    _, props = machines[MACHINE_NAME]
    record_cohort = ads_functions(synthesis.template)["record_cohort"][0]
    assert props["DefinitionSubstitutions"][STEP_FUNCTION_PLACEHOLDERS["record_cohort"]] == {
        "Fn::GetAtt": [record_cohort, "Arn"]
    }
    definition = json.loads(props["DefinitionString"])
    assert definition["States"]["Deploy Member Labs"]["Next"] == "Record Cohort Deployed"
    (bus,) = [
        logical_id
        for logical_id, bus in of_type(synthesis.template, "AWS::Events::EventBus").items()
        if bus["Properties"]["Name"] == "ads-lifecycle"
    ]
    for name in ("record_cohort", "api"):
        (put,) = statements_with_action(
            statements_of_function(synthesis.template, name), "events:PutEvents"
        )
        assert resources_of(put) == [{"Fn::GetAtt": [bus, "Arn"]}], name


def test_given_the_ci_trigger_when_synthesized_then_cohort_requests_reach_it_and_it_may_start_deploycohort(
    synthesis,
):
    from cdk_app.ci_trigger_construct import CI_COHORT_DETAIL_TYPE
    from functions.ci_trigger.handler import COHORT_DETAIL_TYPE

    assert CI_COHORT_DETAIL_TYPE == COHORT_DETAIL_TYPE
    (rule,) = [
        r
        for r in of_type(synthesis.template, "AWS::Events::Rule").values()
        if r["Properties"].get("EventPattern", {}).get("source") == ["ads.ci"]
    ]
    assert COHORT_DETAIL_TYPE in rule["Properties"]["EventPattern"]["detail-type"]
    machine_id, _ = _machines(synthesis)[MACHINE_NAME]
    name, props = "ci_trigger", ads_functions(synthesis.template)["ci_trigger"][1]
    assert props["Environment"]["Variables"]["ADS_COHORT_STATE_MACHINE_ARN"] == {"Ref": machine_id}
    starts = statements_with_action(
        statements_of_function(synthesis.template, name), "states:StartExecution"
    )
    assert any(machine_id in text(s["Resource"]) for s in starts)
