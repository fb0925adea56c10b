"""A Standard state machine built from one of the ``statemachine/*.asl.json`` files.

The ASL file is the single source of the workflow (the local plane runs the same file):
its Lambda placeholders become the functions' ARNs, its service ARNs the stack's
partition (:func:`partition_aware`), and each function it calls is granted to the
machine's role only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from ads.asl_placeholders import (
    PARTITION_PLACEHOLDER,
    STATE_MACHINE_PLACEHOLDERS,
    STEP_FUNCTION_PLACEHOLDERS,
    placeholders_of,
)
from cdk_app.nag import acknowledge, nag_text
from cdk_app.settings import Settings

# The ASL names the partition of its service ARNs through ${Partition}
# (PARTITION_PLACEHOLDER; the local runner binds it to moto's "aws"); a literal aws
# partition is treated alike.
# A JSON string that is a whole ARN in the placeholder (or the aws) partition.
_PARTITION_ARN = re.compile(r'"arn:(?:aws|\$\{Partition\}):([^"$]+)"')


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


def asl_state_machine(
    scope: Construct,
    construct_id: str,
    *,
    name: str,
    asl_path: Path,
    functions: Mapping[str, lambda_.IFunction],
    settings: Settings,
    state_machines: Mapping[str, sfn.IStateMachine] | None = None,
) -> sfn.StateMachine:
    """The machine of ``asl_path``, calling ``functions`` (by step name, e.g. ``power_vm``)
    and starting ``state_machines`` (by name, e.g. ``DeployLab``; the caller grants what
    starting them takes); a placeholder of the file that none of them fills fails synth,
    naming it."""
    if not asl_path.is_file():
        raise FileNotFoundError(
            f"state machine {name}: the ASL file {asl_path} is missing; "
            "the workflow is defined only there"
        )
    stack = Stack.of(scope)
    definition, service_arns = partition_aware(asl_path.read_text(encoding="utf-8"))
    substitutions = {
        STEP_FUNCTION_PLACEHOLDERS[step]: function.function_arn
        for step, function in functions.items()
    }
    for machine_name, started in (state_machines or {}).items():
        substitutions[STATE_MACHINE_PLACEHOLDERS[machine_name]] = started.state_machine_arn
    for placeholder, rest in service_arns.items():
        substitutions[placeholder] = f"arn:{stack.partition}:{rest}"
    if PARTITION_PLACEHOLDER in placeholders_of(definition):
        substitutions[PARTITION_PLACEHOLDER] = stack.partition
    unfilled = sorted(placeholders_of(definition) - set(substitutions))
    if unfilled:
        raise ValueError(f"state machine {name}: no value for {', '.join(unfilled)} in {asl_path}")
    log_group = logs.LogGroup(
        scope,
        f"{construct_id}Logs",
        # The vendedlogs prefix keeps CloudWatch's log resource policy small.
        log_group_name=f"/aws/vendedlogs/states/{name}",
        retention=settings.log_retention,
        removal_policy=RemovalPolicy.DESTROY,
    )
    machine = sfn.StateMachine(
        scope,
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
    acknowledge(
        machine.role,
        "AwsSolutions-IAM5[Resource::*]",
        "Step Functions log delivery and X-Ray accept only resource '*' "
        "(logs:*LogDelivery*, xray:PutTraceSegments).",
    )
    for function in functions.values():
        function.grant_invoke(machine)
        acknowledge(
            machine.role,
            f"AwsSolutions-IAM5[Resource::{nag_text(scope, function.function_arn)}:*]",
            "Invoking a Lambda through the ASL may target its versions and aliases "
            "(function ARN with a qualifier); the grant stays on this one function.",
        )
    return machine
