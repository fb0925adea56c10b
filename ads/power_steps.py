"""The steps of the PowerLab workflow (``statemachine/power_lab.asl.json``).

Stop: READY -> STOPPING -> (Stop VM, until the provider reports ``stopped``) -> STOPPED.
Start: STOPPED -> STARTING -> Start VM (until it runs; endpoint and app URL refreshed)
-> Start Lab (the labspec's ``start`` action) -> Check Health -> READY.
Restart: READY -> RESTARTING -> Restart VM (a reboot, sent once per execution) -> Wait
Until Restarted (the agent answers and started after the reboot was asked) -> Start Lab
-> Check Health -> READY. A lab of several VMs does each step on every VM
(:mod:`ads.cluster_power`).

The API makes the first transition (a conditional write: one operation per lab at a
time); the steps move on from there. Like the deploy steps they never wait: a named
exception makes the state machine retry. A failed operation records FAILED with the
step and its cause and keeps the VM (nothing is destroyed: ``ads destroy`` removes it).
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ads import cluster_power
from ads.errors import IllegalTransitionError
from ads.failure_causes import FAIL_CAUSE_LIMIT, describe_init_failure, failure_cause
from ads.health_probe import agent_uptime, probe_health
from ads.lab_record import LabRecord, LabStatus
from ads.lifecycle_events import RESTARTED_DETAIL_TYPE, STARTED_DETAIL_TYPE, LifecyclePublisher
from ads.observability import logger
from ads.providers.base import (
    ComputeProvider,
    InitFailed,
    InitInProgress,
    LabBeingDestroyed,
    VmInfo,
    VmNotReady,
    VmNotRunning,
    VmState,
)
from ads.records import LabRepository
from ads.step_records import DESTROY_STATES

PowerOperation = Literal["stop", "start", "restart"]
# The status an operation moves a lab to first, and the statuses it may start from.
OPERATION_STATUS: dict[str, LabStatus] = {
    "stop": LabStatus.STOPPING,
    "start": LabStatus.STARTING,
    "restart": LabStatus.RESTARTING,
}
# vm_details keys the power steps keep between their retries.
START_COMMAND = "power_start_command"
REBOOT_ASKED = "power_reboot"


class PowerStepResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lab_id: str
    status: str
    vm_state: str | None = None
    endpoint: str | None = None
    command_id: str | None = None
    event_published: bool = False
    cause: str | None = None


def _current(repository: LabRepository, lab_id: str, *expected: LabStatus) -> LabRecord:
    record = repository.require(lab_id)
    if record.status in DESTROY_STATES:
        raise LabBeingDestroyed(
            f"lab {lab_id} is {record.status.value}: the power operation stops here",
            lab_id=lab_id,
        )
    if expected and record.status not in expected:
        raise VmNotRunning(
            f"lab {lab_id} is {record.status.value}; this step expects "
            + " or ".join(s.value for s in expected),
            lab_id=lab_id,
        )
    return record


def _vm_of(record: LabRecord) -> VmInfo:
    if not record.vm_id or record.agent_port is None:
        raise VmNotRunning(f"lab {record.lab_id} has no VM recorded", lab_id=record.lab_id)
    return VmInfo(
        vm_id=record.vm_id,
        provider=record.provider,
        private_ip=record.private_ip,
        agent_port=record.agent_port,
        details=record.vm_details,
    )


def _refresh(
    repository: LabRepository, record: LabRecord, provider: ComputeProvider, state: VmState
) -> str:
    """Store where the VM answers now: a start may change its address (a public IP on
    EC2) or its agent port (the local provider, when the old one was taken)."""
    vm = _vm_of(record)
    current = getattr(provider, "vm_info", None)
    fresh = current(vm.vm_id) if callable(current) else None
    if fresh is not None:
        vm = vm.model_copy(update={"agent_port": fresh.agent_port, "details": fresh.details})
    vm = vm.model_copy(update={"private_ip": state.private_ip or vm.private_ip})
    endpoint = provider.health_url(vm).removesuffix("/health")
    fields: dict[str, Any] = {
        "private_ip": vm.private_ip,
        "agent_port": vm.agent_port,
        "endpoint": endpoint,
        "vm_details": {**record.vm_details, **vm.details},
    }
    if vm.details.get("app_url"):
        fields["app_url"] = vm.details["app_url"]
    repository.transition(record.lab_id, record.status, **fields)
    return endpoint


def _running(state: VmState, lab_id: str) -> None:
    if state.state in ("pending", "stopping", "stopped"):
        raise VmNotReady(f"VM {state.vm_id} of {lab_id} is {state.state}", vm_id=state.vm_id)
    if state.state != "running":
        raise VmNotRunning(
            f"VM {state.vm_id} of {lab_id} is {state.state}; it cannot be started",
            vm_id=state.vm_id,
        )
    if state.ssm_online is False:
        raise VmNotReady(f"VM {state.vm_id} runs; its SSM agent is not online yet")


# -- the steps -------------------------------------------------------------------------


def stop_vm(lab_id: str, repository: LabRepository, provider: ComputeProvider) -> PowerStepResult:
    """Ask the provider to stop the VM (again on every retry: stopping is idempotent)
    until it reports ``stopped``."""
    record = _current(repository, lab_id, LabStatus.STOPPING)
    if record.vms:
        state_name = cluster_power.stop_all(record, provider)
        return PowerStepResult(lab_id=lab_id, status=record.status.value, vm_state=state_name)
    state = provider.stop_vm(_vm_of(record).vm_id)
    if state.state in ("running", "stopping", "pending"):
        # Right after StopInstances EC2 may still say running: not an error, not yet.
        raise VmNotReady(f"VM {state.vm_id} of {lab_id} is {state.state}; waiting until stopped")
    if state.state != "stopped":
        raise VmNotRunning(f"VM {state.vm_id} of {lab_id} is {state.state}; it cannot be stopped")
    return PowerStepResult(lab_id=lab_id, status=record.status.value, vm_state=state.state)


def start_vm(lab_id: str, repository: LabRepository, provider: ComputeProvider) -> PowerStepResult:
    record = _current(repository, lab_id, LabStatus.STARTING)
    if record.vms:
        endpoint = cluster_power.start_all(repository, record, provider)
        return PowerStepResult(
            lab_id=lab_id, status=record.status.value, vm_state="running", endpoint=endpoint
        )
    state = provider.start_vm(_vm_of(record).vm_id)
    _running(state, lab_id)
    endpoint = _refresh(repository, record, provider, state)
    logger.info("vm started", vm_id=state.vm_id, endpoint=endpoint)
    return PowerStepResult(
        lab_id=lab_id, status=record.status.value, vm_state=state.state, endpoint=endpoint
    )


def restart_vm(
    lab_id: str,
    repository: LabRepository,
    provider: ComputeProvider,
    *,
    execution_id: str | None,
) -> PowerStepResult:
    """Reboot the VM once per execution (a retried step does not reboot it twice)."""
    record = _current(repository, lab_id, LabStatus.RESTARTING)
    if record.vms:
        state_name = cluster_power.restart_all(repository, record, provider, execution_id)
        return PowerStepResult(lab_id=lab_id, status=record.status.value, vm_state=state_name)
    vm = _vm_of(record)
    asked = record.vm_details.get(REBOOT_ASKED) or {}
    if asked.get("execution_id") != (execution_id or "") or not execution_id:
        state = provider.restart_vm(vm.vm_id)
        asked = {"execution_id": execution_id or "", "at": time.time()}
        repository.transition(
            lab_id, LabStatus.RESTARTING, vm_details={**record.vm_details, REBOOT_ASKED: asked}
        )
    else:
        state = provider.describe_vm(vm.vm_id)
    return PowerStepResult(lab_id=lab_id, status=record.status.value, vm_state=state.state)


def wait_restarted(
    lab_id: str, repository: LabRepository, provider: ComputeProvider, *, timeout_s: float
) -> PowerStepResult:
    """Until the VM runs and its agent started after the reboot was asked: a reboot is
    asynchronous, and the agent of before the reboot may still answer for a while."""
    record = _current(repository, lab_id, LabStatus.RESTARTING)
    if record.vms:
        endpoint = cluster_power.wait_all_restarted(repository, record, provider, timeout_s)
        return PowerStepResult(
            lab_id=lab_id, status=record.status.value, vm_state="running", endpoint=endpoint
        )
    state = provider.describe_vm(_vm_of(record).vm_id)
    _running(state, lab_id)
    endpoint = _refresh(repository, record, provider, state)
    record = repository.require(lab_id)
    asked_at = float((record.vm_details.get(REBOOT_ASKED) or {}).get("at") or 0)
    url = provider.health_url(_vm_of(record))
    code, body = probe_health(url, timeout_s)
    if code is None:
        raise VmNotReady(f"VM {state.vm_id} is restarting: GET {url} did not answer ({body})")
    uptime = agent_uptime(body)
    since = time.time() - asked_at
    if uptime is None or uptime >= since:
        raise VmNotReady(
            f"VM {state.vm_id} has not restarted yet: its agent has been up {uptime}s, "
            f"the reboot was asked {since:.0f}s ago"
        )
    return PowerStepResult(
        lab_id=lab_id, status=record.status.value, vm_state=state.state, endpoint=endpoint
    )


def start_lab(
    lab_id: str,
    repository: LabRepository,
    provider: ComputeProvider,
    *,
    execution_id: str | None,
) -> PowerStepResult:
    """Run the labspec's ``start`` action once per execution and follow it to its end."""
    record = _current(repository, lab_id, LabStatus.STARTING, LabStatus.RESTARTING)
    if record.vms:
        commands = cluster_power.start_all_labs(repository, record, provider, execution_id)
        return PowerStepResult(
            lab_id=lab_id, status=record.status.value, command_id=",".join(commands) or None
        )
    vm = _vm_of(record)
    sent = record.vm_details.get(START_COMMAND) or {}
    if not execution_id or sent.get("execution_id") != execution_id:
        command_id = provider.start_lab(lab_id, vm, record.plan)  # type: ignore[attr-defined]
        sent = {"execution_id": execution_id or "", "command_id": command_id}
        # Stored before it is followed, so a retried step follows this command.
        repository.transition(
            lab_id, record.status, vm_details={**record.vm_details, START_COMMAND: sent}
        )
    command_id = sent.get("command_id")
    if not command_id:
        return PowerStepResult(lab_id=lab_id, status=record.status.value)
    status = provider.get_init_status(vm, command_id)
    if status.state == "in_progress":
        raise InitInProgress(
            f"start action {command_id} on {vm.vm_id} is still running", command_id=command_id
        )
    if status.state == "failed":
        raise InitFailed(
            describe_init_failure(status).replace("install script", "start action", 1),
            command_id=command_id,
        )
    return PowerStepResult(lab_id=lab_id, status=record.status.value, command_id=command_id)


