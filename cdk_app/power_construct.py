"""Power: the power_vm Lambda and the PowerLab state machine (stop, start, restart a lab).

``statemachine/power_lab.asl.json`` calls power_vm for every step but Check Health, which
is the deploy workflow's own health_check function. power_vm may stop, start and reboot
only instances tagged ``ads:managed=true``, send the lab's start action to them through
SSM Run Command, and ask the agent on the VM whether it restarted, which is why it runs in
the lab subnets with the health check's security group (the only one the instances admit
on the agent port).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from cdk_app.asl_state_machine import asl_state_machine
from cdk_app.compute_construct import FunctionSpec, LambdaFactory
from cdk_app.execution_grants import grant_start_and_follow
from cdk_app.nag import acknowledge, nag_text
from cdk_app.network_construct import Network
from cdk_app.settings import Settings
from cdk_app.step_grants import StepGrants
from cdk_app.storage_construct import Storage
from cdk_app.workflow_construct import MANAGED_TAG, STATEMACHINE_DIR

POWER_ASL = STATEMACHINE_DIR / "power_lab.asl.json"
# No PowerLab task waits longer than this for power_vm (the ASL's TimeoutSeconds).
POWER_VM_TIMEOUT_S = 60
POWER_ACTIONS = ("ec2:StopInstances", "ec2:StartInstances", "ec2:RebootInstances")


class Power(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        factory: LambdaFactory,
        storage: Storage,
        network: Network,
        health_check: lambda_.Function,
        lifecycle_bus: events.IEventBus,
    ) -> None:
        super().__init__(scope, construct_id)
        self.power_vm = factory.create(
            self,
            FunctionSpec(
                "power_vm",
                "ADS step: stop, start or reboot the lab VM and run its start action",
                Duration.seconds(POWER_VM_TIMEOUT_S),
                environment={
                    "ADS_INIT_TIMEOUT_S": str(settings.init_timeout_s),
                    "ADS_COMMAND_TIMEOUT_S": str(settings.command_timeout_s),
                },
                vpc=network.vpc,
                vpc_subnets=network.lab_subnets,
                security_groups=[network.health_check_security_group],
            ),
        )
        storage.grant_lab_records(self.power_vm)
        lifecycle_bus.grant_put_events_to(self.power_vm)
        self._grant_power_vm(StepGrants(self, network))
        self.machine_name = f"{settings.name_prefix}-power-lab"
        self.machine = asl_state_machine(
            self,
            "PowerLab",
            name=self.machine_name,
            asl_path=POWER_ASL,
            functions={"power_vm": self.power_vm, "health_check": health_check},
            settings=settings,
        )

    def grant_requests(self, api_function: lambda_.Function) -> None:
        """What the api Lambda needs to start PowerLab and follow its executions."""
        grant_start_and_follow(
            self, self.machine, self.machine_name, api_function, sid="FollowPowerExecutions"
        )

    def _grant_power_vm(self, grants: StepGrants) -> None:
        role = self.power_vm.role
        assert role is not None
        instances = grants.arn("ec2", "instance", "*")
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="PowerAdsInstancesOnly",
                actions=list(POWER_ACTIONS),
                resources=[instances],
                conditions={"StringEquals": {f"aws:ResourceTag/{MANAGED_TAG}": "true"}},
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DescribeInstanceAndSsmState",
                actions=["ec2:DescribeInstances", "ssm:DescribeInstanceInformation"],
                resources=["*"],
            )
        )
        grants.run_commands_on_ads_instances(role)
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::{nag_text(self, instances)}]",
            "Lab instance ids are created at run time; Stop/Start/RebootInstances and "
            "SendCommand are limited to instances tagged ads:managed=true.",
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "ec2:DescribeInstances, ssm:DescribeInstanceInformation and "
            "ssm:GetCommandInvocation support only resource '*'; X-Ray as well.",
        )
