"""The sweep: its Lambda, its schedule, its least-privilege grants, its alarm, the api's call."""

from __future__ import annotations

import json

from ads.config import MANAGED_TAG
from cdk_app.sweep_construct import SWEEP_TIMEOUT_S
from tests.infra.template_queries import (
    actions_of,
    ads_functions,
    of_type,
    resources_of,
    statements_of_function,
    statements_with_action,
    text,
)

MACHINES = {
    "ads-deploy-lab",
    "ads-destroy-lab",
    "ads-power-lab",
    "ads-action-lab",
    "ads-redeploy-lab",
    # A cohort's lab waits REQUESTED while its round runs (ads.sweep_records).
    "ads-deploy-cohort",
}


def test_given_the_stack_when_synthesized_then_an_hourly_rule_invokes_the_sweep_to_apply(synthesis):
    sweep_id, sweep = ads_functions(synthesis.template)["sweep"]
    rules = [
        rule["Properties"]
        for rule in of_type(synthesis.template, "AWS::Events::Rule").values()
        if "ScheduleExpression" in rule["Properties"]
    ]
    (rule,) = [r for r in rules if sweep_id in text(r["Targets"])]
    assert rule["ScheduleExpression"] == "rate(1 hour)"
    assert rule["State"] == "ENABLED"
    (target,) = rule["Targets"]
    assert json.loads(target["Input"]) == {"apply": True}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 0
    assert sweep["ReservedConcurrentExecutions"] == 1
    assert sweep["Timeout"] == SWEEP_TIMEOUT_S
    assert sweep["Environment"]["Variables"]["ADS_SWEEP_GRACE_S"] == "900"
    # Lab images unused for image_unused_days (cdk.json: 30) go with the sweep.
    assert sweep["Environment"]["Variables"]["ADS_IMAGE_UNUSED_DAYS"] == "30"
    assert "VpcConfig" not in sweep  # it asks no agent


def test_given_the_sweep_when_synthesized_then_it_terminates_only_managed_instances(synthesis):
    statements = statements_of_function(synthesis.template, "sweep")
    (terminate,) = statements_with_action(statements, "ec2:TerminateInstances")
    assert actions_of(terminate) == ["ec2:TerminateInstances"]
    assert terminate["Condition"] == {"StringEquals": {f"aws:ResourceTag/{MANAGED_TAG}": "true"}}
    assert all("instance/*" in text(r) for r in resources_of(terminate))
    (describe,) = statements_with_action(statements, "ec2:DescribeInstances")
    assert "ec2:TerminateInstances" not in actions_of(describe)
    actions = {a for s in statements for a in actions_of(s)}
    for refused in (
        "ec2:RunInstances",
        "ec2:StopInstances",
        "ssm:SendCommand",
        "states:StartExecution",
        "states:StopExecution",
    ):
        assert refused not in actions
    # Private lab access: the only per-lab groups to delete are labs of several VMs'.
    (delete,) = statements_with_action(statements, "ec2:DeleteSecurityGroup")
    assert delete["Condition"] == {
        "StringEquals": {
            f"aws:ResourceTag/{MANAGED_TAG}": "true",
            "aws:ResourceTag/ads:cluster": "true",
        }
    }
    assert all("security-group/*" in text(r) for r in resources_of(delete))


def test_given_the_sweep_when_synthesized_then_it_reads_only_ads_executions_table_and_bus(
    synthesis,
):
    statements = statements_of_function(synthesis.template, "sweep")
    (describe,) = statements_with_action(statements, "states:DescribeExecution")
    assert actions_of(describe) == ["states:DescribeExecution"]
    read = [text(r) for r in resources_of(describe)]
    assert len(read) == len(MACHINES)
    assert all(any(f"execution:{name}:*" in r for r in read) for name in MACHINES)
    (table_id,) = of_type(synthesis.template, "AWS::DynamoDB::Table")
    (writes,) = statements_with_action(statements, "dynamodb:UpdateItem")
    assert any(table_id in text(r) for r in resources_of(writes))
    (put,) = statements_with_action(statements, "events:PutEvents")
    assert "Lifecycle" in text(resources_of(put))


def test_given_the_api_when_synthesized_then_it_may_invoke_the_sweep_and_not_terminate(synthesis):
    functions = ads_functions(synthesis.template)
    sweep_id, _ = functions["sweep"]
    _, api = functions["api"]
    assert api["Environment"]["Variables"]["ADS_SWEEP_FUNCTION_NAME"] == {"Ref": sweep_id}
    statements = statements_of_function(synthesis.template, "api")
    (invoke,) = statements_with_action(statements, "lambda:InvokeFunction")
    assert all(sweep_id in text(r) for r in resources_of(invoke))
    actions = {a for s in statements for a in actions_of(s)}
    assert "ec2:TerminateInstances" not in actions


def test_given_the_stack_when_synthesized_then_the_sweeps_errors_alarm(synthesis):
    sweep_id, _ = ads_functions(synthesis.template)["sweep"]
    alarms = [
        a["Properties"]
        for a in of_type(synthesis.template, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == "Errors"
        and sweep_id in text(a["Properties"].get("Dimensions", []))
    ]
    assert len(alarms) == 1 and alarms[0]["AlarmActions"]
