"""Leases in the template: the ADS schedule group, the Scheduler role that may invoke
lab_timer only, lab_timer's grants (start DestroyLab and PowerLab, stop deployments, the
records, the bus, delete schedules), the front doors' schedule writes on the group's
schedules only with iam:PassRole of the Scheduler role only, record_status's deletes."""

from __future__ import annotations

from tests.infra.template_queries import (
    actions_of,
    ads_functions,
    of_type,
    resources_of,
    statements_of_function,
    statements_of_role,
    statements_with_action,
    text,
)


def _scheduler_role(template) -> tuple[str, dict]:
    roles = [
        (logical_id, role)
        for logical_id, role in of_type(template, "AWS::IAM::Role").items()
        if "scheduler.amazonaws.com" in text(role["Properties"]["AssumeRolePolicyDocument"])
    ]
    assert len(roles) == 1, roles
    return roles[0]


def test_given_the_stack_when_synthesized_then_one_schedule_group_for_the_labs(synthesis):
    groups = of_type(synthesis.template, "AWS::Scheduler::ScheduleGroup")

    assert len(groups) == 1
    assert next(iter(groups.values()))["Properties"]["Name"].endswith("-labs")


def test_given_the_scheduler_role_when_synthesized_then_it_may_invoke_lab_timer_only(synthesis):
    logical_id, role = _scheduler_role(synthesis.template)
    trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "scheduler.amazonaws.com"}]
    assert "aws:SourceAccount" in text(trust)

    statements = statements_of_role(synthesis.template, logical_id)

    assert [actions_of(s) for s in statements] == [["lambda:InvokeFunction"]]
    timer_id = ads_functions(synthesis.template)["lab_timer"][0]
    assert resources_of(statements[0]) == [{"Fn::GetAtt": [timer_id, "Arn"]}]


def test_given_lab_timer_when_synthesized_then_it_starts_destroy_and_power_and_stops_deploys_only(
    synthesis,
):
    statements = statements_of_function(synthesis.template, "lab_timer")

    started = text(
        [resources_of(s) for s in statements_with_action(statements, "states:StartExecution")]
    )
    assert "DestroyLab" in started or "destroy" in started.lower()
    assert "power" in started.lower()
    assert "deploy" not in started.lower()
    stops = statements_with_action(statements, "states:StopExecution")
    assert len(stops) == 1 and "deploy-lab" in text(resources_of(stops[0]))
    deletes = statements_with_action(statements, "scheduler:DeleteSchedule")
    assert deletes and "-labs/*" in text(resources_of(deletes[0]))
    assert not statements_with_action(statements, "scheduler:CreateSchedule")
    assert not statements_with_action(statements, "iam:PassRole")
    assert not statements_with_action(statements, "ec2:TerminateInstances")


def test_given_the_front_doors_when_synthesized_then_they_write_the_groups_schedules_and_pass_only_the_scheduler_role(
    synthesis,
):
    role_id, _ = _scheduler_role(synthesis.template)
    for name in ("api", "ci_trigger"):
        statements = statements_of_function(synthesis.template, name)
        writes = statements_with_action(statements, "scheduler:CreateSchedule")
        assert len(writes) == 1, name
        assert set(actions_of(writes[0])) == {
            "scheduler:CreateSchedule",
            "scheduler:UpdateSchedule",
            "scheduler:DeleteSchedule",
            "scheduler:GetSchedule",
        }
        assert "-labs/*" in text(resources_of(writes[0]))
        passes = statements_with_action(statements, "iam:PassRole")
        assert len(passes) == 1, name
        assert resources_of(passes[0]) == [{"Fn::GetAtt": [role_id, "Arn"]}]
        assert passes[0]["Condition"] == {
            "StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}
        }
        environment = ads_functions(synthesis.template)[name][1]["Environment"]["Variables"]
        assert {
            "ADS_SCHEDULE_GROUP",
            "ADS_SCHEDULER_ROLE_ARN",
            "ADS_LAB_TIMER_FUNCTION_ARN",
        } <= set(environment)
        assert environment["ADS_LEASE_MAX"] == "7d"


def test_given_destroylabs_bookkeeping_when_synthesized_then_it_may_delete_schedules_only(
    synthesis,
):
    statements = statements_of_function(synthesis.template, "record_status")

    assert statements_with_action(statements, "scheduler:DeleteSchedule")
    assert not statements_with_action(statements, "scheduler:CreateSchedule")
    assert not statements_with_action(statements, "iam:PassRole")


def test_given_lab_timer_when_synthesized_then_its_errors_alarm(synthesis):
    timer_id = ads_functions(synthesis.template)["lab_timer"][0]
    alarms = of_type(synthesis.template, "AWS::CloudWatch::Alarm")

    assert any(
        a["Properties"].get("MetricName") == "Errors" and timer_id in text(a["Properties"])
        for a in alarms.values()
    )
