"""Cohorts: the DeployCohort state machine (``statemachine/deploy_cohort.asl.json``).

DeployCohort starts the DeployLab machine once per member through Step Functions'
``startExecution.sync:2`` integration and waits for each; for that its role may start
DeployLab, describe and stop DeployLab's executions (Step Functions stops a child when
the parent is stopped), and manage the one EventBridge rule Step Functions uses to learn
that a child ended (``StepFunctionsGetEventsForStepFunctionsExecutionRule``). It calls
two Lambdas itself: record_status, to mark a member's lab FAILED when its DeployLab could
not be started, and record_cohort, its last step, which reads the members' labs and puts
``Cohort Deployed`` on the lifecycle bus.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from cdk_app.asl_state_machine import asl_state_machine
from cdk_app.compute_construct import FunctionSpec, LambdaFactory
from cdk_app.execution_grants import grant_start_and_follow
from cdk_app.nag import acknowledge, nag_text
from cdk_app.settings import Settings
from cdk_app.storage_construct import Storage
from cdk_app.workflow_construct import STATEMACHINE_DIR

COHORT_ASL = STATEMACHINE_DIR / "deploy_cohort.asl.json"
# The managed rule Step Functions creates in the account for .sync integrations with
# Step Functions itself (see "IAM policies for nested executions" in its guide).
SYNC_EVENTS_RULE = "StepFunctionsGetEventsForStepFunctionsExecutionRule"


class Cohorts(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        deploy_machine: sfn.StateMachine,
        deploy_machine_name: str,
        record_status: lambda_.Function,
        factory: LambdaFactory,
        storage: Storage,
        lifecycle_bus: events.IEventBus,
    ) -> None:
        super().__init__(scope, construct_id)
        self.record_cohort = factory.create(
            self,
            FunctionSpec(
                "record_cohort",
                "ADS step: announce a cohort's round ended (Cohort Deployed)",
                Duration.seconds(30),
            ),
        )
        storage.grant_lab_records(self.record_cohort)
        lifecycle_bus.grant_put_events_to(self.record_cohort)
        self.machine_name = f"{settings.name_prefix}-deploy-cohort"
        self.machine = asl_state_machine(
            self,
            "DeployCohort",
            name=self.machine_name,
            asl_path=COHORT_ASL,
            functions={"record_status": record_status, "record_cohort": self.record_cohort},
            settings=settings,
            state_machines={"DeployLab": deploy_machine},
        )
        stack = Stack.of(self)
        deploy_machine.grant_start_execution(self.machine)
        deploy_executions = stack.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{deploy_machine_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.machine.add_to_role_policy(
            iam.PolicyStatement(
                sid="FollowMemberDeployments",
                actions=["states:DescribeExecution", "states:StopExecution"],
                resources=[deploy_executions],
            )
        )
        self.machine.add_to_role_policy(
            iam.PolicyStatement(
                sid="SyncExecutionEvents",
                actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                resources=[
                    stack.format_arn(
                        service="events", resource="rule", resource_name=SYNC_EVENTS_RULE
                    )
                ],
            )
        )
        acknowledge(
            self.machine.role,
            f"AwsSolutions-IAM5[Resource::{nag_text(self, deploy_executions)}]",
            "A member's DeployLab execution is named by its lab id, generated at run time; "
            f"the grant covers only executions of {deploy_machine_name}.",
        )

    def grant_requests(self, function: lambda_.Function, *, stop: bool = True) -> None:
        """What the api needs: start DeployCohort, follow its executions, and stop them
        (destroying a cohort stops the rounds still starting members' deployments); the
        CI trigger only requests cohorts (``stop=False``)."""
        grant_start_and_follow(
            self, self.machine, self.machine_name, function, sid="FollowCohortExecutions"
        )
        if not stop:
            return
        executions = Stack.of(self).format_arn(
            service="states",
            resource="execution",
            resource_name=f"{self.machine_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                sid="StopCohortExecutions",
                actions=["states:StopExecution"],
                resources=[executions],
            )
        )
