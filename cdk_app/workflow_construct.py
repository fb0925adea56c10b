"""Workflow: the step Lambdas and the two state machines (each step's permissions are
:mod:`cdk_app.step_grants`).

The ASL files are the single source of the workflow (the local runner executes the same
files); CDK only substitutes the Lambda ARNs into their `${...}` placeholders.
"""

from __future__ import annotations

import re
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from ads.asl_placeholders import (
    PARTITION_PLACEHOLDER,
    STEP_FUNCTION_PLACEHOLDERS,
    placeholders_of,
)
from ads.config import MANAGED_TAG as MANAGED_TAG  # the power construct reads it here
from ads.providers.consistency import CREATE_VM_TIMEOUT_S
from cdk_app.compute_construct import AgentBundle, FunctionSpec, LabInstanceRole, LambdaFactory
from cdk_app.lambda_bundle import PROJECT_ROOT
from cdk_app.nag import acknowledge, nag_text
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
)
DESTROY_STEPS = ("destroy_vm", "record_status")
# The ASL names the partition of its service ARNs through ${Partition}
# (PARTITION_PLACEHOLDER; the local runner binds it to moto's "aws"); a literal aws
# partition is treated alike.
# A JSON string that is a whole ARN in the placeholder (or the aws) partition.
_PARTITION_ARN = re.compile(r'"arn:(?:aws|\$\{Partition\}):([^"$]+)"')


def placeholders_in(asl_path: Path) -> set[str]:
    """The `${...}` placeholder names an ASL file uses."""
    return placeholders_of(asl_path.read_text(encoding="utf-8"))


def substitution_names(steps: tuple[str, ...]) -> set[str]:
    return {PLACEHOLDERS[step] for step in steps}


def partition_aware(asl_text: str) -> tuple[str, dict[str, str]]:
    """The ASL with each service ARN string (``arn:${Partition}:states:::lambda:invoke``,
    or a literal ``arn:aws:...``) turned into one whole-string placeholder.

    Returns the text and, per placeholder, the ARN after ``arn:<partition>:``; CDK binds
    it to the stack's partition, so the machine works in aws-cn and aws-us-gov. A
    placeholder for the whole string (not inside it) is what cfn-lint's ASL check knows
    to skip; with ``arn:${Partition}:...`` inline it would refuse every Resource.
    """
    arns: dict[str, str] = {}

    def placeholder(match: re.Match[str]) -> str:
        rest = match.group(1)
        name = "Arn" + "".join(part.title() for part in re.split(r"[^A-Za-z0-9]+", rest) if part)
        if arns.setdefault(name, rest) != rest:
            raise ValueError(f"ASL ARNs {arns[name]!r} and {rest!r} map to one placeholder {name}")
        return f'"${{{name}}}"'

    return _PARTITION_ARN.sub(placeholder, asl_text), arns


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
        self._stack = Stack.of(self)
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
                environment={"ADS_LAUNCH_GRACE_S": str(settings.launch_grace_s)},
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
        self.step_functions: dict[str, lambda_.Function] = {
            "create_vm": self.create_vm,
            "wait_running": self.wait_running,
            "init_vm": self.init_vm,
            "health_check": self.health_check,
            "destroy_vm": self.destroy_vm,
            "record_status": self.record_status,
        }

        for function in self.step_functions.values():
            storage.grant_lab_records(function)
        grants = StepGrants(self, network)
        grants.create_vm(self.create_vm, lab_instance)
        grants.wait_running(self.wait_running)
        grants.init_vm(self.init_vm, agent_bundle, settings.lab_source_buckets)
        grants.destroy_vm(self.destroy_vm)
        lifecycle_bus.grant_put_events_to(self.record_status)

        self.deploy_machine_name = f"{settings.name_prefix}-deploy-lab"
        self.destroy_machine_name = f"{settings.name_prefix}-destroy-lab"
        self.deploy_machine = self._state_machine(
            "DeployLab", self.deploy_machine_name, DEPLOY_ASL, DEPLOY_STEPS, settings
        )
        self.destroy_machine = self._state_machine(
            "DestroyLab", self.destroy_machine_name, DESTROY_ASL, DESTROY_STEPS, settings
        )

    # -- state machines ----------------------------------------------------------------

    def _state_machine(
        self,
        construct_id: str,
        name: str,
        asl_path: Path,
        steps: tuple[str, ...],
        settings: Settings,
    ) -> sfn.StateMachine:
        if not asl_path.is_file():
            raise FileNotFoundError(
                f"state machine {name}: the ASL file {asl_path} is missing; "
                "the workflow is defined only there"
            )
        definition, service_arns = partition_aware(asl_path.read_text(encoding="utf-8"))
        substitutions = {
            PLACEHOLDERS[step]: self.step_functions[step].function_arn for step in steps
        }
        for placeholder, rest in service_arns.items():
            substitutions[placeholder] = f"arn:{self._stack.partition}:{rest}"
        if PARTITION_PLACEHOLDER in placeholders_of(definition):
            substitutions[PARTITION_PLACEHOLDER] = self._stack.partition
        log_group = logs.LogGroup(
            self,
            f"{construct_id}Logs",
            # The vendedlogs prefix keeps CloudWatch's log resource policy small.
            log_group_name=f"/aws/vendedlogs/states/{name}",
            retention=settings.log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        machine = sfn.StateMachine(
            self,
            construct_id,
            state_machine_name=name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(definition),
            definition_substitutions=substitutions,
            logs=sfn.LogOptions(
                destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True
            ),
            tracing_enabled=True,
        )
        for step in steps:
            self.step_functions[step].grant_invoke(machine)
        acknowledge(
            machine.role,
            "AwsSolutions-IAM5[Resource::*]",
            "Step Functions log delivery and X-Ray accept only resource '*' "
            "(logs:*LogDelivery*, xray:PutTraceSegments).",
        )
        for step in steps:
            acknowledge(
                machine.role,
                f"AwsSolutions-IAM5[Resource::{self._display(self.step_functions[step].function_arn)}:*]",
                "Invoking a Lambda through the ASL may target its versions and aliases "
                "(function ARN with a qualifier); the grant stays on this one function.",
            )
        return machine

    def _display(self, value: str) -> str:
        return nag_text(self, value)
