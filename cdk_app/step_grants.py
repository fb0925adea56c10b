"""What each workflow step Lambda may do in AWS, and why each wildcard is acceptable.

Least privilege per function: Create VM launches only tagged IMDSv2 instances with
encrypted volumes into the lab subnets, Initialise VM runs commands only on ADS's
instances, Destroy VM terminates only those; every cdk-nag finding left carries its
reason.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from ads.config import MANAGED_TAG
from cdk_app.compute_construct import AgentBundle, LabInstanceRole
from cdk_app.nag import acknowledge, nag_text
from cdk_app.network_construct import Network


class StepGrants:
    """Grants for the step functions of one stack (``scope`` names them in nag findings)."""

    def __init__(self, scope: Construct, network: Network) -> None:
        self._scope = scope
        self._stack = Stack.of(scope)
        self._network = network

    def arn(self, service: str, resource: str, name: str, *, account: bool = True) -> str:
        region = self._stack.region
        account_id = self._stack.account if account else ""
        return f"arn:{self._stack.partition}:{service}:{region}:{account_id}:{resource}/{name}"

    def create_vm(self, function: lambda_.Function, lab_instance: LabInstanceRole) -> None:
        role = function.role
        assert role is not None
        vpc_arn = self.arn("ec2", "vpc", self._network.vpc.vpc_id)
        instances = self.arn("ec2", "instance", "*")
        volumes = self.arn("ec2", "volume", "*")
        # RunInstances is authorised per resource it touches; each gets its own condition.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="RunTaggedImdsv2Instances",
                actions=["ec2:RunInstances"],
                resources=[instances],
                conditions={
                    "StringEquals": {
                        f"aws:RequestTag/{MANAGED_TAG}": "true",
                        "ec2:MetadataHttpTokens": "required",
                    }
                },
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="RunWithEncryptedTaggedVolumes",
                actions=["ec2:RunInstances"],
                resources=[volumes],
                conditions={
                    "Bool": {"ec2:Encrypted": "true"},
                    "StringEquals": {f"aws:RequestTag/{MANAGED_TAG}": "true"},
                },
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="RunInLabSubnets",
                actions=["ec2:RunInstances"],
                resources=[
                    self.arn("ec2", "subnet", "*"),
                    self.arn("ec2", "network-interface", "*"),
                ],
                conditions={"ArnEquals": {"ec2:Vpc": vpc_arn}},
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="RunWithLabSecurityGroupAndPublicImages",
                actions=["ec2:RunInstances"],
                resources=[
                    self.arn(
                        "ec2", "security-group", self._network.lab_security_group.security_group_id
                    ),
                    self.arn("ec2", "image", "*", account=False),
                ],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="TagOnlyWhileLaunching",
                actions=["ec2:CreateTags"],
                resources=[instances, volumes],
                conditions={"StringEquals": {"ec2:CreateAction": "RunInstances"}},
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ResolvePublicAmiParameters",
                actions=["ssm:GetParameter", "ssm:GetParameters"],
                resources=[self.arn("ssm", "parameter", "aws/service/*", account=False)],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DescribeInstancesAndImages",
                actions=["ec2:DescribeInstances", "ec2:DescribeImages"],
                resources=["*"],
            )
        )
        lab_instance.grant_pass_role(role)
        reason_instances = (
            "Instance and volume ids do not exist before RunInstances; the statements are "
            "limited by the ads:managed request tag, IMDSv2 and volume encryption conditions."
        )
        for finding, reason in (
            (f"Resource::{self._display(instances)}", reason_instances),
            (f"Resource::{self._display(volumes)}", reason_instances),
            (
                f"Resource::{self._display(self.arn('ec2', 'subnet', '*'))}",
                "Subnets and new network interfaces are limited to the ADS VPC by the ec2:Vpc condition.",
            ),
            (
                f"Resource::{self._display(self.arn('ec2', 'network-interface', '*'))}",
                "Subnets and new network interfaces are limited to the ADS VPC by the ec2:Vpc condition.",
            ),
            (
                f"Resource::{self._display(self.arn('ec2', 'image', '*', account=False))}",
                "Lab AMIs are public images chosen at run time from SSM public parameters.",
            ),
            (
                f"Resource::{self._display(self.arn('ssm', 'parameter', 'aws/service/*', account=False))}",
                "AMI ids are resolved from AWS public parameters; the path is AWS's own namespace.",
            ),
            (
                "Resource::*",
                "ec2:DescribeInstances and ec2:DescribeImages support only resource '*'; "
                "X-Ray as well.",
            ),
        ):
            acknowledge(role, f"AwsSolutions-IAM5[{finding}]", reason)

    def run_commands_on_ads_instances(self, role: iam.IRole) -> None:
        """SendCommand of AWS-RunShellScript to ADS's instances only, and reading its
        results: init_vm installs the lab this way, power_vm runs the lab's start action,
        run_action the lab's actions.
        The callers acknowledge the instance wildcard with their own reason."""
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="RunShellScriptDocument",
                actions=["ssm:SendCommand"],
                resources=[self.arn("ssm", "document", "AWS-RunShellScript", account=False)],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="RunCommandOnAdsInstancesOnly",
                actions=["ssm:SendCommand"],
                resources=[self.arn("ec2", "instance", "*")],
                conditions={"StringEquals": {f"ssm:resourceTag/{MANAGED_TAG}": "true"}},
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadCommandResults",
                actions=["ssm:GetCommandInvocation"],
                resources=["*"],
            )
        )

    def acknowledge_run_commands(self, role: iam.IRole) -> None:
        """The findings of a role that only runs commands (init_vm, run_action)."""
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::{self._display(self.arn('ec2', 'instance', '*'))}]",
            "Lab instance ids are created at run time; SendCommand is limited to "
            "instances tagged ads:managed=true.",
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "ssm:GetCommandInvocation supports only resource '*'; X-Ray as well.",
        )

    def wait_running(self, function: lambda_.Function) -> None:
        role = function.role
        assert role is not None
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DescribeInstanceAndSsmState",
                actions=["ec2:DescribeInstances", "ssm:DescribeInstanceInformation"],
                resources=["*"],
            )
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "ec2:DescribeInstances and ssm:DescribeInstanceInformation support only "
            "resource '*'; X-Ray as well.",
        )

    def init_vm(
        self,
        function: lambda_.Function,
        agent_bundle: AgentBundle,
        source_buckets: tuple[str, ...],
    ) -> None:
        role = function.role
        assert role is not None
        self.run_commands_on_ads_instances(role)
        # The VM downloads the bundle through a URL presigned with this role: that one
        # object, not CDK's grant_read (the whole staging bucket's objects and listings).
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadTheAgentBundle",
                actions=["s3:GetObject"],
                resources=[agent_bundle.object_arn],
            )
        )
        # `s3://` lab sources are fetched by the VM through URLs presigned with this role.
        partition = self._stack.partition
        for bucket in source_buckets:
            objects = f"arn:{partition}:s3:::{bucket}/*"
            role.add_to_principal_policy(
                iam.PolicyStatement(actions=["s3:GetObject"], resources=[objects])
            )
            acknowledge(
                role,
                f"AwsSolutions-IAM5[Resource::{self._display(objects)}]",
                f"Lab source archives are any object of the configured bucket {bucket}; read-only.",
            )
        self.acknowledge_run_commands(role)

    def destroy_vm(self, function: lambda_.Function) -> None:
        role = function.role
        assert role is not None
        instances = self.arn("ec2", "instance", "*")
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="TerminateAdsInstancesOnly",
                actions=["ec2:TerminateInstances"],
                resources=[instances],
                conditions={"StringEquals": {f"ec2:ResourceTag/{MANAGED_TAG}": "true"}},
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DescribeInstances",
                actions=["ec2:DescribeInstances"],
                resources=["*"],
            )
        )
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::{self._display(instances)}]",
            "Lab instance ids are created at run time; TerminateInstances is limited to "
            "instances tagged ads:managed=true.",
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "ec2:DescribeInstances supports only resource '*'; X-Ray as well.",
        )

    def _display(self, value: str) -> str:
        return nag_text(self._scope, value)
