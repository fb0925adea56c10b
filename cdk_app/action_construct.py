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
        network: Network,
        lifecycle_bus: events.IEventBus | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
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
        if lifecycle_bus is not None:
            # Lab Action Started / Succeeded / Failed.
            lifecycle_bus.grant_put_events_to(self.run_action)
        self._grants = StepGrants(self, network)
        self._grant_run_command(self._grants)
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
        grant_start_and_follow(
            self, self.machine, self.machine_name, api_function, sid="FollowActionExecutions"
        )

    def grant_read_logs(self, api_function: lambda_.Function) -> None:
        """GET /labs/{lab_id}/logs: the api Lambda sends the agent's logs command to an
        ADS instance through SSM (AWS-RunShellScript, instances tagged ads:managed only)
        and reads its answer; it stays out of the VPC, no port opens to the instance."""
        role = api_function.role
        assert role is not None
        self._grants.run_commands_on_ads_instances(role)
        self._grants.acknowledge_run_commands(role)

    def _grant_run_command(self, grants: StepGrants) -> None:
        role = self.run_action.role
        assert role is not None
        grants.run_commands_on_ads_instances(role)
        grants.acknowledge_run_commands(role)
