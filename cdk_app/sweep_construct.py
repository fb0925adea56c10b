"""The sweep: the sweep Lambda, the schedule that runs it, and what it may touch (ads/sweep.py).

An EventBridge rule with ``rate(N minutes)`` invokes ``sweep`` with ``{"apply": true}``;
the api Lambda invokes it for the admin routes (``GET /sweep`` reports, ``POST /sweep``
applies) and may invoke nothing else of it. The sweep reads and writes lab records,
lists instances (DescribeInstances takes no resource) and may terminate only instances
tagged ``ads:managed=true``; it reads the status of executions of ADS's own machines
only, puts lifecycle events on the lifecycle bus, and with per-lab access deletes only
``ads:managed`` security groups, target groups and listener rules. Its reserved
concurrency of 1 keeps runs from overlapping; its errors alarm through the monitoring
construct (``ads.lab_metrics.LAMBDA_ERRORS_ARE_FAILURES``).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from ads.config import MANAGED_TAG
from cdk_app.cluster_grants import grant_sweep_cluster_groups
from cdk_app.compute_construct import FunctionSpec, LambdaFactory
from cdk_app.image_grants import ImageGrants
from cdk_app.nag import acknowledge, nag_text
from cdk_app.settings import Settings
from cdk_app.storage_construct import Storage

# One run may terminate and settle many labs; the api's call waits at most its own 29 s.
SWEEP_TIMEOUT_S = 300
MANAGED = {"StringEquals": {f"aws:ResourceTag/{MANAGED_TAG}": "true"}}


class Sweep(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        factory: LambdaFactory,
        storage: Storage,
        lifecycle_bus: events.IEventBus,
        machine_names: Sequence[str],
        lab_access: str,
    ) -> None:
        """``machine_names``: the state machines whose executions hold labs in a status."""
        super().__init__(scope, construct_id)
        self.function = factory.create(
            self,
            FunctionSpec(
                "sweep",
                "ADS sweep: terminates orphaned lab VMs, settles labs stuck with no execution",
                Duration.seconds(SWEEP_TIMEOUT_S),
                environment={
                    "ADS_SWEEP_GRACE_S": str(settings.sweep_grace_minutes * 60),
                    "ADS_SWEEP_INTERVAL_S": str(settings.sweep_interval_minutes * 60),
                    "ADS_IMAGE_UNUSED_DAYS": str(settings.image_unused_days),
                },
            ),
        )
        cfn_function = self.function.node.default_child
        assert isinstance(cfn_function, lambda_.CfnFunction)
        cfn_function.reserved_concurrent_executions = 1
        storage.grant_lab_records(self.function)
        lifecycle_bus.grant_put_events_to(self.function)
        self._grant_instances()
        # Unused lab images (ADS_IMAGE_UNUSED_DAYS): the AMI and its snapshots, ADS's only.
        ImageGrants(self).remove_images(self.function)
        self._grant_executions(machine_names)
        if lab_access != "private":
            self._grant_lab_access(lab_access)
        else:
            # A lab of several VMs has a cluster security group in every access mode.
            grant_sweep_cluster_groups(self, self.function)
        self.rule = events.Rule(
            self,
            "Schedule",
            description="ADS sweep: runs sweep (apply)",
            schedule=events.Schedule.rate(Duration.minutes(settings.sweep_interval_minutes)),
            enabled=settings.sweep_enabled,
            targets=[
                targets.LambdaFunction(
                    self.function,
                    event=events.RuleTargetInput.from_object({"apply": True}),
                    retry_attempts=0,
                )
            ],
        )

    def _arn(self, service: str, resource: str) -> str:
        stack = Stack.of(self)
        return f"arn:{stack.partition}:{service}:{stack.region}:{stack.account}:{resource}"

    def _grant_instances(self) -> None:
        instances = self._arn("ec2", "instance/*")
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                sid="ListInstances",
                actions=["ec2:DescribeInstances"],
                resources=["*"],
            )
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                sid="TerminateOnlyManagedInstances",
                actions=["ec2:TerminateInstances"],
                resources=[instances],
                conditions=MANAGED,
            )
        )
        acknowledge(
            self.function.role,
            f"AwsSolutions-IAM5[Resource::{nag_text(self, instances)}]",
            "Lab instances are launched at run time, so their ids are unknown; termination "
            "requires the ads:managed=true resource tag.",
        )
        acknowledge(
            self.function.role,
            "AwsSolutions-IAM5[Resource::*]",
            "DescribeInstances and DescribeSecurityGroups (and the load balancer's Describe "
            "actions) support only resource '*'; X-Ray as well.",
        )

    def _grant_executions(self, machine_names: Sequence[str]) -> None:
        stack = Stack.of(self)
        executions = [
            stack.format_arn(
                service="states",
                resource="execution",
                resource_name=f"{name}:*",
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
            for name in machine_names
        ]
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                sid="ReadAdsExecutionStatus",
                actions=["states:DescribeExecution"],
                resources=executions,
            )
        )
        for arn, name in zip(executions, machine_names, strict=True):
            acknowledge(
                self.function.role,
                f"AwsSolutions-IAM5[Resource::{nag_text(self, arn)}]",
                "Execution names derive from lab ids generated at run time; the sweep reads "
                f"only the status of executions of {name}.",
            )

    def _grant_lab_access(self, lab_access: str) -> None:
        groups = self._arn("ec2", "security-group/*")
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                sid="ListSecurityGroups", actions=["ec2:DescribeSecurityGroups"], resources=["*"]
            )
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                sid="DeleteOnlyManagedSecurityGroups",
                actions=["ec2:DeleteSecurityGroup"],
                resources=[groups],
                conditions=MANAGED,
            )
        )
        acknowledge(
            self.function.role,
            f"AwsSolutions-IAM5[Resource::{nag_text(self, groups)}]",
            "Lab security groups are created per lab at run time; deleting one requires the "
            "ads:managed=true resource tag.",
        )
        if lab_access != "load-balancer":
            return
        balancing = self._arn("elasticloadbalancing", "*")
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                sid="ReadLabRoutes",
                actions=[
                    "elasticloadbalancing:DescribeRules",
                    "elasticloadbalancing:DescribeTargetGroups",
                    "elasticloadbalancing:DescribeTargetHealth",
                    "elasticloadbalancing:DescribeTags",
                ],
                resources=["*"],
            )
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                sid="RemoveOnlyManagedLabRoutes",
                actions=[
                    "elasticloadbalancing:DeleteRule",
                    "elasticloadbalancing:DeregisterTargets",
                    "elasticloadbalancing:DeleteTargetGroup",
                ],
                resources=[balancing],
                conditions=MANAGED,
            )
        )
        acknowledge(
            self.function.role,
            f"AwsSolutions-IAM5[Resource::{nag_text(self, balancing)}]",
            "Target groups and listener rules are created per lab at run time; removing one "
            "requires the ads:managed=true resource tag.",
        )

    def grant_invoke(self, api_function: lambda_.Function) -> None:
        """The api Lambda runs the admin routes through this function."""
        self.function.grant_invoke(api_function)
        api_function.add_environment("ADS_SWEEP_FUNCTION_NAME", self.function.function_name)
        acknowledge(
            api_function.role,
            f"AwsSolutions-IAM5[Resource::{nag_text(self, self.function.function_arn)}:*]",
            "grant_invoke covers the sweep function's versions and aliases (<arn>:*); the api "
            "may invoke the sweep function only.",
        )
