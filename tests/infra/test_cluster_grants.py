"""Labs of several VMs in the template: Create VM may make, open and launch with only the
lab's cluster security groups (tagged ads:managed, ads:lab-id and ads:cluster), Destroy VM
may delete only those, and no other step touches a security group (default synthesis,
private lab access, where no per-lab access group exists)."""

from __future__ import annotations

from typing import Any

from tests.infra.template_queries import (
    actions_of,
    resources_of,
    statements_of_function,
    statements_with_action,
    text,
)

TAGGED = {
    "StringEquals": {"aws:ResourceTag/ads:managed": "true", "aws:ResourceTag/ads:cluster": "true"},
    "Null": {"aws:ResourceTag/ads:lab-id": "false"},
}


def _cluster(statements: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    return [s for s in statements_with_action(statements, action) if "Cluster" in s.get("Sid", "")]


def test_given_the_stack_then_create_vm_makes_only_tagged_cluster_groups_in_the_lab_vpc(synthesis):
    create = statements_of_function(synthesis.template, "create_vm")

    in_vpc, in_groups = sorted(
        _cluster(create, "ec2:CreateSecurityGroup"), key=lambda s: "security-group" in text(s)
    )
    assert ":vpc/" in text(resources_of(in_vpc))
    assert "security-group/*" in text(resources_of(in_groups))
    assert in_groups["Condition"] == {
        "StringEquals": {
            "aws:RequestTag/ads:managed": "true",
            "aws:RequestTag/ads:cluster": "true",
        },
        "Null": {"aws:RequestTag/ads:lab-id": "false"},
    }
    (tagging,) = _cluster(create, "ec2:CreateTags")
    assert tagging["Condition"] == {"StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"}}
    (authorize,) = _cluster(create, "ec2:AuthorizeSecurityGroupIngress")
    assert authorize["Condition"] == TAGGED
    (launch,) = _cluster(create, "ec2:RunInstances")
    assert launch["Condition"] == TAGGED
    assert "security-group/*" in text(resources_of(launch))
    assert _cluster(create, "ec2:DescribeSecurityGroups")


def test_given_the_stack_then_destroy_vm_deletes_only_tagged_cluster_groups(synthesis):
    destroy = statements_of_function(synthesis.template, "destroy_vm")

    (delete,) = _cluster(destroy, "ec2:DeleteSecurityGroup")
    assert delete["Condition"] == TAGGED
    assert "*" not in [text(r) for r in resources_of(delete)]
    assert _cluster(destroy, "ec2:DescribeSecurityGroups")


def test_given_the_stack_then_no_other_step_touches_security_groups(synthesis):
    for name in ("wait_running", "init_vm", "health_check", "record_status", "api"):
        statements = statements_of_function(synthesis.template, name)
        actions = {a for s in statements for a in actions_of(s)}
        assert not actions & {
            "ec2:CreateSecurityGroup",
            "ec2:AuthorizeSecurityGroupIngress",
            "ec2:DeleteSecurityGroup",
        }, name


def test_given_the_stack_then_init_vm_may_send_commands_to_ads_instances(synthesis):
    # The cluster facts go through the same SendCommand as the install.
    init = statements_of_function(synthesis.template, "init_vm")
    assert statements_with_action(init, "ssm:SendCommand")
