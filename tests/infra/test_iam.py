"""Least privilege: what each Lambda may do to EC2, SSM, Step Functions and EventBridge."""

from __future__ import annotations

import pytest

from tests.infra.template_queries import (
    ADS_FUNCTIONS,
    actions_of,
    ads_functions,
    of_type,
    resources_of,
    statements_of_function,
    statements_of_role,
    statements_with_action,
    text,
)

# Actions IAM authorises only on resource "*"; anything else must name its resources.
STAR_ONLY_ACTIONS = {
    "ec2:DescribeInstances",
    "ec2:DescribeImages",
    # Create VM and Destroy VM find a lab's (cluster) security group by name and tag.
    "ec2:DescribeSecurityGroups",
    "ssm:DescribeInstanceInformation",
    "ssm:GetCommandInvocation",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    # The SSM agent on lab VMs (Run Command and Session Manager).
    "ssm:UpdateInstanceInformation",
    "ec2messages:AcknowledgeMessage",
    "ec2messages:DeleteMessage",
    "ec2messages:FailMessage",
    "ec2messages:GetEndpoint",
    "ec2messages:GetMessages",
    "ec2messages:SendReply",
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
}


def _statements(synthesis, name):
    return statements_of_function(synthesis.template, name)


def _who_may(synthesis, action):
    return {
        name
        for name in ADS_FUNCTIONS
        if statements_with_action(_statements(synthesis, name), action)
    }


def test_given_every_role_when_synthesized_then_resource_star_only_backs_actions_that_require_it(
    synthesis,
):
    for logical_id in of_type(synthesis.template, "AWS::IAM::Role"):
        for statement in statements_of_role(synthesis.template, logical_id):
            if statement["Effect"] == "Allow" and "*" in resources_of(statement):
                extra = set(actions_of(statement)) - STAR_ONLY_ACTIONS
                assert not extra, f"{logical_id}: {sorted(extra)} on resource '*'"


def test_given_create_vm_when_synthesized_then_run_instances_requires_the_ads_tag_and_imdsv2_on_instances(
    synthesis,
):
    statements = statements_with_action(_statements(synthesis, "create_vm"), "ec2:RunInstances")
    on_instances = [s for s in statements if any(":instance/" in text(r) for r in resources_of(s))]
    assert len(on_instances) == 1
    conditions = on_instances[0]["Condition"]["StringEquals"]
    assert conditions["aws:RequestTag/ads:managed"] == "true"
    assert conditions["ec2:MetadataHttpTokens"] == "required"


def test_given_create_vm_when_synthesized_then_run_instances_requires_encrypted_volumes(synthesis):
    statements = statements_with_action(_statements(synthesis, "create_vm"), "ec2:RunInstances")
    on_volumes = [s for s in statements if any(":volume/" in text(r) for r in resources_of(s))]
    assert len(on_volumes) == 1
    assert on_volumes[0]["Condition"]["Bool"] == {"ec2:Encrypted": "true"}


def test_given_create_vm_when_synthesized_then_run_instances_never_uses_resource_star_and_pins_the_lab_network(
    synthesis,
):
    statements = statements_with_action(_statements(synthesis, "create_vm"), "ec2:RunInstances")
    resources = [text(r) for s in statements for r in resources_of(s)]
    assert "*" not in resources
    network = [s for s in statements if any(":subnet/" in text(r) for r in resources_of(s))]
    assert len(network) == 1 and "ec2:Vpc" in text(network[0]["Condition"])
    assert any(":security-group/" in r and "GroupId" in r for r in resources)


def test_given_create_vm_when_synthesized_then_it_may_tag_only_while_launching(synthesis):
    statements = statements_with_action(_statements(synthesis, "create_vm"), "ec2:CreateTags")
    by_action = {s["Condition"]["StringEquals"]["ec2:CreateAction"]: s for s in statements}
    assert len(by_action) == len(statements) == 2
    assert set(by_action) == {"RunInstances", "CreateSecurityGroup"}
    # A lab of several VMs' cluster group is tagged as it is created, nothing else.
    assert [text(r) for r in resources_of(by_action["CreateSecurityGroup"])] == [
        text(r)
        for r in resources_of(by_action["CreateSecurityGroup"])
        if "security-group/" in text(r)
    ]


def test_given_create_vm_when_synthesized_then_it_reads_only_public_ami_parameters(synthesis):
    (statement,) = statements_with_action(_statements(synthesis, "create_vm"), "ssm:GetParameter")
    resources = [text(r) for r in resources_of(statement)]
    assert len(resources) == 1
    assert resources[0].endswith('::parameter/aws/service/*"]]}')


def test_given_destroy_vm_when_synthesized_then_it_may_terminate_only_ads_tagged_instances(
    synthesis,
):
    (statement,) = statements_with_action(
        _statements(synthesis, "destroy_vm"), "ec2:TerminateInstances"
    )
    assert statement["Condition"] == {"StringEquals": {"ec2:ResourceTag/ads:managed": "true"}}
    assert all(":instance/" in text(r) for r in resources_of(statement))


