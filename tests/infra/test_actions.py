"""Lab actions: the run_action Lambda's grants, the ActionLab machine and the api's reach."""

from __future__ import annotations

import json

from ads.asl_placeholders import STEP_FUNCTION_PLACEHOLDERS
from cdk_app.action_construct import ACTION_ASL, RUN_ACTION_TIMEOUT_S
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

MACHINE_NAME = "ads-action-lab"


def _machine(synthesis) -> tuple[str, dict]:
    machines = {
        m["Properties"]["StateMachineName"]: (logical_id, m["Properties"])
        for logical_id, m in of_type(synthesis.template, "AWS::StepFunctions::StateMachine").items()
    }
    assert MACHINE_NAME in machines, sorted(machines)
    return machines[MACHINE_NAME]


def test_given_the_stack_when_synthesized_then_actionlab_is_a_standard_machine_calling_run_action(
    synthesis,
):
    _, props = _machine(synthesis)
    assert props["StateMachineType"] == "STANDARD"
    definition = json.loads(props["DefinitionString"])
    assert set(definition["States"]) == set(json.loads(ACTION_ASL.read_text())["States"])
    run_action_id = ads_functions(synthesis.template)["run_action"][0]
    bound = props["DefinitionSubstitutions"][STEP_FUNCTION_PLACEHOLDERS["run_action"]]
    assert bound == {"Fn::GetAtt": [run_action_id, "Arn"]}
    invoked = set()
    for statement in statements_of_role(synthesis.template, props["RoleArn"]["Fn::GetAtt"][0]):
        if "lambda:InvokeFunction" in actions_of(statement):
            for resource in resources_of(statement):
                target = resource if "Fn::GetAtt" in resource else resource["Fn::Join"][1][0]
                invoked.add(target["Fn::GetAtt"][0])
    assert invoked == {run_action_id}


def test_given_run_action_when_synthesized_then_run_command_is_the_shell_document_on_tagged_instances(
    synthesis,
):
    function = ads_functions(synthesis.template)["run_action"][1]
    assert function["Timeout"] == RUN_ACTION_TIMEOUT_S
    statements = statements_of_function(synthesis.template, "run_action")
    sends = statements_with_action(statements, "ssm:SendCommand")
    by_target = {text(resources_of(s)[0]): s for s in sends}
    assert len(by_target) == 2 and all(actions_of(s) == ["ssm:SendCommand"] for s in sends)
    (document,) = [s for t, s in by_target.items() if "document/AWS-RunShellScript" in t]
    assert "Condition" not in document
    (instances,) = [s for t, s in by_target.items() if ":instance/*" in t]
    assert instances["Condition"] == {"StringEquals": {"ssm:resourceTag/ads:managed": "true"}}
    (results,) = statements_with_action(statements, "ssm:GetCommandInvocation")
    assert resources_of(results) == ["*"]
    # Nothing else of EC2 or SSM: it neither powers, creates nor describes instances.
    granted = {a for s in statements for a in actions_of(s)}
    assert not {a for a in granted if a.startswith("ec2:")}
    assert {a for a in granted if a.startswith("ssm:")} == {
        "ssm:SendCommand",
        "ssm:GetCommandInvocation",
    }
    # Its events (Lab Action Started / Succeeded / Failed) go on the lifecycle bus only.
    (put,) = statements_with_action(statements, "events:PutEvents")
    assert len(resources_of(put)) == 1 and "Lifecycle" in text(resources_of(put)[0])


def test_given_the_api_when_synthesized_then_it_knows_actionlab_and_follows_never_stops_it(
    synthesis,
):
    machine_id, _ = _machine(synthesis)
    api = ads_functions(synthesis.template)["api"][1]
    assert api["Environment"]["Variables"]["ADS_ACTION_STATE_MACHINE_ARN"] == {"Ref": machine_id}
    statements = statements_of_role(synthesis.template, role_of(api))
    started = [
        r
        for s in statements_with_action(statements, "states:StartExecution")
        for r in resources_of(s)
    ]
    assert {"Ref": machine_id} in started
    (follow,) = [
        s
        for s in statements_with_action(statements, "states:DescribeExecution")
        if "ads-action-lab:*" in text(resources_of(s))
    ]
    assert "states:StopExecution" not in actions_of(follow)


def test_given_the_api_when_synthesized_then_it_reads_logs_by_run_command_on_tagged_instances_only(
    synthesis,
):
    """GET /labs/{lab_id}/logs: SSM Run Command of the shell document on ADS's instances,
    and reading the invocation; the api Lambda stays out of the VPC."""
    api = ads_functions(synthesis.template)["api"][1]
    assert "VpcConfig" not in api
    statements = statements_of_role(synthesis.template, role_of(api))
    sends = statements_with_action(statements, "ssm:SendCommand")
    by_target = {text(resources_of(s)[0]): s for s in sends}
    assert len(by_target) == 2 and all(actions_of(s) == ["ssm:SendCommand"] for s in sends)
    (instances,) = [s for t, s in by_target.items() if ":instance/*" in t]
    assert instances["Condition"] == {"StringEquals": {"ssm:resourceTag/ads:managed": "true"}}
    (document,) = [s for t, s in by_target.items() if "document/AWS-RunShellScript" in t]
    assert "Condition" not in document
    assert statements_with_action(statements, "ssm:GetCommandInvocation")
