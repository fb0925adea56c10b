"""Initialise VM as an event-driven wait (see :mod:`ads.step_waits`).

:func:`send_init` (Initialise VM) sends the install command once and records its id.
:func:`await_init` (Await Init, a ``.waitForTaskToken`` task) registers the task token
under that command and looks at the command once; a timed-out attempt can never send a
second command. A command still running leaves
the token waiting for the command's status-change event; a command already ended
completes the token at once (the event may have come before the token was stored). Every
attempt also checks the deadline: once the lab has been INITIALIZING longer than it, the
attempt fails with "timed out after N s in Initialise VM".

:func:`complete_from_event` is the callback's logic: the event names the instance and
the command; the outcome is read from the provider, never taken from the event.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict

from ads.built_once import built_once
from ads.config import AdsConfig
from ads.failure_causes import describe_init_failure
from ads.lab_record import LabStatus
from ads.observability import logger
from ads.providers.base import ComputeProvider, InitFailed, InitInProgress, InitStatus
from ads.records import LabRepository
from ads.step_records import advance, deploying, vm_of
from ads.step_results import InitVmResult
from ads.step_waits import (
    StepDeadlineExceeded,
    StepWaits,
    TaskTokens,
    Wait,
    check_deadline,
    deadline_for,
)
from ads.steps import dependencies_for, init_request

STEP = "Initialise VM"


@dataclass(frozen=True)
class InitWaitDependencies:
    repository: LabRepository
    provider: ComputeProvider
    waits: StepWaits
    tokens: TaskTokens
    clock: Callable[[], float] = time.time


class AwaitInitResult(BaseModel):
    """What the Lambda of Initialise VM answers (Step Functions ignores it: the task's
    output is what completes its token)."""

    model_config = ConfigDict(extra="forbid")

    command_id: str
    state: Literal["waiting", "completed", "already_completed"]


class InitSentResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    command_id: str
    state: Literal["sent"] = "sent"


class CallbackResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Literal["completed", "already_completed", "no_wait", "stale", "in_progress"]
    lab_id: str | None = None
    command_id: str


def send_init(lab_id: str, repository: LabRepository, provider: ComputeProvider) -> InitSentResult:
    """Initialise VM: send the install command once and record its id (INITIALIZING)."""
    record = deploying(repository, lab_id)
    vm = vm_of(record)
    if record.status != LabStatus.INITIALIZING:
        record = advance(repository, lab_id, LabStatus.INITIALIZING, "running the install script")
    if record.init_command_id:
        return InitSentResult(command_id=record.init_command_id)
    command_id = provider.start_init(lab_id, vm, init_request(record))
    # Stored before anything else can fail, so a retried step follows this command
    # instead of sending a second one.
    advance(repository, lab_id, LabStatus.INITIALIZING, init_command_id=command_id)
    logger.info("init command sent", command_id=command_id)
    return InitSentResult(command_id=command_id)


def await_init(
    lab_id: str, task_token: str, deps: InitWaitDependencies, *, deadline_s: int
) -> AwaitInitResult:
    """Await Init: register the token under the command, then look at the command once."""
    record = deploying(deps.repository, lab_id)
    vm = vm_of(record)
    command_id = record.init_command_id
    if not command_id:
        raise InitFailed(f"lab {lab_id} has no init command recorded; Initialise VM must run first")
    wait = deps.waits.register(
        lab_id=lab_id, vm_id=vm.vm_id, command_id=command_id, task_token=task_token
    )
    status = deps.provider.get_init_status(vm, command_id)
    if status.state == "in_progress":
        try:
            check_deadline(
                record,
                LabStatus.INITIALIZING,
                deadline_for(record, "init", deadline_s),
                STEP,
                deps.clock(),
                f"init command {command_id} on {vm.vm_id} still running",
            )
        except StepDeadlineExceeded:
            deps.waits.release(wait)
            raise
        logger.info("waiting for the init command's event", command_id=command_id)
        return AwaitInitResult(command_id=command_id, state="waiting")
    completed = complete(wait, command_id, status, deps)
    return AwaitInitResult(
        command_id=command_id, state="completed" if completed else "already_completed"
    )


def complete(wait: Wait, command_id: str, status: InitStatus, deps: InitWaitDependencies) -> bool:
    """Complete ``wait``'s token with the command's outcome; False when it was spent."""
    if status.state == "success":
        done = deps.tokens.succeed(
            wait.task_token, InitVmResult(command_id=command_id).model_dump_json()
        )
    else:
        # The same document a Lambda's error carries, so the failure reads the same.
        cause = json.dumps(
            {"errorType": "InitFailed", "errorMessage": describe_init_failure(status)}
        )
        done = deps.tokens.fail(wait.task_token, "InitFailed", cause)
    deps.waits.release(wait)
    logger.info("init wait completed", command_id=command_id, state=status.state, sent=done)
    return done


def complete_from_event(vm_id: str, command_id: str, deps: InitWaitDependencies) -> CallbackResult:
    """Complete the token waiting for ``command_id`` on ``vm_id``, if one still waits."""
    wait = deps.waits.find(vm_id, command_id)
    if wait is None:
        # Not a command ADS waits for, or its wait ended already (a late or repeated event).
        return CallbackResult(outcome="no_wait", command_id=command_id)
    record = deps.repository.get(wait.lab_id)
    if record is None or record.vm_id != vm_id or record.init_command_id != command_id:
        deps.waits.release(wait)
        return CallbackResult(outcome="stale", lab_id=wait.lab_id, command_id=command_id)
    status = deps.provider.get_init_status(vm_of(record), command_id)
    if status.state == "in_progress":
        # SSM's API may lag its event: raising lets the event's delivery retry (the
        # Lambda's asynchronous retries), and the wait's own poll remains behind it.
        raise InitInProgress(
            f"the event says command {command_id} ended; SSM still reports it running",
            command_id=command_id,
        )
    completed = complete(wait, command_id, status, deps)
    return CallbackResult(
        outcome="completed" if completed else "already_completed",
        lab_id=wait.lab_id,
        command_id=command_id,
    )


@built_once(maxsize=4)
def wait_dependencies_for(config: AdsConfig) -> InitWaitDependencies:
    """The step's repository and provider (:func:`ads.steps.dependencies_for`) plus the
    wait items and Step Functions' token calls, built once per configuration (by one
    thread while concurrent first callers wait: see :mod:`ads.built_once`)."""
    import boto3

    from ads.providers.throttling import client_config

    base = dependencies_for(config)
    session = boto3.session.Session(region_name=config.region)
    table = session.resource("dynamodb", region_name=config.region, config=client_config())
    sfn = session.client("stepfunctions", region_name=config.region, config=client_config())
    return InitWaitDependencies(
        repository=base.repository,
        provider=base.provider,
        waits=StepWaits(table.Table(config.table_name)),
        tokens=TaskTokens(sfn),
    )