def test_given_init_vm_when_synthesized_then_send_command_is_limited_to_the_shell_document_and_ads_instances(
    synthesis,
):
    statements = statements_with_action(_statements(synthesis, "init_vm"), "ssm:SendCommand")
    documents = [
        s
        for s in statements
        if any(":document/AWS-RunShellScript" in text(r) for r in resources_of(s))
    ]
    instances = [s for s in statements if any(":instance/" in text(r) for r in resources_of(s))]
    assert len(documents) == 1 and len(instances) == 1 and len(statements) == 2
    assert instances[0]["Condition"] == {"StringEquals": {"ssm:resourceTag/ads:managed": "true"}}
    assert statements_with_action(_statements(synthesis, "init_vm"), "ssm:GetCommandInvocation")


@pytest.mark.parametrize(
    ("action", "allowed"),
    [
        ("ec2:RunInstances", {"create_vm"}),
        # The sweep: only instances tagged ads:managed=true (tests/infra/test_sweep.py).
        ("ec2:TerminateInstances", {"destroy_vm", "sweep"}),
        # api: for GET /labs/{lab_id}/logs (its code sends only the agent's logs command).
        ("ssm:SendCommand", {"init_vm", "power_vm", "run_action", "redeploy_vm", "api"}),
        # The front doors pass the Scheduler role to Scheduler only (tests/infra/test_leases.py).
        ("iam:PassRole", {"create_vm", "api", "ci_trigger", "sweep"}),
        (
            "events:PutEvents",
            {
                "record_status",
                "power_vm",
                "run_action",
                "watch_labs",
                "redeploy_vm",
                "sweep",
                "lab_timer",
                # A cohort's events: Cohort Requested and Destroyed (api), Deployed.
                "api",
                "record_cohort",
                # Cohort Requested for a cohort a CI event asked for.
                "ci_trigger",
            },
        ),
        ("ssm:DescribeInstanceInformation", {"wait_running", "power_vm"}),
        # An expiry while the lab deploys stops its DeployLab execution, as DELETE does.
        ("states:StopExecution", {"api", "lab_timer"}),
    ],
)
def test_given_a_sensitive_action_when_synthesized_then_only_its_step_may_call_it(
    synthesis, action, allowed
):
    assert _who_may(synthesis, action) == allowed


def test_given_record_status_when_synthesized_then_it_publishes_only_to_the_lifecycle_bus(
    synthesis,
):
    (bus_id,) = [
        logical_id
        for logical_id, bus in of_type(synthesis.template, "AWS::Events::EventBus").items()
        if bus["Properties"]["Name"] == "ads-lifecycle"
    ]
    (statement,) = statements_with_action(
        _statements(synthesis, "record_status"), "events:PutEvents"
    )
    assert resources_of(statement) == [{"Fn::GetAtt": [bus_id, "Arn"]}]


def test_given_the_api_when_synthesized_then_it_starts_both_machines_and_follows_only_their_executions(
    synthesis,
):
    machines = of_type(synthesis.template, "AWS::StepFunctions::StateMachine")
    statements = _statements(synthesis, "api")
    started = {
        text(r)
        for s in statements_with_action(statements, "states:StartExecution")
        for r in resources_of(s)
    }
    assert started == {text({"Ref": logical_id}) for logical_id in machines}
    (follow,) = [
        s
        for s in statements_with_action(statements, "states:DescribeExecution")
        if "states:StopExecution" in actions_of(s)
    ]
    assert set(actions_of(follow)) == {
        "states:DescribeExecution",
        "states:GetExecutionHistory",
        "states:StopExecution",
    }
    names = sorted(
        m["Properties"]["StateMachineName"]
        for m in machines.values()
        # PowerLab's, ActionLab's and RedeployLab's are followed, never stopped
        # (test_power, test_actions, test_redeploy); DeployCohort's are followed and
        # stopped through statements of their own (test_cohorts).
        if m["Properties"]["StateMachineName"]
        not in ("ads-power-lab", "ads-action-lab", "ads-redeploy-lab", "ads-deploy-cohort")
    )
    followed = sorted(text(r) for r in resources_of(follow))
    assert len(followed) == 2
    for name, resource in zip(names, followed, strict=True):
        assert f":execution:{name}:*" in resource


def test_given_the_ci_trigger_when_synthesized_then_it_may_start_only_deploy_redeploy_and_cohorts(
    synthesis,
):
    machines = {
        m["Properties"]["StateMachineName"]: logical_id
        for logical_id, m in of_type(synthesis.template, "AWS::StepFunctions::StateMachine").items()
    }
    statements = statements_with_action(
        _statements(synthesis, "ci_trigger"), "states:StartExecution"
    )
    started = [r for s in statements for r in resources_of(s)]
    # Lab Deployment Requested, Lab Update Requested and Cohort Deployment Requested.
    assert sorted(map(text, started)) == sorted(
        text({"Ref": machines[name]})
        for name in ("ads-deploy-lab", "ads-redeploy-lab", "ads-deploy-cohort")
    )


@pytest.mark.parametrize("name", ADS_FUNCTIONS)
def test_given_a_function_when_synthesized_then_it_writes_logs_only_to_its_own_log_group(
    synthesis, name
):
    _, props = ads_functions(synthesis.template)[name]
    log_group = props["LoggingConfig"]["LogGroup"]["Ref"]
    (statement,) = statements_with_action(_statements(synthesis, name), "logs:PutLogEvents")
    assert resources_of(statement) == [{"Fn::GetAtt": [log_group, "Arn"]}]
