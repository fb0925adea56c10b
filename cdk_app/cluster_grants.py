"""What the steps may do for labs of several VMs, in every lab access mode.

Create VM makes the lab's **cluster security group** at run time (its VMs reach each
other on their roles' ports through it, see ``ads/providers/ec2_cluster.py``), opens the
roles' ports on it and launches the VMs wearing it; Destroy VM deletes it once the VMs
are gone. Every statement requires the tags the runtime puts on it: ``ads:managed=true``,
an ``ads:lab-id`` and ``ads:cluster=true`` (request tags to create, resource tags to change,
launch with or delete), so no other group of the account can be touched. The facts go
through Initialise VM's SSM SendCommand, which already covers ADS's instances.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from cdk_app.nag import acknowledge, nag_text

LAB_ID_TAG = "ads:lab-id"
MANAGED_TAG = "ads:managed"
# The runtime's tag of a cluster group (ads.providers.ec2_cluster.CLUSTER_TAG).
CLUSTER_TAG = "ads:cluster"


def grant_cluster_network(
    scope: Construct,
    *,
    vpc: ec2.IVpc,
    create_vm: lambda_.IFunction,
    destroy_vm: lambda_.IFunction,
) -> None:
    stack = Stack.of(scope)

    def arn(resource: str) -> str:
        return f"arn:{stack.partition}:ec2:{stack.region}:{stack.account}:{resource}"

    groups = arn("security-group/*")
    requested = {
        "StringEquals": {
            f"aws:RequestTag/{MANAGED_TAG}": "true",
            f"aws:RequestTag/{CLUSTER_TAG}": "true",
        },
        "Null": {f"aws:RequestTag/{LAB_ID_TAG}": "false"},
    }
    tagged = {
        "StringEquals": {
            f"aws:ResourceTag/{MANAGED_TAG}": "true",
            f"aws:ResourceTag/{CLUSTER_TAG}": "true",
        },
        "Null": {f"aws:ResourceTag/{LAB_ID_TAG}": "false"},
    }
    describe = iam.PolicyStatement(
        sid="FindClusterSecurityGroups", actions=["ec2:DescribeSecurityGroups"], resources=["*"]
    )
    for statement in (
        iam.PolicyStatement(
            sid="CreateClusterSecurityGroupsInTheLabVpc",
            actions=["ec2:CreateSecurityGroup"],
            resources=[arn(f"vpc/{vpc.vpc_id}")],
        ),
        iam.PolicyStatement(
            sid="CreateOnlyTaggedClusterSecurityGroups",
            actions=["ec2:CreateSecurityGroup"],
            resources=[groups],
            conditions=requested,
        ),
        iam.PolicyStatement(
            sid="TagClusterSecurityGroupsOnlyWhileCreating",
            actions=["ec2:CreateTags"],
            resources=[groups],
            conditions={"StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"}},
        ),
        iam.PolicyStatement(
            sid="OpenRolePortsOnClusterSecurityGroups",
            actions=["ec2:AuthorizeSecurityGroupIngress"],
            resources=[groups],
            conditions=tagged,
        ),
        iam.PolicyStatement(
            sid="LaunchWithClusterSecurityGroups",
            actions=["ec2:RunInstances"],
            resources=[groups],
            conditions=tagged,
        ),
        describe,
    ):
        create_vm.add_to_role_policy(statement)
    destroy_vm.add_to_role_policy(
        iam.PolicyStatement(
            sid="DeleteClusterSecurityGroups",
            actions=["ec2:DeleteSecurityGroup"],
            resources=[groups],
            conditions=tagged,
        )
    )
    destroy_vm.add_to_role_policy(describe)
    for function in (create_vm, destroy_vm):
        acknowledge(
            function.role,
            f"AwsSolutions-IAM5[Resource::{nag_text(scope, groups)}]",
            "Cluster security groups are created per lab at run time, so their ids are "
            "unknown; every statement requires the ads:lab-id, ads:managed and ads:cluster "
            "tags (request tags to create, resource tags to change, launch with or delete).",
        )
        acknowledge(
            function.role,
            "AwsSolutions-IAM5[Resource::*]",
            "Describe actions (EC2 instances and security groups) support only resource "
            "'*'; X-Ray as well.",
        )


def grant_sweep_cluster_groups(scope: Construct, function: lambda_.IFunction) -> None:
    """The sweep deletes a cluster security group whose lab is gone (in private lab access
    the only per-lab groups; the other modes' sweep may delete every managed group)."""
    stack = Stack.of(scope)
    groups = f"arn:{stack.partition}:ec2:{stack.region}:{stack.account}:security-group/*"
    function.add_to_role_policy(
        iam.PolicyStatement(
            sid="ListClusterSecurityGroups",
            actions=["ec2:DescribeSecurityGroups"],
            resources=["*"],
        )
    )
    function.add_to_role_policy(
        iam.PolicyStatement(
            sid="DeleteOnlyClusterSecurityGroups",
            actions=["ec2:DeleteSecurityGroup"],
            resources=[groups],
            conditions={
                "StringEquals": {
                    f"aws:ResourceTag/{MANAGED_TAG}": "true",
                    f"aws:ResourceTag/{CLUSTER_TAG}": "true",
                }
            },
        )
    )
    acknowledge(
        function.role,
        f"AwsSolutions-IAM5[Resource::{nag_text(scope, groups)}]",
        "Cluster security groups are created per lab at run time; deleting one requires "
        "the ads:managed=true and ads:cluster=true resource tags.",
    )
