"""Workflow: the step Lambdas and the two state machines (each step's permissions are
:mod:`cdk_app.step_grants`).

The ASL files are the single source of the workflow (the local runner executes the same
files); CDK only substitutes the Lambda ARNs into their `${...}` placeholders.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

# PARTITION_PLACEHOLDER and partition_aware are read here by the workflow's infra tests.
from ads.asl_placeholders import PARTITION_PLACEHOLDER as PARTITION_PLACEHOLDER
from ads.asl_placeholders import STEP_FUNCTION_PLACEHOLDERS, placeholders_of
from ads.config import MANAGED_TAG as MANAGED_TAG  # the power construct reads it here
from ads.providers.consistency import CREATE_VM_TIMEOUT_S
from cdk_app.asl_state_machine import asl_state_machine
from cdk_app.asl_state_machine import partition_aware as partition_aware
from cdk_app.command_events_construct import CommandEvents
from cdk_app.compute_construct import AgentBundle, FunctionSpec, LabInstanceRole, LambdaFactory
from cdk_app.image_grants import ImageGrants
from cdk_app.lambda_bundle import PROJECT_ROOT
from cdk_app.network_construct import Network
from cdk_app.settings import Settings
from cdk_app.step_grants import StepGrants
from cdk_app.storage_construct import Storage

STATEMACHINE_DIR = PROJECT_ROOT / "statemachine"
DEPLOY_ASL = STATEMACHINE_DIR / "deploy_lab.asl.json"
DESTROY_ASL = STATEMACHINE_DIR / "destroy_lab.asl.json"

# Placeholder name for each step Lambda, as written in the ASL files.
PLACEHOLDERS = STEP_FUNCTION_PLACEHOLDERS
# Which steps each state machine calls: the substitutions and the invoke grants.
DEPLOY_STEPS = (
    "create_vm",
    "wait_running",
    "init_vm",
    "health_check",
    "destroy_vm",
    "record_status",
    "keep_image",
)
DESTROY_STEPS = ("destroy_vm", "record_status")


def wait_deadlines(settings: Settings) -> dict[str, str]:
    """ADS_INIT_DEADLINE_S when the settings name one (else the init budget + delivery)."""
    if not settings.init_deadline_s:
        return {}
    return {"ADS_INIT_DEADLINE_S": str(settings.init_deadline_s)}


def placeholders_in(asl_path: Path) -> set[str]:
    """The `${...}` placeholder names an ASL file uses."""
    return placeholders_of(asl_path.read_text(encoding="utf-8"))


def substitution_names(steps: tuple[str, ...]) -> set[str]:
    return {PLACEHOLDERS[step] for step in steps}


class Workflow(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        factory: LambdaFactory,
        storage: Storage,
        network: Network,
        lab_instance: LabInstanceRole,
        agent_bundle: AgentBundle,
        lifecycle_bus: events.IEventBus,
    ) -> None:
        super().__init__(scope, construct_id)
        steps = Construct(self, "Steps")

        self.create_vm = factory.create(
            steps,
            FunctionSpec(
                "create_vm",
                "ADS step: create the lab VM",
                # Destroy VM's patience with a lost launch is counted from this (consistency).
                Duration.seconds(CREATE_VM_TIMEOUT_S),
            ),
        )
        self.wait_running = factory.create(
            steps,
            FunctionSpec(
                "wait_running",
                "ADS step: is the VM running and SSM-online",
                Duration.seconds(30),
                environment={
                    "ADS_LAUNCH_GRACE_S": str(settings.launch_grace_s),
                    "ADS_BOOT_DEADLINE_S": str(settings.boot_deadline_s),
                    # Await Init's safety-net interval travels in this step's result.
                    "ADS_INIT_POLL_S": str(settings.init_poll_s),
                },
            ),
        )
        self.init_vm = factory.create(
            steps,
            FunctionSpec(
                "init_vm",
                "ADS step: install the agent and the lab through SSM Run Command",
                Duration.seconds(60),
                environment={
                    "ADS_AGENT_BUNDLE_BUCKET": agent_bundle.bucket_name,
                    "ADS_AGENT_BUNDLE_KEY": agent_bundle.object_key,
                    "ADS_INIT_TIMEOUT_S": str(settings.init_timeout_s),
                    "ADS_COMMAND_TIMEOUT_S": str(settings.command_timeout_s),
                    "ADS_HEALTHY_WAIT_S": str(settings.healthy_wait_s),
                    **wait_deadlines(settings),
                },
            ),
        )
        self.health_check = factory.create(
            steps,
            FunctionSpec(
                "health_check",
                "ADS step: ask the agent on the VM for its health",
                Duration.seconds(30),
                vpc=network.vpc,
                vpc_subnets=network.lab_subnets,
                security_groups=[network.health_check_security_group],
            ),
        )
        self.destroy_vm = factory.create(
            steps,
            FunctionSpec(
                "destroy_vm",
                "ADS step: terminate the lab VM",
                Duration.seconds(60),
                environment={"ADS_LAUNCH_GRACE_S": str(settings.launch_grace_s)},
            ),
        )
        self.record_status = factory.create(
            steps,
            FunctionSpec(
                "record_status",
                "ADS step: record the final status and publish the lifecycle event",
                Duration.seconds(30),
            ),
        )
        self.keep_image = factory.create(
            steps,
            FunctionSpec(
                "keep_image",
                "ADS step: keep an image of a READY lab's VM (after Mark Ready)",
                Duration.seconds(60),
            ),
        )
        self.step_functions: dict[str, lambda_.Function] = {
            "create_vm": self.create_vm,
            "wait_running": self.wait_running,
            "init_vm": self.init_vm,
            "health_check": self.health_check,
            "destroy_vm": self.destroy_vm,
            "record_status": self.record_status,
            "keep_image": self.keep_image,
        }

        for function in self.step_functions.values():
            storage.grant_lab_records(function)
        grants = StepGrants(self, network)
        grants.create_vm(self.create_vm, lab_instance)
        grants.wait_running(self.wait_running)
        grants.init_vm(self.init_vm, agent_bundle, settings.lab_source_buckets)
        grants.destroy_vm(self.destroy_vm)
        ImageGrants(self).keep_images(self.keep_image)
        ImageGrants(self).launch_from_images(self.create_vm)
        lifecycle_bus.grant_put_events_to(self.record_status)

        self.deploy_machine_name = f"{settings.name_prefix}-deploy-lab"
        self.destroy_machine_name = f"{settings.name_prefix}-destroy-lab"
        self.deploy_machine = asl_state_machine(
            self,
            "DeployLab",
            name=self.deploy_machine_name,
            asl_path=DEPLOY_ASL,
            functions={step: self.step_functions[step] for step in DEPLOY_STEPS},
            settings=settings,
        )
        # The end of the install command ends Await Init (ads/step_waits.py).
        self.command_events = CommandEvents(
            self,
            "CommandEvents",
            factory=factory,
            storage=storage,
            deploy_machine_name=self.deploy_machine_name,
            waiting_functions=[self.init_vm],
            environment=wait_deadlines(settings),
        )
        self.destroy_machine = asl_state_machine(
            self,
            "DestroyLab",
            name=self.destroy_machine_name,
            asl_path=DESTROY_ASL,
            functions={step: self.step_functions[step] for step in DESTROY_STEPS},
            settings=settings,
        )
