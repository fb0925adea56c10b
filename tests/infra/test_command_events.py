"""DeployLab's event-driven wait on AWS: the rule on SSM's command events, the callback
Lambda's grants, and the waits' deadlines as the template carries them."""

from __future__ import annotations

import json

from tests.infra.template_queries import (
    actions_of,
    ads_functions,
    of_type,
    resources_of,
    statements_of_function,
    statements_with_action,
    text,
)

TASK_ANSWERS = {"states:SendTaskSuccess", "states:SendTaskFailure"}


def _rule(template):
    rules = [
        r["Properties"]
        for r in of_type(template, "AWS::Events::Rule").values()
        if r["Properties"].get("EventPattern", {}).get("source") == ["aws.ssm"]
    ]
    assert len(rules) == 1, rules
    return rules[0]


def test_given_the_stack_when_synthesized_then_a_rule_sends_ended_run_commands_to_the_callback(
    synthesis,
):
    rule = _rule(synthesis.template)
    pattern = rule["EventPattern"]

    assert pattern["detail-type"] == ["EC2 Command Invocation Status-change Notification"]
    assert pattern["detail"]["document-name"] == ["AWS-RunShellScript"]
    # Terminal statuses only: an InProgress event would wake nothing.
    assert set(pattern["detail"]["status"]) == {
        "Success",
        "Failed",
        "TimedOut",
        "Cancelled",
        "Undeliverable",
        "Terminated",
    }
    assert "InProgress" not in pattern["detail"]["status"]
    # The default bus: SSM publishes there, not on the lifecycle bus.
    assert "EventBusName" not in rule
    ((target,),) = [rule["Targets"]]
    callback_id, _ = ads_functions(synthesis.template)["step_callback"]
    assert target["Arn"] == {"Fn::GetAtt": [callback_id, "Arn"]}
    # A lost delivery is retried, and the wait's own poll is behind it.
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 2


def test_given_the_callback_when_its_grants_are_read_then_it_answers_deploy_lab_tasks_and_reads_waits_only(
    synthesis,
):
    statements = statements_of_function(synthesis.template, "step_callback")

    answers = [s for s in statements if TASK_ANSWERS & set(actions_of(s))]
    assert answers and all(set(actions_of(s)) == TASK_ANSWERS for s in answers)
    for statement in answers:
        (resource,) = resources_of(statement)
        assert ":stateMachine:ads-deploy-lab" in text(resource)
    table = [s for s in statements if any(a.startswith("dynamodb:") for a in actions_of(s))]
    assert {a for s in table for a in actions_of(s)} == {"dynamodb:GetItem", "dynamodb:DeleteItem"}
    for statement in table:
        assert all("index" not in text(r) for r in resources_of(statement))
    # Nothing that starts, stops or sends: it only answers tasks.
    every_action = {a for s in statements for a in actions_of(s)}
    assert not {"ssm:SendCommand", "states:StartExecution", "ec2:TerminateInstances"} & every_action
    assert statements_with_action(statements, "ssm:GetCommandInvocation")


def test_given_await_init_when_its_lambda_finds_the_command_ended_then_it_may_answer_its_own_task(
    synthesis,
):
    statements = statements_of_function(synthesis.template, "init_vm")

    answers = [s for s in statements if TASK_ANSWERS & set(actions_of(s))]
    assert len(answers) == 1
    (resource,) = resources_of(answers[0])
    assert ":stateMachine:ads-deploy-lab" in text(resource)


def test_given_the_waits_when_synthesized_then_their_deadlines_come_from_the_settings(synthesis):
    functions = ads_functions(synthesis.template)
    wait_env = functions["wait_running"][1]["Environment"]["Variables"]

    assert wait_env["ADS_BOOT_DEADLINE_S"] == "600"
    assert wait_env["ADS_INIT_POLL_S"] == "300"
    machines = [
        m["Properties"]
        for m in of_type(synthesis.template, "AWS::StepFunctions::StateMachine").values()
        if m["Properties"]["StateMachineName"] == "ads-deploy-lab"
    ]
    definition = text(machines[0]["DefinitionString"])
    # Await Init's resource is bound to the stack's partition like every ARN of the ASL.
    substitutions = text(machines[0]["DefinitionSubstitutions"])
    assert "states:::lambda:invoke.waitForTaskToken" in substitutions
    # Its deadline is read at run time from Wait Until Running's result (the settings).
    assert json.dumps("$.running.result.init_poll_s")[1:-1] in definition
