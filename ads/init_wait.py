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

A lab of several VMs waits per VM (``vm_name``): each VM's install command is recorded
on its entry (``vms.<name>``), its wait item is keyed by that VM's instance and command
like any other, the event may name any VM of the lab, and each VM's deadline counts from
when its own command was sent (a later wave starts later).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from ads.built_once import built_once
from ads.config import AdsConfig
from ads.failure_causes import describe_init_failure
from ads.lab_record import LabRecord, LabStatus
from ads.observability import logger
from ads.providers.base import ComputeProvider, InitFailed, InitInProgress, InitStatus, VmInfo
from ads.records import LabRepository
from ads.step_records import advance, deploying, move, open_access, vm_of
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


def send_init(
    lab_id: str,
    repository: LabRepository,
    provider: ComputeProvider,
    vm_name: str | None = None,
) -> InitSentResult:
    """Initialise VM: send the install command once and record its id (INITIALIZING),
    then open the lab's access; with ``vm_name``, the command of that VM of a cluster lab
    (whose access opens at Mark Ready)."""
    if vm_name is not None:
        from ads import cluster_steps

        return InitSentResult(
            command_id=cluster_steps.send_init(lab_id, vm_name, repository, provider)
        )
    record = deploying(repository, lab_id)
    vm = vm_of(record)
    if record.status != LabStatus.INITIALIZING:
        record = advance(repository, lab_id, LabStatus.INITIALIZING, "running the install script")
    command_id = record.init_command_id
    if not command_id:
        command_id = provider.start_init(lab_id, vm, init_request(record))
        # Stored before anything else can fail, so a retried step follows this command
        # instead of sending a second one.
        move(repository, lab_id, LabStatus.INITIALIZING, init_command_id=command_id)
        logger.info("init command sent", command_id=command_id)
    # The access opens while the install runs (idempotent, so a retry opens it again), so
    # that Check Health can record READY as soon as the agent answers healthy.
    fields = open_access(record, provider)
    if fields and fields.get("app_url") != record.app_url:
        move(repository, lab_id, LabStatus.INITIALIZING, **fields)
    return InitSentResult(command_id=command_id)


@dataclass(frozen=True)
class InitTarget:
    """The VM whose install command a wait follows: the lab's own (single VM), or one
    VM of a cluster lab (``vm_name``), whose deadline counts from its command's send."""

    vm: VmInfo
    command_id: str | None
    vm_name: str | None = None
    started_at: float | None = None

    def describe(self) -> str:
        return f"{self.vm_name} ({self.vm.vm_id})" if self.vm_name else self.vm.vm_id


def init_target(record: LabRecord, vm_name: str | None = None) -> InitTarget:
    if vm_name is None:
        return InitTarget(vm=vm_of(record), command_id=record.init_command_id)
    from ads import cluster_steps

    entry = cluster_steps.vm_entry(record, vm_name)
    started = entry.get("init_started_at")
    return InitTarget(
        vm=cluster_steps.vm_info(record, vm_name),
        command_id=entry.get("init_command_id"),
        vm_name=vm_name,
        started_at=_timestamp(started) if started else None,
    )


def _timestamp(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _target_of_event(record: LabRecord, vm_id: str, command_id: str) -> InitTarget | None:
    """The VM of ``record`` that ran ``command_id`` as its install command, if any: the
    lab's own VM, or any VM of a cluster lab."""
    if record.vm_id == vm_id and record.init_command_id == command_id:
        return init_target(record)
    for name, entry in record.vms.items():
        if entry.get("vm_id") == vm_id and entry.get("init_command_id") == command_id:
            return init_target(record, name)
    return None


def _check_init_deadline(
    record: LabRecord, target: InitTarget, deadline_s: int, now: float, detail: str
) -> None:
    deadline_s = deadline_for(record, "init", deadline_s)
    if target.started_at is None:
        check_deadline(record, LabStatus.INITIALIZING, deadline_s, STEP, now, detail)
    elif now - target.started_at > deadline_s:
        # A cluster's VMs start their installs wave by wave: each counts from its own send.
        raise StepDeadlineExceeded(
            f"timed out after {deadline_s} s in {STEP} ({detail})",
            lab_id=record.lab_id,
            vm_name=target.vm_name,
            deadline_s=deadline_s,
        )


def await_init(
    lab_id: str,
    task_token: str,
    deps: InitWaitDependencies,
    *,
    deadline_s: int,
    vm_name: str | None = None,
) -> AwaitInitResult:
    """Await Init: register the token under the command, then look at the command once
    (with ``vm_name``: that VM's command, of a cluster lab)."""
    record = deploying(deps.repository, lab_id)
    target = init_target(record, vm_name)
    vm = target.vm
    command_id = target.command_id
    if not command_id:
        step = f"{STEP} ({vm_name})" if vm_name else STEP
        raise InitFailed(
            f"lab {lab_id} has no init command recorded for {target.describe()}; {step} must run first"
        )
    wait = deps.waits.register(
        lab_id=lab_id, vm_id=vm.vm_id, command_id=command_id, task_token=task_token
    )
    status = deps.provider.get_init_status(vm, command_id)
    if status.state == "in_progress":
        try:
            _check_init_deadline(
                record,
                target,
                deadline_s,
                deps.clock(),
                f"init command {command_id} on {target.describe()} still running",
            )
        except StepDeadlineExceeded:
            deps.waits.release(wait)
            raise
        logger.info("waiting for the init command's event", command_id=command_id, vm_name=vm_name)
        return AwaitInitResult(command_id=command_id, state="waiting")
    completed = complete(wait, command_id, status, deps, vm_name=vm_name)
    return AwaitInitResult(
        command_id=command_id, state="completed" if completed else "already_completed"
    )


def complete(
    wait: Wait,
    command_id: str,
    status: InitStatus,
    deps: InitWaitDependencies,
    *,
    vm_name: str | None = None,
) -> bool:
    """Complete ``wait``'s token with the command's outcome; False when it was spent. A
    cluster VM's failure names the VM."""
    if status.state == "success":
        done = deps.tokens.succeed(
            wait.task_token, InitVmResult(command_id=command_id).model_dump_json()
        )
    else:
        # The same document a Lambda's error carries, so the failure reads the same.
        message = describe_init_failure(status)
        if vm_name:
            message = f"VM {vm_name}: {message}"
        cause = json.dumps({"errorType": "InitFailed", "errorMessage": message})
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
    target = _target_of_event(record, vm_id, command_id) if record is not None else None
    if target is None:
        deps.waits.release(wait)
        return CallbackResult(outcome="stale", lab_id=wait.lab_id, command_id=command_id)
    status = deps.provider.get_init_status(target.vm, command_id)
    if status.state == "in_progress":
        # SSM's API may lag its event: raising lets the event's delivery retry (the
        # Lambda's asynchronous retries), and the wait's own poll remains behind it.
        raise InitInProgress(
            f"the event says command {command_id} ended; SSM still reports it running",
            command_id=command_id,
        )
    completed = complete(wait, command_id, status, deps, vm_name=target.vm_name)
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
