"""Update in place: the redeploy_vm Lambda and the RedeployLab state machine.

``statemachine/redeploy_lab.asl.json`` calls redeploy_vm for Start Update, Wait For
Update, Check Health and Record Update, and the deploy workflow's own destroy_vm and
record_status for a lab lost in an update (Destroy VM, Mark Failed), so redeploy_vm
never terminates anything. It sends the agent's ``update`` to the lab's instance through
SSM Run Command (the ``AWS-RunShellScript`` document, on instances tagged
``ads:managed=true`` only), reads the command's result, and asks the agent on the VM
whether it is healthy, which is why it runs in the lab subnets with the health check's
security group (the only one the instances admit on the agent port).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from cdk_app.asl_state_machine import asl_state_machine
from cdk_app.compute_construct import FunctionSpec, LambdaFactory
from cdk_app.execution_grants import grant_start_and_follow
from cdk_app.network_construct import Network
from cdk_app.settings import Settings
from cdk_app.step_grants import StepGrants
from cdk_app.storage_construct import Storage
from cdk_app.workflow_construct import STATEMACHINE_DIR

REDEPLOY_ASL = STATEMACHINE_DIR / "redeploy_lab.asl.json"
# No RedeployLab task waits longer than this for redeploy_vm (the ASL's TimeoutSeconds).
REDEPLOY_VM_TIMEOUT_S = 60


class Redeploy(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        factory: LambdaFactory,
        storage: Storage,
        network: Network,
        destroy_vm: lambda_.Function,
        record_status: lambda_.Function,
        lifecycle_bus: events.IEventBus,
    ) -> None:
        super().__init__(scope, construct_id)
        self.redeploy_vm = factory.create(
            self,
            FunctionSpec(
                "redeploy_vm",
                "ADS step: update the lab in place on its VM and record the revision",
                Duration.seconds(REDEPLOY_VM_TIMEOUT_S),
                environment={"ADS_INIT_TIMEOUT_S": str(settings.init_timeout_s)},
                vpc=network.vpc,
                vpc_subnets=network.lab_subnets,
                security_groups=[network.health_check_security_group],
            ),
        )
        storage.grant_lab_records(self.redeploy_vm)
        # Lab Updated / Lab Update Failed.
        lifecycle_bus.grant_put_events_to(self.redeploy_vm)
        role = self.redeploy_vm.role
        assert role is not None
        grants = StepGrants(self, network)
        grants.run_commands_on_ads_instances(role)
        grants.acknowledge_run_commands(role)
        self.machine_name = f"{settings.name_prefix}-redeploy-lab"
        self.machine = asl_state_machine(
            self,
            "RedeployLab",
            name=self.machine_name,
            asl_path=REDEPLOY_ASL,
            functions={
                "redeploy_vm": self.redeploy_vm,
                "destroy_vm": destroy_vm,
                "record_status": record_status,
            },
            settings=settings,
        )

    def grant_requests(self, function: lambda_.Function, *, sid: str) -> None:
        """What a front door (the api, the CI trigger) needs to start RedeployLab and
        follow its executions."""
        grant_start_and_follow(self, self.machine, self.machine_name, function, sid=sid)
