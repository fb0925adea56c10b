"""Health watch: the watch_labs Lambda, its schedule, its least-privilege grants, its alarm."""

from __future__ import annotations

from cdk_app.watch_construct import WATCH_TIMEOUT_S
from tests.infra.template_queries import (
    actions_of,
    ads_functions,
    of_type,
    resources_of,
    statements_of_function,
    statements_with_action,
    text,
)


def _machine_ids(synthesis) -> dict[str, str]:
    return {
        m["Properties"]["StateMachineName"]: logical_id
        for logical_id, m in of_type(synthesis.template, "AWS::StepFunctions::StateMachine").items()
    }


def test_given_the_stack_when_synthesized_then_a_rate_rule_invokes_watch_labs_every_five_minutes(
    synthesis,
):
    watch_id, _ = ads_functions(synthesis.template)["watch_labs"]
    rules = [
        rule["Properties"]
        for rule in of_type(synthesis.template, "AWS::Events::Rule").values()
        if "ScheduleExpression" in rule["Properties"]
    ]
    (rule,) = [r for r in rules if watch_id in text(r["Targets"])]
    assert rule["ScheduleExpression"] == "rate(5 minutes)"
    assert rule["State"] == "ENABLED"
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [watch_id, "Arn"]}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 0
    permissions = [
        p["Properties"]
        for p in of_type(synthesis.template, "AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [watch_id, "Arn"]}
    ]
    assert [p["Principal"] for p in permissions] == ["events.amazonaws.com"]


def test_given_watch_labs_when_synthesized_then_it_asks_agents_from_the_lab_subnets_one_run_at_a_time(
    synthesis,
):
    functions = ads_functions(synthesis.template)
    watch = functions["watch_labs"][1]
    assert watch["VpcConfig"] == functions["health_check"][1]["VpcConfig"]
    assert watch["ReservedConcurrentExecutions"] == 1
    assert watch["Timeout"] == WATCH_TIMEOUT_S
    variables = watch["Environment"]["Variables"]
    assert variables["ADS_WATCH_INTERVAL_S"] == "300"
    assert variables["ADS_WATCH_FAILURES"] == "3"
    assert variables["ADS_WATCH_DEADLINE_S"] == "1800"
    assert variables["ADS_WATCH_RECOVERY"] == "start"
    assert variables["ADS_WATCH_ON_DEADLINE"] == "fail"
    assert {"ADS_POWER_STATE_MACHINE_ARN", "ADS_ACTION_STATE_MACHINE_ARN"} <= set(variables)
    assert "ADS_DESTROY_STATE_MACHINE_ARN" in variables
    assert "ADS_DEPLOY_STATE_MACHINE_ARN" not in variables


def test_given_watch_labs_when_synthesized_then_it_starts_only_the_recovery_and_destroy_machines(
    synthesis,
):
    machines = _machine_ids(synthesis)
    statements = statements_of_function(synthesis.template, "watch_labs")
    started = {
        text(resource)
        for statement in statements_with_action(statements, "states:StartExecution")
        for resource in resources_of(statement)
    }
    wanted = {"ads-power-lab", "ads-action-lab", "ads-destroy-lab"}
    assert started == {text({"Ref": machines[name]}) for name in wanted}
    followed = [
        text(resource)
        for statement in statements_with_action(statements, "states:DescribeExecution")
        for resource in resources_of(statement)
    ]
    assert len(followed) == 3
    assert all(any(f"execution:{name}:*" in f for name in wanted) for f in followed)
    actions = {a for s in statements for a in actions_of(s)}
    for refused in ("states:StopExecution", "ec2:RebootInstances", "ssm:SendCommand"):
        assert refused not in actions


def test_given_watch_labs_when_synthesized_then_it_uses_the_labs_table_and_puts_on_the_lifecycle_bus(
    synthesis,
):
    statements = statements_of_function(synthesis.template, "watch_labs")
    (table_id,) = of_type(synthesis.template, "AWS::DynamoDB::Table")
    (writes,) = statements_with_action(statements, "dynamodb:UpdateItem")
    assert any(table_id in text(r) for r in resources_of(writes))
    (bus_id,) = [
        logical_id
        for logical_id, bus in of_type(synthesis.template, "AWS::Events::EventBus").items()
        if "lifecycle" in text(bus["Properties"].get("Name", "")).lower()
    ]
    (put,) = statements_with_action(statements, "events:PutEvents")
    assert [text(r) for r in resources_of(put)] == [text({"Fn::GetAtt": [bus_id, "Arn"]})]


def test_given_run_action_when_synthesized_then_it_puts_its_action_events_on_the_lifecycle_bus(
    synthesis,
):
    statements = statements_of_function(synthesis.template, "run_action")
    assert statements_with_action(statements, "events:PutEvents")


def test_given_the_stack_when_synthesized_then_watch_labs_errors_alarm(synthesis):
    watch_id, _ = ads_functions(synthesis.template)["watch_labs"]
    alarms = [
        a["Properties"]
        for a in of_type(synthesis.template, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == "Errors"
        and watch_id in text(a["Properties"].get("Dimensions", []))
    ]
    assert len(alarms) == 1
    assert alarms[0]["AlarmActions"]


def test_given_the_labs_table_when_synthesized_then_it_has_the_status_index_the_watch_queries(
    synthesis,
):
    (table,) = of_type(synthesis.template, "AWS::DynamoDB::Table").values()
    indexes = {i["IndexName"]: i for i in table["Properties"]["GlobalSecondaryIndexes"]}
    assert indexes["status-index"]["KeySchema"][0] == {"AttributeName": "status", "KeyType": "HASH"}
