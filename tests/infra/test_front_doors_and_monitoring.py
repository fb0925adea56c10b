"""The REST API, the CI trigger, the lifecycle bus, the alarms and the stack outputs."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match

from ads import api_routes
from tests.infra.template_queries import ads_functions, event_rule, of_type

# The routes of the API's OpenAPI document (tests/integration/api/test_route_table.py ties
# the handler's resolver to it).
EXPECTED_ROUTES = {(route.method, route.path) for route in api_routes.routes()}


def _path_of(resources, resource_ref):
    if "Fn::GetAtt" in resource_ref:
        return ""
    props = resources[resource_ref["Ref"]]["Properties"]
    return f"{_path_of(resources, props['ParentId'])}/{props['PathPart']}"


def _routes(synthesis):
    resources = synthesis.template["Resources"]
    return {
        (props["HttpMethod"], _path_of(resources, props["ResourceId"])): props
        for props in (
            m["Properties"] for m in of_type(synthesis.template, "AWS::ApiGateway::Method").values()
        )
    }


def test_given_the_api_when_synthesized_then_it_serves_exactly_the_documented_routes(synthesis):
    assert set(_routes(synthesis)) == EXPECTED_ROUTES


def test_given_the_api_when_synthesized_then_every_method_requires_sigv4_and_validation(synthesis):
    (validator_id,) = of_type(synthesis.template, "AWS::ApiGateway::RequestValidator")
    api_function = ads_functions(synthesis.template)["api"][0]
    for route, props in _routes(synthesis).items():
        assert props["AuthorizationType"] == "AWS_IAM", route
        assert props["RequestValidatorId"] == {"Ref": validator_id}, route
        assert props["Integration"]["Type"] == "AWS_PROXY", route
        assert api_function in str(props["Integration"]["Uri"]), route


def test_given_the_api_when_synthesized_then_the_validator_checks_body_and_parameters(template):
    template.has_resource_properties(
        "AWS::ApiGateway::RequestValidator",
        {"ValidateRequestBody": True, "ValidateRequestParameters": True},
    )


def test_given_the_api_stage_when_synthesized_then_it_has_access_logs_throttling_and_tracing(
    template,
):
    template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "AccessLogSetting": {
                "DestinationArn": Match.any_value(),
                "Format": Match.string_like_regexp("userArn"),
            },
            "TracingEnabled": True,
            "MethodSettings": Match.array_with(
                [
                    Match.object_like(
                        {
                            "HttpMethod": "*",
                            "ResourcePath": "/*",
                            "LoggingLevel": "ERROR",
                            "ThrottlingRateLimit": 10,
                            "ThrottlingBurstLimit": 20,
                        }
                    )
                ]
            ),
        },
    )


def test_given_the_ci_rule_when_synthesized_then_ci_events_reach_the_trigger_with_retries_and_a_dead_letter_queue(
    synthesis,
):
    # The CI requests' rule (ADS has other rules: SSM command events, the health watch).
    rule = event_rule(synthesis.template, "ads.ci")
    props = rule["Properties"]
    assert "EventBusName" in props  # the CI bus (tests/infra/test_ci_bus.py), not the default
    assert props["EventPattern"] == {
        "source": ["ads.ci"],
        "detail-type": [
            "Lab Deployment Requested",
            "Lab Update Requested",
            "Cohort Deployment Requested",
        ],
    }
    (target,) = props["Targets"]
    assert target["Arn"] == {
        "Fn::GetAtt": [ads_functions(synthesis.template)["ci_trigger"][0], "Arn"]
    }
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    assert 60 <= target["RetryPolicy"]["MaximumEventAgeInSeconds"] <= 86400
    (queue_id,) = of_type(synthesis.template, "AWS::SQS::Queue")
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": [queue_id, "Arn"]}


def test_given_the_dead_letter_queue_when_synthesized_then_it_is_encrypted_and_refuses_plain_http(
    synthesis,
):
    (queue,) = of_type(synthesis.template, "AWS::SQS::Queue").values()
    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    (policy,) = of_type(synthesis.template, "AWS::SQS::QueuePolicy").values()
    denies = [
        s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"
    ]
    assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denies)


def test_given_cdk_json_context_when_synthesized_then_the_lifecycle_bus_has_the_configured_name(
    synthesis,
):
    (bus,) = [
        bus
        for bus in of_type(synthesis.template, "AWS::Events::EventBus").values()
        if bus["Properties"]["Name"] != "ads-ci"  # the CI request bus (test_ci_bus.py)
    ]
    assert bus["Properties"]["Name"] == "ads-lifecycle"
    for _, props in ads_functions(synthesis.template).values():
        assert props["Environment"]["Variables"]["ADS_EVENT_BUS_NAME"] == {
            "Ref": next(iter(of_type(synthesis.template, "AWS::Events::EventBus")))
        }


# Which metrics the alarms watch: tests/infra/test_monitoring.py.


def test_given_the_stack_when_synthesized_then_one_dashboard_exists(template):
    template.resource_count_is("AWS::CloudWatch::Dashboard", 1)


def test_given_the_stack_when_synthesized_then_outputs_name_the_api_machines_table_and_bus(
    synthesis,
):
    outputs = synthesis.template["Outputs"]
    for name in (
        "ApiUrl",
        "DeployStateMachineArn",
        "DestroyStateMachineArn",
        "TableName",
        "LifecycleEventBusName",
    ):
        assert name in outputs, name
    assert "execute-api" in str(outputs["ApiUrl"]["Value"])


def test_given_the_stack_when_synthesized_then_every_alarm_notifies_the_encrypted_alarm_topic(
    synthesis,
):
    topics = synthesis.resources("AWS::SNS::Topic")
    assert len(topics) == 1
    ((topic_id, topic),) = topics.items()
    assert topic["Properties"]["TopicName"] == "ads-alarms"
    key_ref = topic["Properties"]["KmsMasterKeyId"]
    key = synthesis.template["Resources"][key_ref["Fn::GetAtt"][0]]
    assert key["Properties"]["EnableKeyRotation"] is True
    cloudwatch_may_use_the_key = [
        statement
        for statement in key["Properties"]["KeyPolicy"]["Statement"]
        if statement["Principal"].get("Service") == "cloudwatch.amazonaws.com"
    ]
    assert cloudwatch_may_use_the_key
    assert set(cloudwatch_may_use_the_key[0]["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    alarms = synthesis.resources("AWS::CloudWatch::Alarm")
    assert alarms
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic_id}]
        assert alarm["Properties"]["OKActions"] == [{"Ref": topic_id}]
    outputs = synthesis.template["Outputs"]
    assert outputs["AlarmTopicArn"]["Value"] == {"Ref": topic_id}


def test_given_alarm_emails_in_context_when_synthesized_then_each_is_subscribed_to_the_topic():
    from aws_cdk import App, Stack
    from aws_cdk import aws_sqs as sqs
    from aws_cdk.assertions import Template

    from cdk_app.monitoring_construct import Monitoring
    from cdk_app.settings import Settings

    stack = Stack(App(), "AlarmEmails")
    settings = Settings.from_mapping(
        {"alarm_emails": "ops@example.org, oncall@example.org", "name_prefix": "team"}
    )
    Monitoring(
        stack,
        "Monitoring",
        settings=settings,
        state_machines={},
        functions={},
        dead_letter_queue=sqs.Queue(stack, "Dlq"),
    )
    template = Template.from_stack(stack)
    subscriptions = template.find_resources("AWS::SNS::Subscription")
    assert sorted(s["Properties"]["Endpoint"] for s in subscriptions.values()) == [
        "oncall@example.org",
        "ops@example.org",
    ]
    assert {s["Properties"]["Protocol"] for s in subscriptions.values()} == {"email"}
    template.has_resource_properties("AWS::SNS::Topic", {"TopicName": "team-alarms"})


def test_given_a_malformed_alarm_email_when_read_then_the_context_error_names_it():
    from cdk_app.settings import ContextError, Settings

    with pytest.raises(ContextError, match=r"'alarm_emails'.*'ops-at-example\.org'"):
        Settings.from_mapping({"alarm_emails": "ops-at-example.org"})
