"""Command events: the EventBridge rule and the Lambda that end DeployLab's event-driven
wait (Await Init, see ads/step_waits.py).

SSM publishes "EC2 Command Invocation Status-change Notification" to the default bus of
the account; the rule matches the terminal statuses of AWS-RunShellScript invocations
and targets ``functions/step_callback``, which completes the task token Await Init
registered. Its grants: the wait items and lab records read (GetItem) and a spent wait
item deleted (DeleteItem) in the labs table, GetCommandInvocation (the outcome is read
from SSM, not taken from the event), and the task-token answers on DeployLab only.
Await Init's own Lambda (init_vm) completes its token when the command ended before the
token was stored, so it gets the same answers on DeployLab.

The machine is named by its ARN, built from its name, not referenced: DeployLab's
definition already refers to init_vm, whose policy would then refer back to DeployLab.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from cdk_app.compute_construct import FunctionSpec, LambdaFactory
from cdk_app.nag import acknowledge
from cdk_app.storage_construct import Storage

DETAIL_TYPE = "EC2 Command Invocation Status-change Notification"
# The statuses after which an invocation changes no more (functions/step_callback).
TERMINAL_STATUSES = ["Success", "Failed", "TimedOut", "Cancelled", "Undeliverable", "Terminated"]
TASK_RESPONSES = ["states:SendTaskSuccess", "states:SendTaskFailure"]


def state_machine_arn(scope: Construct, name: str) -> str:
    stack = Stack.of(scope)
    return f"arn:{stack.partition}:states:{stack.region}:{stack.account}:stateMachine:{name}"


def grant_task_responses(function: lambda_.Function, machine_arn: str) -> None:
    """SendTaskSuccess / SendTaskFailure for the tasks of one state machine."""
    function.add_to_role_policy(
        iam.PolicyStatement(
            sid="AnswerDeployLabTasks", actions=TASK_RESPONSES, resources=[machine_arn]
        )
    )


class CommandEvents(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: LambdaFactory,
        storage: Storage,
        deploy_machine_name: str,
        waiting_functions: list[lambda_.Function],
        environment: dict[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        machine_arn = state_machine_arn(self, deploy_machine_name)
        self.callback = factory.create(
            self,
            FunctionSpec(
                "step_callback",
                "ADS: a Run Command invocation ended; complete the DeployLab task waiting for it",
                Duration.seconds(30),
                environment=environment,
            ),
        )
        role = self.callback.role
        assert role is not None
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadWaitsAndRecordsForgetSpentWaits",
                actions=["dynamodb:GetItem", "dynamodb:DeleteItem"],
                resources=[storage.table.table_arn],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadCommandResults", actions=["ssm:GetCommandInvocation"], resources=["*"]
            )
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "ssm:GetCommandInvocation supports only resource '*'; X-Ray as well.",
        )
        grant_task_responses(self.callback, machine_arn)
        for function in waiting_functions:
            grant_task_responses(function, machine_arn)
        self.rule = events.Rule(
            self,
            "CommandEnded",
            description="ADS: an SSM Run Command invocation ended (Await Init waits for it)",
            event_pattern=events.EventPattern(
                source=["aws.ssm"],
                detail_type=[DETAIL_TYPE],
                detail={"document-name": ["AWS-RunShellScript"], "status": TERMINAL_STATUSES},
            ),
            targets=[
                targets.LambdaFunction(
                    self.callback, retry_attempts=2, max_event_age=Duration.hours(1)
                )
            ],
        )
