"""Leases and working hours: the schedule group, the Scheduler role and the lab_timer
Lambda (ads/lab_timers.py), and what the front doors and DestroyLab may do with them.

Per lab the api (or the CI trigger) creates one-time EventBridge Scheduler schedules
(``expire``, ``warn``) and, for working hours, two recurring ones (``stop``, ``start``),
all in the ADS schedule group, all targeting lab_timer. Scheduler assumes the Scheduler
role, which may invoke lab_timer and nothing else; lab_timer then moves the record and
starts DestroyLab or PowerLab through the same code path as the API (a direct
StartExecution target could neither move the record to DESTROYING first nor skip a lab
already being destroyed). DestroyLab's final bookkeeping (record_status) deletes the
lab's schedules; lab_timer deletes those it finds left over for a destroyed lab.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from cdk_app.compute_construct import FunctionSpec, LambdaFactory
from cdk_app.nag import acknowledge, nag_text
from cdk_app.settings import Settings
from cdk_app.storage_construct import Storage

LAB_TIMER_TIMEOUT_S = 60
# What the front doors do with a lab's schedules (ads/lab_schedules.py).
SCHEDULE_WRITES = (
    "scheduler:CreateSchedule",
    "scheduler:UpdateSchedule",
    "scheduler:DeleteSchedule",
    "scheduler:GetSchedule",
)


class Leases(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        factory: LambdaFactory,
        storage: Storage,
        lifecycle_bus: events.IEventBus,
        machines: dict[str, tuple[sfn.StateMachine, str]],
        deploy_machine_name: str,
    ) -> None:
        """``machines``: by environment variable, the machines lab_timer starts (DestroyLab,
        PowerLab) and their names; ``deploy_machine_name``: the deployments an expiry stops."""
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.group_name = f"{stack.stack_name}-labs"[:64]
        self.group = scheduler.CfnScheduleGroup(self, "Group", name=self.group_name)
        self.schedules_arn = stack.format_arn(
            service="scheduler",
            resource="schedule",
            resource_name=f"{self.group_name}/*",
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        )
        self.function = factory.create(
            self,
            FunctionSpec(
                "lab_timer",
                "ADS lab schedules: lease expiry and warning, working-hours stop and start",
                Duration.seconds(LAB_TIMER_TIMEOUT_S),
                environment={
                    # Deletes only (leftovers of a destroyed lab): no target, no role here.
                    "ADS_SCHEDULE_GROUP": self.group_name,
                    **{name: machine.state_machine_arn for name, (machine, _) in machines.items()},
                },
            ),
        )
        storage.grant_lab_records(self.function)
        lifecycle_bus.grant_put_events_to(self.function)
        for machine, machine_name in machines.values():
            self._grant_start(machine, machine_name)
        self._grant_stop_deployments(deploy_machine_name)
        self.grant_delete(self.function)

        self.role = iam.Role(
            self,
            "SchedulerRole",
            description="EventBridge Scheduler: invokes the ADS lab_timer function only",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            ),
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["lambda:InvokeFunction"], resources=[self.function.function_arn]
            )
        )
        # Its Errors alarm comes with the other failure signals (ads.lab_metrics).
        self.environment = {
            **settings.lease_environment(),
            "ADS_SCHEDULE_GROUP": self.group_name,
            "ADS_SCHEDULER_ROLE_ARN": self.role.role_arn,
            "ADS_LAB_TIMER_FUNCTION_ARN": self.function.function_arn,
        }

    def grant_requests(self, function: lambda_.Function) -> None:
        """A front door that requests labs: it writes their schedules, passing the
        Scheduler role (and only it, only to Scheduler)."""
        for name, value in self.environment.items():
            function.add_environment(name, value)
        function.add_to_role_policy(
            iam.PolicyStatement(actions=list(SCHEDULE_WRITES), resources=[self.schedules_arn])
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[self.role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
            )
        )
        self._acknowledge(function, "writes")

    def grant_delete(self, function: lambda_.Function) -> None:
        """DestroyLab's bookkeeping (and lab_timer): delete a lab's schedules."""
        function.add_environment("ADS_SCHEDULE_GROUP", self.group_name)
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["scheduler:DeleteSchedule"], resources=[self.schedules_arn]
            )
        )
        self._acknowledge(function, "deletes")

    def _acknowledge(self, function: lambda_.Function, what: str) -> None:
        acknowledge(
            function.role,
            f"AwsSolutions-IAM5[Resource::{nag_text(self, self.schedules_arn)}]",
            "Schedule names derive from lab ids generated at run time; the function "
            f"{what} schedules of the ADS group {self.group_name} only.",
        )

    def _executions(self, machine_name: str) -> str:
        return Stack.of(self).format_arn(
            service="states",
            resource="execution",
            resource_name=f"{machine_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )

    def _grant_start(self, machine: sfn.StateMachine, machine_name: str) -> None:
        machine.grant_start_execution(self.function)
        executions = self._executions(machine_name)
        self.function.add_to_role_policy(
            iam.PolicyStatement(actions=["states:DescribeExecution"], resources=[executions])
        )
        acknowledge(
            self.function.role,
            f"AwsSolutions-IAM5[Resource::{nag_text(self, executions)}]",
            "Execution names derive from lab ids generated at run time; lab_timer reads only "
            f"the status of executions of {machine_name} (a destroy or power operation asked "
            "again).",
        )

    def _grant_stop_deployments(self, deploy_machine_name: str) -> None:
        executions = self._executions(deploy_machine_name)
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["states:DescribeExecution", "states:StopExecution"],
                resources=[executions],
            )
        )
        acknowledge(
            self.function.role,
            f"AwsSolutions-IAM5[Resource::{nag_text(self, executions)}]",
            "An expiry while the lab deploys stops its DeployLab execution (named by the "
            f"lab id) before DestroyLab starts: executions of {deploy_machine_name} only.",
        )
