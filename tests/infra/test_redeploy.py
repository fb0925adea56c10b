"""Update in place: the redeploy_vm Lambda's grants, the RedeployLab machine, and the front
doors (api, CI trigger) that start it."""

from __future__ import annotations

import json

from ads.asl_placeholders import STEP_FUNCTION_PLACEHOLDERS
from cdk_app.redeploy_construct import REDEPLOY_ASL, REDEPLOY_VM_TIMEOUT_S
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

MACHINE_NAME = "ads-redeploy-lab"


def _machine(synthesis) -> tuple[str, dict]:
    machines = {
        m["Properties"]["StateMachineName"]: (logical_id, m["Properties"])
        for logical_id, m in of_type(synthesis.template, "AWS::StepFunctions::StateMachine").items()
    }
    assert MACHINE_NAME in machines, sorted(machines)
    return machines[MACHINE_NAME]


def test_given_the_stack_when_synthesized_then_redeploylab_calls_redeploy_vm_destroy_vm_and_record_status(
    synthesis,
):
    _, props = _machine(synthesis)
    assert props["StateMachineType"] == "STANDARD"
    definition = json.loads(props["DefinitionString"])
    assert set(definition["States"]) == set(json.loads(REDEPLOY_ASL.read_text())["States"])
    functions = ads_functions(synthesis.template)
    expected = {functions[step][0] for step in ("redeploy_vm", "destroy_vm", "record_status")}
    for step in ("redeploy_vm", "destroy_vm", "record_status"):
        bound = props["DefinitionSubstitutions"][STEP_FUNCTION_PLACEHOLDERS[step]]
        assert bound == {"Fn::GetAtt": [functions[step][0], "Arn"]}
    invoked = set()
    for statement in statements_of_role(synthesis.template, props["RoleArn"]["Fn::GetAtt"][0]):
        if "lambda:InvokeFunction" in actions_of(statement):
            for resource in resources_of(statement):
                target = resource if "Fn::GetAtt" in resource else resource["Fn::Join"][1][0]
                invoked.add(target["Fn::GetAtt"][0])
    assert invoked == expected


def test_given_redeploy_vm_when_synthesized_then_it_sends_commands_to_tagged_instances_only(
    synthesis,
):
    function = ads_functions(synthesis.template)["redeploy_vm"][1]
    assert function["Timeout"] == REDEPLOY_VM_TIMEOUT_S
    # In the lab subnets: Check Health asks the agent on the VM.
    assert function["VpcConfig"]["SubnetIds"] and function["VpcConfig"]["SecurityGroupIds"]
    statements = statements_of_function(synthesis.template, "redeploy_vm")
    sends = statements_with_action(statements, "ssm:SendCommand")
    by_target = {text(resources_of(s)[0]): s for s in sends}
    (document,) = [s for t, s in by_target.items() if "document/AWS-RunShellScript" in t]
    assert "Condition" not in document
    (instances,) = [s for t, s in by_target.items() if ":instance/*" in t]
    assert instances["Condition"] == {"StringEquals": {"ssm:resourceTag/ads:managed": "true"}}
    granted = {a for s in statements for a in actions_of(s)}
    # It never terminates, powers or describes instances: a lost lab goes through destroy_vm.
    assert not {a for a in granted if a.startswith("ec2:")}
    assert {a for a in granted if a.startswith("ssm:")} == {
        "ssm:SendCommand",
        "ssm:GetCommandInvocation",
    }
    assert "events:PutEvents" in granted


def test_given_the_front_doors_when_synthesized_then_api_and_ci_trigger_start_and_follow_redeploylab(
    synthesis,
):
    machine_id, _ = _machine(synthesis)
    functions = ads_functions(synthesis.template)
    for name in ("api", "ci_trigger"):
        function = functions[name][1]
        variables = function["Environment"]["Variables"]
        assert variables["ADS_REDEPLOY_STATE_MACHINE_ARN"] == {"Ref": machine_id}, name
        statements = statements_of_role(synthesis.template, role_of(function))
        started = [
            r
            for s in statements_with_action(statements, "states:StartExecution")
            for r in resources_of(s)
        ]
        assert {"Ref": machine_id} in started, name
        (follow,) = [
            s
            for s in statements_with_action(statements, "states:DescribeExecution")
            if "ads-redeploy-lab:*" in text(resources_of(s))
        ]
        assert "states:StopExecution" not in actions_of(follow)


def test_given_the_ci_rule_when_synthesized_then_it_admits_update_requests(synthesis):
    rules = of_type(synthesis.template, "AWS::Events::Rule")
    patterns = [r["Properties"].get("EventPattern") or {} for r in rules.values()]
    (ci,) = [p for p in patterns if p.get("source") == ["ads.ci"]]
    assert set(ci["detail-type"]) == {
        "Lab Deployment Requested",
        "Lab Update Requested",
        "Cohort Deployment Requested",
    }


def test_given_the_stack_when_synthesized_then_it_outputs_the_redeploy_machine(synthesis):
    outputs = synthesis.template.get("Outputs", {})
    machine_id, _ = _machine(synthesis)
    assert outputs["RedeployStateMachineArn"]["Value"] == {"Ref": machine_id}
