"""The CI request bus: only CI principals may put events on it, and failures are kept."""

from __future__ import annotations

from typing import Any

from tests.infra.template_queries import (
    actions_of,
    ads_functions,
    event_rule,
    of_type,
    resources_of,
    statements_of_function,
)


def _bus_id(template: dict[str, Any], name: str) -> str:
    (bus_id,) = [
        logical_id
        for logical_id, bus in of_type(template, "AWS::Events::EventBus").items()
        if bus["Properties"]["Name"] == name
    ]
    return bus_id


def _ci_role_arn(template: dict[str, Any]) -> dict[str, Any]:
    (role_id,) = [
        logical_id
        for logical_id, role in of_type(template, "AWS::IAM::Role").items()
        if role["Properties"].get("RoleName") == "ads-ci"
    ]
    return {"Fn::GetAtt": [role_id, "Arn"]}


def _bus_statements(template: dict[str, Any], bus_id: str) -> list[dict[str, Any]]:
    return [
        policy["Properties"]["Statement"]
        for policy in of_type(template, "AWS::Events::EventBusPolicy").values()
        if policy["Properties"]["EventBusName"] == {"Ref": bus_id}
    ]


def test_given_the_stack_when_synthesized_then_the_ci_rule_listens_on_the_ci_bus_not_the_default_one(
    synthesis,
):
    template = synthesis.template
    # The CI requests' rule (ADS has other rules: SSM command events, the health watch).
    rule = event_rule(template, "ads.ci")

    assert rule["Properties"]["EventBusName"] == {"Ref": _bus_id(template, "ads-ci")}
    assert synthesis.template["Outputs"]["CiEventBusName"]["Value"] == {
        "Ref": _bus_id(template, "ads-ci")
    }


def test_given_the_ci_bus_when_synthesized_then_only_the_ci_role_may_put_events_and_everyone_else_is_denied(
    synthesis,
):
    template = synthesis.template
    bus_id = _bus_id(template, "ads-ci")
    bus_arn = {"Fn::GetAtt": [bus_id, "Arn"]}
    ci_role = _ci_role_arn(template)
    statements = _bus_statements(template, bus_id)

    allows = [s for s in statements if s["Effect"] == "Allow"]
    denies = [s for s in statements if s["Effect"] == "Deny"]
    assert [(s["Action"], s["Principal"], s["Resource"]) for s in allows] == [
        ("events:PutEvents", {"AWS": ci_role}, bus_arn)
    ]
    # Same-account principals need no grant from the bus: without the deny, any of them
    # allowed events:PutEvents by its own policy could request labs.
    [deny] = denies
    assert deny["Action"] == "events:PutEvents" and deny["Principal"] == {"AWS": "*"}
    assert deny["Resource"] == bus_arn
    assert deny["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": [ci_role]}}
    assert "Condition" not in allows[0]


def test_given_the_lifecycle_bus_when_synthesized_then_it_admits_no_outside_principal(synthesis):
    template = synthesis.template

    assert _bus_statements(template, _bus_id(template, "ads-lifecycle")) == []


def test_given_ci_principals_in_context_when_the_bus_is_built_then_exactly_they_are_admitted():
    from aws_cdk import App, Stack
    from aws_cdk.assertions import Template

    from cdk_app.ci_trigger_construct import CiBus, ci_accounts
    from cdk_app.settings import Settings

    principals = (
        "arn:aws:iam::123456789012:role/release-pipeline",
        "arn:aws:iam::210987654321:role/other-team-ci",
    )
    settings = Settings.from_mapping({"ci_principals": list(principals)})
    stack = Stack(App(), "CiBusProbe")
    CiBus(stack, "CiBus", settings=settings, principals=list(settings.ci_principals))

    template = Template.from_stack(stack).to_json()
    statements = [
        p["Properties"]["Statement"]
        for p in of_type(template, "AWS::Events::EventBusPolicy").values()
    ]
    [allow] = [s for s in statements if s["Effect"] == "Allow"]
    [deny] = [s for s in statements if s["Effect"] == "Deny"]
    assert sorted(allow["Principal"]["AWS"]) == sorted(principals)
    assert deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"] == list(principals)
    assert ci_accounts(settings) == ["123456789012", "210987654321"]


def test_given_the_ci_trigger_when_synthesized_then_it_is_told_the_ci_owner_and_the_admitted_accounts(
    synthesis,
):
    _, trigger = ads_functions(synthesis.template)["ci_trigger"]
    variables = trigger["Environment"]["Variables"]

    assert variables["ADS_CI_OWNER_ARN"] == _ci_role_arn(synthesis.template)
    assert variables["ADS_CI_ACCOUNTS"] == {"Ref": "AWS::AccountId"}


def test_given_the_ci_trigger_when_its_handler_fails_after_retries_then_the_event_goes_to_the_dead_letter_queue(
    synthesis,
):
    template = synthesis.template
    function_id, _ = ads_functions(template)["ci_trigger"]
    (queue_id,) = of_type(template, "AWS::SQS::Queue")
    queue_arn = {"Fn::GetAtt": [queue_id, "Arn"]}
    configs = [
        c["Properties"]
        for c in of_type(template, "AWS::Lambda::EventInvokeConfig").values()
        if c["Properties"]["FunctionName"] == {"Ref": function_id}
    ]

    [config] = configs
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == queue_arn
    assert 0 <= config["MaximumRetryAttempts"] <= 2
    sends = [
        s
        for s in statements_of_function(template, "ci_trigger")
        if "sqs:SendMessage" in actions_of(s)
    ]
    assert [resources_of(s) for s in sends] == [[queue_arn]]
    # Delivery failures (EventBridge could not invoke) land in the same queue.
    # The CI requests' rule (ADS has other rules: SSM command events, the health watch).
    rule = event_rule(template, "ads.ci")
    assert rule["Properties"]["Targets"][0]["DeadLetterConfig"]["Arn"] == queue_arn
