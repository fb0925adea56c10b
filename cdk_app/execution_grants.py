"""What the api Lambda needs to start one of the lab machines and follow its executions."""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from cdk_app.nag import acknowledge, nag_text


def grant_start_and_follow(
    scope: Construct,
    machine: sfn.StateMachine,
    machine_name: str,
    api_function: lambda_.Function,
    *,
    sid: str,
) -> None:
    """StartExecution on ``machine``; DescribeExecution and GetExecutionHistory on its
    executions only (``scope`` names the wildcard in the nag finding)."""
    machine.grant_start_execution(api_function)
    executions = Stack.of(scope).format_arn(
        service="states",
        resource="execution",
        resource_name=f"{machine_name}:*",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )
    api_function.add_to_role_policy(
        iam.PolicyStatement(
            sid=sid,
            actions=["states:DescribeExecution", "states:GetExecutionHistory"],
            resources=[executions],
        )
    )
    acknowledge(
        api_function.role,
        f"AwsSolutions-IAM5[Resource::{nag_text(scope, executions)}]",
        "Execution names derive from lab ids generated at run time; the grant covers "
        f"only executions of {machine_name}.",
    )
