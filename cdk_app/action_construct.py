"""Lab actions: the run_action Lambda and the ActionLab state machine.

``statemachine/action_lab.asl.json`` calls run_action for each of its steps. run_action
sends the agent's ``action NAME`` to the lab's instance through SSM Run Command (the
``AWS-RunShellScript`` document, on instances tagged ``ads:managed=true`` only), reads
the command's result, and keeps the run in the labs table. It never calls the agent over
the network, so unlike power_vm it runs outside the VPC.

An action that exits non-zero (a test that found a fault, a restore with no backup)
ends its execution in a Succeed state, its run in the lab's action history: ActionLab's
failed, timed-out and aborted executions alarm like the other machines' and mean a fault
of ADS (the action could not be sent, followed or recorded).
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from cdk_app.asl_state_machine import asl_state_machine
from cdk_app.compute_construct import FunctionSpec, LambdaFactory
from cdk_app.nag import acknowledge, nag_text
from cdk_app.settings import Settings
from cdk_app.storage_construct import Storage
from cdk_app.workflow_construct import MANAGED_TAG, STATEMACHINE_DIR

ACTION_ASL = STATEMACHINE_DIR / "action_lab.asl.json"
# No ActionLab task waits longer than this for run_action (the ASL's TimeoutSeconds).
RUN_ACTION_TIMEOUT_S = 60


class Actions(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        factory: LambdaFactory,
        storage: Storage,
    ) -> None:
        super().__init__(scope, construct_id)
        self._stack = Stack.of(self)
        self.run_action = factory.create(
            self,
            FunctionSpec(
                "run_action",
                "ADS step: run one of the lab's actions on its VM and record the run",
                Duration.seconds(RUN_ACTION_TIMEOUT_S),
                environment={
                    "ADS_INIT_TIMEOUT_S": str(settings.init_timeout_s),
                    "ADS_COMMAND_TIMEOUT_S": str(settings.command_timeout_s),
                },
            ),
        )
        storage.grant_lab_records(self.run_action)
        self._grant_run_command()
        self.machine_name = f"{settings.name_prefix}-action-lab"
        self.machine = asl_state_machine(
            self,
            "ActionLab",
            name=self.machine_name,
            asl_path=ACTION_ASL,
            functions={"run_action": self.run_action},
            settings=settings,
        )

    def grant_requests(self, api_function: lambda_.Function) -> None:
        """What the api Lambda needs to start ActionLab and follow its executions."""
        self.machine.grant_start_execution(api_function)
        executions = self._stack.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{self.machine_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        api_function.add_to_role_policy(
            iam.PolicyStatement(
                sid="FollowActionExecutions",
                actions=["states:DescribeExecution", "states:GetExecutionHistory"],
                resources=[executions],
            )
        )
        acknowledge(
            api_function.role,
            f"AwsSolutions-IAM5[Resource::{nag_text(self, executions)}]",
            "Execution names derive from lab ids generated at run time; the grant covers "
            f"only executions of {self.machine_name}.",
        )

    def _arn(self, service: str, resource: str, name: str, *, account: bool = True) -> str:
        stack = self._stack
        account_id = stack.account if account else ""
        return f"arn:{stack.partition}:{service}:{stack.region}:{account_id}:{resource}/{name}"

    def _grant_run_command(self) -> None:
        role = self.run_action.role
        assert role is not None
        instances = self._arn("ec2", "instance", "*")
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="RunShellScriptDocument",
                actions=["ssm:SendCommand"],
                resources=[self._arn("ssm", "document", "AWS-RunShellScript", account=False)],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="RunCommandOnAdsInstancesOnly",
                actions=["ssm:SendCommand"],
                resources=[instances],
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
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::{nag_text(self, instances)}]",
            "Lab instance ids are created at run time; SendCommand is limited to "
            "instances tagged ads:managed=true.",
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "ssm:GetCommandInvocation supports only resource '*'; X-Ray as well.",
        )