def mark_stopped(
    lab_id: str, repository: LabRepository, publisher: LifecyclePublisher
) -> PowerStepResult:
    record = repository.transition(lab_id, LabStatus.STOPPED, note="stopped")
    published = publisher.publish(record)
    return PowerStepResult(lab_id=lab_id, status=record.status.value, event_published=published)


def mark_started(
    lab_id: str, repository: LabRepository, publisher: LifecyclePublisher
) -> PowerStepResult:
    record = repository.require(lab_id)
    if record.status == LabStatus.READY:
        # A retried Mark Started: the event went out with the first attempt.
        return PowerStepResult(lab_id=lab_id, status=record.status.value)
    restarted = _operation_status(record) == LabStatus.RESTARTING
    record = repository.transition(
        lab_id, LabStatus.READY, note="restarted" if restarted else "started"
    )
    published = publisher.publish(
        record, detail_type=RESTARTED_DETAIL_TYPE if restarted else STARTED_DETAIL_TYPE
    )
    return PowerStepResult(
        lab_id=lab_id,
        status=record.status.value,
        endpoint=record.endpoint,
        event_published=published,
    )


def _operation_status(record: LabRecord) -> LabStatus | None:
    """The power operation's status the lab last entered (STARTING or RESTARTING)."""
    for change in reversed(record.status_history):
        if change.status in (LabStatus.STARTING, LabStatus.RESTARTING):
            return change.status
    return None


def mark_failed(
    lab_id: str,
    repository: LabRepository,
    publisher: LifecyclePublisher,
    *,
    failed_step: str,
    error: dict[str, Any] | None,
) -> PowerStepResult:
    """FAILED with "<step> failed: <error>: <message>"; the VM is kept. A destroy that
    overtook the operation wins: its status stays."""
    cause = failure_cause(failed_step, error)
    try:
        record = repository.transition(
            lab_id, LabStatus.FAILED, note=cause[:200], failed_step=failed_step, cause=cause
        )
    except IllegalTransitionError as exc:
        if exc.current not in {s.value for s in DESTROY_STATES}:
            raise
        return PowerStepResult(lab_id=lab_id, status=exc.current, cause=cause[:FAIL_CAUSE_LIMIT])
    published = publisher.publish(record)
    return PowerStepResult(
        lab_id=lab_id,
        status=record.status.value,
        event_published=published,
        cause=cause[:FAIL_CAUSE_LIMIT],
    )
