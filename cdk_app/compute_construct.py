"""Compute: the one Lambda factory, the agent bundle the VMs fetch, the lab instance role."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack, Stage
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from cdk_app.lambda_bundle import PROJECT_ROOT, stage_lambda_bundle
from cdk_app.nag import acknowledge, managed_policy_finding
from cdk_app.settings import Settings

RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE = lambda_.Architecture.ARM_64
REQUIREMENTS = PROJECT_ROOT / "requirements.txt"
_POWERTOOLS_PIN = re.compile(
    r"^aws-lambda-powertools(?:\[[^\]]*\])?==([0-9][0-9A-Za-z.]*)\s*(?:#.*)?$"
)
AGENT_PORT = 9089
BUNDLE_DIR_NAME = "ads-lambda-bundle"


def powertools_version(requirements: Path = REQUIREMENTS) -> str:
    """The Powertools version pinned in requirements.txt (what the tests ran against)."""
    for line in requirements.read_text(encoding="utf-8").splitlines():
        match = _POWERTOOLS_PIN.match(line.strip())
        if match:
            return match.group(1)
    raise FileNotFoundError(
        f"{requirements} pins no aws-lambda-powertools==<version>; the Lambda layer "
        "version is taken from that pin"
    )


def powertools_layer_parameter(version: str) -> str:
    """The public SSM parameter naming the Powertools layer of exactly ``version``.

    Published by the Powertools team per architecture, runtime and release; resolved at
    deploy time, so synth needs neither an AWS account nor Docker. ``latest`` would let
    a deploy pick up a release the code was never tested with.
    """
    # CDK's names ("arm64", "python3.13") are the ones the parameter path uses.
    return f"/aws/service/powertools/python/{ARCHITECTURE.name}/{RUNTIME.name}/{version}"


@dataclass(frozen=True)
class FunctionSpec:
    """What differs between ADS Lambdas; everything else the factory decides once."""

    name: str
    description: str
    timeout: Duration
    memory_mib: int = 256
    environment: Mapping[str, str] | None = None
    vpc: ec2.IVpc | None = None
    vpc_subnets: ec2.SubnetSelection | None = None
    security_groups: Sequence[ec2.ISecurityGroup] = ()

    @property
    def handler(self) -> str:
        return f"functions.{self.name}.handler.handler"


class LambdaFactory(Construct):
    """Builds every ADS Lambda the same way: runtime, architecture, layer, logs, tracing."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        common_environment: Mapping[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        self._settings = settings
        self._common_environment = dict(common_environment)
        self.functions: dict[str, lambda_.Function] = {}
        app = self.node.root
        if not isinstance(app, Stage):
            raise TypeError(f"the Lambda factory needs an App at the root; found {app!r}")
        bundle = stage_lambda_bundle(Path(app.outdir) / BUNDLE_DIR_NAME)
        self._code = lambda_.Code.from_asset(str(bundle))
        self._powertools = lambda_.LayerVersion.from_layer_version_arn(
            self,
            "PowertoolsLayer",
            ssm.StringParameter.value_for_string_parameter(
                self, powertools_layer_parameter(powertools_version())
            ),
        )

    def create(self, parent: Construct, spec: FunctionSpec) -> lambda_.Function:
        scope = Construct(parent, "".join(part.title() for part in spec.name.split("_")))
        function_name = f"{self._settings.name_prefix}-{spec.name.replace('_', '-')}"
        log_group = logs.LogGroup(
            scope,
            "LogGroup",
            log_group_name=f"/aws/lambda/{function_name}",
            retention=self._settings.log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        # An explicit role keeps the log permissions on this function's own log group
        # instead of the managed basic-execution policy's account-wide grant.
        role = iam.Role(
            scope,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"ADS {spec.name} Lambda",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group.log_group_arn],
            )
        )
        environment = {
            **self._common_environment,
            "POWERTOOLS_SERVICE_NAME": "ads",
            "POWERTOOLS_METRICS_NAMESPACE": "ADS",
            "POWERTOOLS_LOG_LEVEL": "INFO",
            **(spec.environment or {}),
        }
        function = lambda_.Function(
            scope,
            "Function",
            function_name=function_name,
            description=spec.description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=spec.handler,
            code=self._code,
            layers=[self._powertools],
            timeout=spec.timeout,
            memory_size=spec.memory_mib,
            role=role,
            environment=environment,
            tracing=lambda_.Tracing.ACTIVE,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            log_group=log_group,
            vpc=spec.vpc,
            vpc_subnets=spec.vpc_subnets,
            security_groups=list(spec.security_groups) or None,
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray accepts trace segments only on resource '*' (active tracing).",
        )
        if spec.vpc is not None:
            acknowledge(
                role,
                managed_policy_finding(role, "service-role/AWSLambdaVPCAccessExecutionRole"),
                "The AWS-managed VPC access policy is what Lambda needs to manage its ENIs; "
                "its ec2:*NetworkInterface actions only work on resource '*'.",
            )
        acknowledge(
            function,
            "AwsSolutions-L1",
            "Python 3.13 is pinned on purpose: it is the newest runtime the public "
            "Powertools layer (and our pinned dependencies) are published for.",
        )
        self.functions[spec.name] = function
        return function


class AgentBundle(Construct):
    """The VMManager agent and its install script, zipped as an S3 asset for the VMs."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.asset = s3_assets.Asset(
            self,
            "Asset",
            path=str(PROJECT_ROOT / "ads_agent"),
            exclude=["__pycache__", "**/__pycache__", "*.pyc", "**/*.pyc"],
        )

    @property
    def bucket_name(self) -> str:
        return self.asset.s3_bucket_name

    @property
    def object_key(self) -> str:
        return self.asset.s3_object_key

    @property
    def object_arn(self) -> str:
        """The asset object itself (partition-aware), for a read grant on it alone."""
        return Stack.of(self).format_arn(
            service="s3",
            region="",
            account="",
            resource=self.bucket_name,
            resource_name=self.object_key,
        )


# What the SSM agent itself calls (Systems Manager's "ec2messages, ssmmessages and other
# API operations" reference): registering and reporting its ping status, fetching Run
# Command messages over ec2messages, and the Session Manager (and newer agents' Run
# Command) channels over ssmmessages. None of them supports resource-level permissions.
SSM_AGENT_ACTIONS = (
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
)


class LabInstanceRole(Construct):
    """The role of lab VMs: what the SSM agent needs for Run Command and Session Manager.

    Not AmazonSSMManagedInstanceCore: that policy also allows ssm:GetParameter(s) and
    ssm:GetDocument on every resource of the account, and a lab VM runs code ADS did
    not write. The VM fetches the agent bundle and its sources through presigned URLs
    (signed by init_vm), so it needs no S3 permission either.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description="ADS lab VMs: SSM Run Command and Session Manager only",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="SsmAgentRunCommandAndSessions",
                actions=list(SSM_AGENT_ACTIONS),
                resources=["*"],
            )
        )
        self.instance_profile = iam.InstanceProfile(self, "InstanceProfile", role=self.role)
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "The SSM agent's own calls (ssm:UpdateInstanceInformation, ec2messages:*, "
            "ssmmessages:*Channel) support only resource '*'; the role allows nothing else.",
        )

    def grant_pass_role(self, grantee: iam.IGrantable) -> None:
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[self.role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
            )
        )
