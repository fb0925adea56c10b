"""Health watch: the watch_labs Lambda and the schedule that runs it (ads/health_watch.py).

An EventBridge rule with ``rate(N minutes)`` invokes watch_labs, which asks each READY
and DEGRADED lab's agent on the agent port: it runs in the lab subnets with the health
check's security group (the only one the instances admit there). It reads and writes lab
records (the status index included), puts lifecycle events on the lifecycle bus, and
starts the machines its recoveries and its destroy policy use (ActionLab, PowerLab,
DestroyLab), following only their executions. Its reserved concurrency of 1 keeps two
runs from overlapping; its errors alarm through the monitoring construct
(``ads.lab_metrics.LAMBDA_ERRORS_ARE_FAILURES``).
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from cdk_app.compute_construct import FunctionSpec, LambdaFactory
from cdk_app.nag import acknowledge, nag_text
from cdk_app.network_construct import Network
from cdk_app.settings import Settings
from cdk_app.storage_construct import Storage

# A run stops probing before this (the handler keeps a margin for its writes).
WATCH_TIMEOUT_S = 120


class Watch(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        factory: LambdaFactory,
        storage: Storage,
        network: Network,
        lifecycle_bus: events.IEventBus,
        machines: dict[str, tuple[sfn.StateMachine, str]],
    ) -> None:
        """``machines``: by environment variable (ADS_*_STATE_MACHINE_ARN), the machine
        the watch starts and its name."""
        super().__init__(scope, construct_id)
        environment = {
            "ADS_WATCH_INTERVAL_S": str(settings.watch_interval_minutes * 60),
            "ADS_WATCH_FAILURES": str(settings.watch_failures),
            "ADS_WATCH_DEADLINE_S": str(settings.watch_deadline_minutes * 60),
            "ADS_WATCH_RECOVERY": settings.watch_recovery,
            "ADS_WATCH_ON_DEADLINE": settings.watch_on_deadline,
            **{name: machine.state_machine_arn for name, (machine, _) in machines.items()},
        }
        self.function = factory.create(
            self,
            FunctionSpec(
                "watch_labs",
                "ADS health watch: checks READY and DEGRADED labs' agents, degrades and recovers",
                Duration.seconds(WATCH_TIMEOUT_S),
                environment=environment,
                vpc=network.vpc,
                vpc_subnets=network.lab_subnets,
                security_groups=[network.health_check_security_group],
            ),
        )
        cfn_function = self.function.node.default_child
        assert isinstance(cfn_function, lambda_.CfnFunction)
        # One run at a time: a slow run delays the next instead of racing it.
        cfn_function.reserved_concurrent_executions = 1
        storage.grant_lab_records(self.function)
        lifecycle_bus.grant_put_events_to(self.function)
        for machine, machine_name in machines.values():
            self._grant_start(machine, machine_name)
        self.rule = events.Rule(
            self,
            "Schedule",
            description="ADS health watch: runs watch_labs",
            schedule=events.Schedule.rate(Duration.minutes(settings.watch_interval_minutes)),
            enabled=settings.watch_enabled,
            targets=[targets.LambdaFunction(self.function, retry_attempts=0)],
        )

    def _grant_start(self, machine: sfn.StateMachine, machine_name: str) -> None:
        machine.grant_start_execution(self.function)
        executions = Stack.of(self).format_arn(
            service="states",
            resource="execution",
            resource_name=f"{machine_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(actions=["states:DescribeExecution"], resources=[executions])
        )
        acknowledge(
            self.function.role,
            f"AwsSolutions-IAM5[Resource::{nag_text(self, executions)}]",
            "Execution names derive from lab ids generated at run time; the watch reads only "
            f"the status of executions of {machine_name} (a recovery or destroy asked again).",
        )
