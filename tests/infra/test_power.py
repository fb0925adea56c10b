"""Power: the power_vm Lambda's grants, the PowerLab machine, the api's reach and the alarms."""

from __future__ import annotations

import json

from ads.asl_placeholders import STEP_FUNCTION_PLACEHOLDERS
from cdk_app.power_construct import POWER_ACTIONS, POWER_ASL, POWER_VM_TIMEOUT_S
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

MACHINE_NAME = "ads-power-lab"


def _machine(synthesis) -> tuple[str, dict]:
    machines = {
        m["Properties"]["StateMachineName"]: (logical_id, m["Properties"])
        for logical_id, m in of_type(synthesis.template, "AWS::StepFunctions::StateMachine").items()
    }
    assert MACHINE_NAME in machines, sorted(machines)
    return machines[MACHINE_NAME]


def _function_logical_id(synthesis, name: str) -> str:
    return ads_functions(synthesis.template)[name][0]


def test_given_the_stack_when_synthesized_then_powerlab_is_a_standard_machine_with_the_asl_inline(
    synthesis,
):
    _, props = _machine(synthesis)
    assert props["StateMachineType"] == "STANDARD"
    definition = json.loads(props["DefinitionString"])
    assert set(definition["States"]) == set(
        json.loads(POWER_ASL.read_text(encoding="utf-8"))["States"]
    )
    assert props["TracingConfiguration"] == {"Enabled": True}
    assert props["LoggingConfiguration"]["Level"] == "ALL"


def test_given_powerlab_when_synthesized_then_its_steps_are_power_vm_and_the_shared_health_check(
    synthesis,
):
    _, props = _machine(synthesis)
    substitutions = props["DefinitionSubstitutions"]
    for step in ("power_vm", "health_check"):
        bound = substitutions[STEP_FUNCTION_PLACEHOLDERS[step]]
        assert bound == {"Fn::GetAtt": [_function_logical_id(synthesis, step), "Arn"]}
    # Every placeholder the definition keeps is bound (an unbound one fails at run time).
    left = {
        name.strip("${}")
        for name in json.dumps(json.loads(props["DefinitionString"])).split('"')
        if name.startswith("${")
    }
    assert left <= set(substitutions)


def test_given_powerlab_when_synthesized_then_its_role_invokes_only_its_two_functions(synthesis):
    _, props = _machine(synthesis)
    invoked = set()
    for statement in statements_of_role(synthesis.template, props["RoleArn"]["Fn::GetAtt"][0]):
        if "lambda:InvokeFunction" in actions_of(statement):
            for resource in resources_of(statement):
                target = resource if "Fn::GetAtt" in resource else resource["Fn::Join"][1][0]
                invoked.add(target["Fn::GetAtt"][0])
    assert invoked == {_function_logical_id(synthesis, s) for s in ("power_vm", "health_check")}


def test_given_power_vm_when_synthesized_then_it_runs_in_the_lab_subnets_with_the_health_check_group(
    synthesis,
):
    functions = ads_functions(synthesis.template)
    power = functions["power_vm"][1]
    health = functions["health_check"][1]
    assert power["Timeout"] == POWER_VM_TIMEOUT_S
    assert power["VpcConfig"] == health["VpcConfig"]


def test_given_power_vm_when_synthesized_then_it_powers_only_instances_tagged_ads_managed(
    synthesis,
):
    statements = statements_of_function(synthesis.template, "power_vm")
    for action in POWER_ACTIONS:
        (statement,) = statements_with_action(statements, action)
        assert set(actions_of(statement)) == set(POWER_ACTIONS)
        (instances,) = resources_of(statement)
        assert ":instance/*" in text(instances)
        assert statement["Condition"] == {"StringEquals": {"aws:ResourceTag/ads:managed": "true"}}


def test_given_the_other_functions_when_synthesized_then_none_may_stop_start_or_reboot_instances(
    synthesis,
):
    holders = {
        name
        for name in ads_functions(synthesis.template)
        for action in POWER_ACTIONS
        if statements_with_action(statements_of_function(synthesis.template, name), action)
    }
    assert holders == {"power_vm"}


def test_given_power_vm_when_synthesized_then_run_command_is_the_shell_document_on_tagged_instances(
    synthesis,
):
    statements = statements_with_action(
        statements_of_function(synthesis.template, "power_vm"), "ssm:SendCommand"
    )
    by_target = {text(resources_of(s)[0]): s for s in statements}
    assert len(by_target) == 2
    (document,) = [s for t, s in by_target.items() if "document/AWS-RunShellScript" in t]
    assert "Condition" not in document
    (instances,) = [s for t, s in by_target.items() if ":instance/*" in t]
    assert instances["Condition"] == {"StringEquals": {"ssm:resourceTag/ads:managed": "true"}}
    (results,) = statements_with_action(
        statements_of_function(synthesis.template, "power_vm"), "ssm:GetCommandInvocation"
    )
    assert resources_of(results) == ["*"]


def test_given_power_vm_when_synthesized_then_it_puts_events_on_the_lifecycle_bus_only(synthesis):
    (bus_id,) = [
        logical_id
        for logical_id, bus in of_type(synthesis.template, "AWS::Events::EventBus").items()
        if "lifecycle" in text(bus["Properties"].get("Name", "")).lower()
    ]
    (statement,) = statements_with_action(
        statements_of_function(synthesis.template, "power_vm"), "events:PutEvents"
    )
    assert [text(r) for r in resources_of(statement)] == [text({"Fn::GetAtt": [bus_id, "Arn"]})]


def test_given_power_vm_when_synthesized_then_it_reads_and_writes_the_labs_table(synthesis):
    (table_id,) = of_type(synthesis.template, "AWS::DynamoDB::Table")
    (statement,) = statements_with_action(
        statements_of_function(synthesis.template, "power_vm"), "dynamodb:UpdateItem"
    )
    assert text({"Fn::GetAtt": [table_id, "Arn"]}) in [text(r) for r in resources_of(statement)]


def test_given_the_api_when_synthesized_then_it_knows_powerlab_and_may_start_only_that_machine_too(
    synthesis,
):
    machine_id, _ = _machine(synthesis)
    api = ads_functions(synthesis.template)["api"][1]
    assert api["Environment"]["Variables"]["ADS_POWER_STATE_MACHINE_ARN"] == {"Ref": machine_id}
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
        if "ads-power-lab:*" in text(resources_of(s))
    ]
    assert "states:StopExecution" not in actions_of(follow)


def test_given_powerlab_when_synthesized_then_failed_timed_out_and_aborted_executions_alarm(
    synthesis,
):
    machine_id, _ = _machine(synthesis)
    watched = {
        alarm["Properties"]["MetricName"]
        for alarm in of_type(synthesis.template, "AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("Namespace") == "AWS/States"
        and {"Name": "StateMachineArn", "Value": {"Ref": machine_id}}
        in alarm["Properties"].get("Dimensions", [])
    }
    assert watched == {"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"}
