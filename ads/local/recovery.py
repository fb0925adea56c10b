"""Making the records and the machine agree again when the local control plane starts or stops.

After a crash (``kill -9``, power loss) the restored records (see
:mod:`ads.local.record_store`) may describe work that no longer runs: moto's executions
died with the old process, while the labs' processes may still run. :func:`reconcile`
runs once the plane has started, before its API answers:

* a deployment that was in flight is compensated: its VM is destroyed and the record
  FAILED with "control plane restarted during <step>", through the same Mark Failed
  bookkeeping (cause, lifecycle event, metrics) the workflow uses;
* a READY lab whose agent still answers (with its own lab id) stays READY; one whose
  agent is gone is destroyed by a new DestroyLab execution, as is a lab whose destroy
  was in flight;
* a lab caught ACTING is returned to READY, the interrupted run recorded with the cause
  "control plane restarted during the action <name>" (its ActionLab execution died with
  the old process), and is then kept or destroyed as a READY lab is;
* a lab caught UPDATING is returned to READY the same way, the interrupted update in its
  revision history (outcome ``interrupted``, cause "control plane restarted during the
  update to <ref>"): the agent's update on the VM ends on the new revision or the
  previous one by itself; the lab is then kept or destroyed as a READY lab is;
* a DEGRADED lab keeps its sandbox and stays DEGRADED for the health watch to settle
  (READY when it answers, FAILED past the deadline); one whose agent no longer answers
  has its recovery asked again (a restart: whatever the old process started died with
  it);
* a STOPPED lab keeps its sandbox (nothing of it runs); a lab caught in STOPPING,
  STARTING or RESTARTING has its power operation asked again (a new PowerLab
  execution: the power steps are idempotent), and keeps its sandbox meanwhile;
* a sandbox or a lab process that no kept record owns is destroyed;
* an idempotency key whose lab was never written (the crash came between the two
  writes) is released, so a retry of that request makes the lab instead of answering
  "still in progress" until the key expires.

No record is deleted, so every lab id answered before still answers.

:func:`settle_stopped` is the same bookkeeping for a clean stop (``ads local down``),
which destroys every local VM: the records then say so (an ACTING or UPDATING lab is settled as
a READY one).
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ads.lab_record import IN_PROGRESS, POWER_IN_PROGRESS, LabRecord, LabStatus

if TYPE_CHECKING:
    from ads.local.runtime import LocalControlPlane

RESTARTED_ERROR = "ads.ControlPlaneRestarted"
# The labs whose VM a clean stop destroys with the others (a stopped one's sandbox too).
_SETTLED_AS_DESTROYED = (
    LabStatus.READY,
    LabStatus.DESTROYING,
    LabStatus.STOPPED,
    LabStatus.ACTING,
    LabStatus.DEGRADED,
    LabStatus.UPDATING,
    *POWER_IN_PROGRESS,
)
STOPPED_ERROR = "ads.ControlPlaneStopped"
HEALTH_TIMEOUT_S = 2.0
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass
class RecoveryReport:
    """What :func:`reconcile` found and did, by lab id (and pid for stray processes)."""

    restored_records: int = 0
    kept_ready: list[str] = field(default_factory=list)
    actions_interrupted: list[str] = field(default_factory=list)
    updates_interrupted: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    destroying: list[str] = field(default_factory=list)
    kept_stopped: list[str] = field(default_factory=list)
    kept_degraded: list[str] = field(default_factory=list)
    recovery_resumed: list[str] = field(default_factory=list)
    power_resumed: list[str] = field(default_factory=list)
    orphan_sandboxes: list[str] = field(default_factory=list)
    orphan_processes: list[int] = field(default_factory=list)
    released_keys: int = 0
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def step_in_flight(record: LabRecord) -> str:
    """The DeployLab state a lab with this status was in (the ASL's state names)."""
    if record.status == LabStatus.PROVISIONING and record.vm_id:
        return "Wait Until Running"
    return {
        LabStatus.INITIALIZING: "Initialise VM",
        LabStatus.HEALTH_CHECKING: "Check Health",
    }.get(record.status, "Create VM")


def agent_answers(record: LabRecord, timeout_s: float = HEALTH_TIMEOUT_S) -> bool:
    """True when the lab's agent answers /health on loopback and names this very lab.

    The lab id check matters: after a crash the port may belong to another process.
    """
    from ads.health_probe import probe_health

    if not record.endpoint:
        return False
    if urllib.parse.urlsplit(record.endpoint).hostname not in _LOOPBACK:
        return False
    status, body = probe_health(record.endpoint.rstrip("/") + "/health", timeout_s)
    if status != 200:
        return False
    try:
        return json.loads(body).get("lab_id") == record.lab_id
    except (ValueError, AttributeError):
        return False


def all_records(plane: LocalControlPlane) -> Iterator[LabRecord]:
    repository = plane.repository()
    token: str | None = None
    while True:
        page, token = repository.list_all(limit=100, next_token=token)
        yield from page
        if not token:
            return


def _fail_deployment(plane: LocalControlPlane, record: LabRecord, error: str, why: str) -> None:
    from ads.steps import dependencies_for
    from ads.teardown_steps import record_status

    step = step_in_flight(record)
    destroy_error: dict[str, Any] | None = None
    provider = plane.local_provider()
    if provider is not None:
        try:
            provider.destroy_vm(record.lab_id, record.vm_id)
        except Exception as exc:  # the cause says so, and the sweep tries again
            destroy_error = {"Error": type(exc).__name__, "Cause": str(exc)}
    deps = dependencies_for(plane.config)
    record_status(
        record.lab_id,
        LabStatus.FAILED,
        deps.repository,
        deps.publisher,
        failed_step=step,
        error={"Error": error, "Cause": f"{why} during {step}"},
        destroy_error=destroy_error,
    )


def _restart_destroy(plane: LocalControlPlane, record: LabRecord, note: str) -> None:
    from ads.deployments import request_destroy

    context = plane.deployment_context()
    if record.status != LabStatus.DESTROYING:
        context.repository.transition(record.lab_id, LabStatus.DESTROYING, note=note)
    request_destroy(context, record.lab_id, caller=record.owner)


def _resume_power(plane: LocalControlPlane, record: LabRecord) -> None:
    from ads.power import request_power
    from ads.power_steps import OPERATION_STATUS

    operation = next(op for op, status in OPERATION_STATUS.items() if status == record.status)
    # The lab is already in the operation's status: this asks it again (a new execution).
    request_power(plane.deployment_context(), record.lab_id, operation, caller=record.owner)


def _interrupt_action(plane: LocalControlPlane, record: LabRecord) -> LabRecord:
    """ACTING -> READY with the run that died with the old process in the history."""
    import time

    from ads.action_runs import ActionRun, RunningAction, with_run

    repository = plane.repository()
    if not record.action_in_progress:
        return repository.transition(
            record.lab_id, LabStatus.READY, note="control plane restarted during an action"
        )
    current = RunningAction.model_validate(record.action_in_progress)
    cause = f"control plane restarted during the action {current.name}"
    run = ActionRun(
        name=current.name,
        requester=current.requester,
        started_at=current.started_at,
        duration_s=round(max(0.0, time.time() - current.started_epoch), 3),
        succeeded=False,
        cause=cause,
        execution_id=current.execution_id,
        command_id=current.command_id,
    )
    return repository.transition(
        record.lab_id,
        LabStatus.READY,
        note=cause[:200],
        action_in_progress=None,
        action_runs=with_run(record.action_runs, run),
    )


def _interrupt_update(plane: LocalControlPlane, record: LabRecord) -> LabRecord:
    """UPDATING -> READY with the update that lost its RedeployLab execution recorded."""
    from ads.revisions import RevisionEntry, RunningUpdate, with_revision

    current = RunningUpdate.model_validate(
        record.update_in_progress or {"requested_by": record.owner, "started_at": ""}
    )
    cause = f"control plane restarted during the update to {current.ref or 'HEAD'}"
    entry = RevisionEntry(
        ref=current.ref,
        requested_by=current.requested_by,
        at=current.started_at or record.updated_at,
        outcome="interrupted",
        cause=cause,
        execution_id=current.execution_id,
    )
    return plane.repository().transition(
        record.lab_id,
        LabStatus.READY,
        note=cause[:200],
        update_in_progress=None,
        revisions=with_revision(record.revisions, entry),
    )


def _keep_degraded(
    plane: LocalControlPlane, record: LabRecord, answers: bool, report: RecoveryReport
) -> None:
    """A DEGRADED lab stays so for the watch; a silent one has a restart asked again."""
    from ads.health_watch import Probe, WatchPolicy
    from ads.watch_recovery import start_recovery

    report.kept_degraded.append(record.lab_id)
    policy = WatchPolicy.from_config(plane.config)
    if answers or policy.recovery == "none":
        return
    context = plane.deployment_context()
    silent = Probe(healthy=False, answered=False, reason="control plane restarted")
    health = start_recovery(context, record, silent, policy)
    context.repository.store_fields(record.lab_id, health=health.model_dump(mode="json"))
    if health.recovery_execution_arn:
        report.recovery_resumed.append(record.lab_id)


def _sandboxes_of(record: LabRecord) -> list[Path]:
    """The lab's sandbox, and each of its VMs' in a lab of several VMs."""
    details = [record.vm_details or {}]
    details += [
        (vm or {}).get("vm_details") or {} for vm in (getattr(record, "vms", None) or {}).values()
    ]
    values = {str(d["sandbox"]) for d in details if isinstance(d, dict) and d.get("sandbox")}
    return [Path(value) for value in sorted(values)]


def _keep(record: LabRecord, owned: set[str], kept: list[Path]) -> None:
    """The sweep leaves this lab's sandboxes and their processes alone."""
    owned.add(record.lab_id)
    kept.extend(_sandboxes_of(record))


def _sweep(
    plane: LocalControlPlane, owned: set[str], kept: list[Path], report: RecoveryReport
) -> None:
    from ads import processes
    from ads.providers.local_sweep import destroy_sandboxes, stray_processes
    from ads.providers.local_vm_book import VmBook, owner_of

    # The same two functions the sweep's local inventory (ads.providers.local_sweep) uses.
    root = plane.labs_root
    provider = plane.local_provider()
    if provider is None or not root.is_dir():
        return
    # A VM of a lab of several VMs is booked as <lab_id>.<vm_name>: its lab decides, and
    # a lab kept running keeps every VM's processes (the record may name only one VM).
    book = VmBook(root)
    sandboxes = {key: book.sandbox_of(key) for key in book.lab_ids()}
    running = {owner_of(key) for key, sandbox in sandboxes.items() if sandbox in kept}
    kept = kept + [s for k, s in sandboxes.items() if s is not None and owner_of(k) in running]
    unowned = sorted(key for key in sandboxes if owner_of(key) not in owned)
    for lab_id, error in destroy_sandboxes(provider, unowned).items():
        if error is None:
            report.orphan_sandboxes.append(lab_id)
        else:
            report.errors.append(f"orphan sandbox {lab_id}: {error}")
    orphans = stray_processes(root, kept)
    if orphans:
        report.orphan_processes.extend(processes.stop(orphans, grace_s=0).signalled)


def _release_dangling_keys(plane: LocalControlPlane, report: RecoveryReport) -> None:
    from ads.labs_table import IDEMPOTENCY_PREFIX
    from ads.local.runtime import TABLE_NAME

    dynamodb = plane.client("dynamodb")
    repository = plane.repository()
    pages = dynamodb.get_paginator("scan").paginate(
        TableName=TABLE_NAME,
        FilterExpression="begins_with(lab_id, :prefix)",
        ExpressionAttributeValues={":prefix": {"S": IDEMPOTENCY_PREFIX}},
    )
    for page in pages:
        for item in page.get("Items", []):
            target = item.get("target_lab_id", {}).get("S", "")
            if target and repository.get(target) is None:
                dynamodb.delete_item(TableName=TABLE_NAME, Key={"lab_id": item["lab_id"]})
                report.released_keys += 1


def reconcile(
    plane: LocalControlPlane, *, probe: Callable[[LabRecord], bool] = agent_answers
) -> RecoveryReport:
    """Bring every restored record and every local sandbox into agreement (see module doc)."""
    report = RecoveryReport(restored_records=plane.restored_records)
    owned: set[str] = set()
    kept: list[Path] = []
    for record in list(all_records(plane)):
        try:
            if record.status == LabStatus.ACTING:
                record = _interrupt_action(plane, record)
                report.actions_interrupted.append(record.lab_id)
            if record.status == LabStatus.UPDATING:
                record = _interrupt_update(plane, record)
                report.updates_interrupted.append(record.lab_id)
            if record.status in IN_PROGRESS:
                _fail_deployment(plane, record, RESTARTED_ERROR, "control plane restarted")
                report.failed.append(record.lab_id)
            elif record.status == LabStatus.READY and probe(record):
                _keep(record, owned, kept)
                report.kept_ready.append(record.lab_id)
            elif record.status == LabStatus.DEGRADED:
                _keep(record, owned, kept)
                _keep_degraded(plane, record, probe(record), report)
            elif record.status == LabStatus.STOPPED:
                # Its VM is the sandbox alone; any process under it is a stray.
                owned.add(record.lab_id)
                report.kept_stopped.append(record.lab_id)
            elif record.status in POWER_IN_PROGRESS:
                _keep(record, owned, kept)
                _resume_power(plane, record)
                report.power_resumed.append(record.lab_id)
            elif record.status in (LabStatus.READY, LabStatus.DESTROYING):
                # DestroyLab now owns the VM: the sweep leaves it to the workflow.
                owned.add(record.lab_id)
                _restart_destroy(
                    plane,
                    record,
                    "control plane restarted; the lab's agent no longer answered",
                )
                report.destroying.append(record.lab_id)
        except Exception as exc:
            report.errors.append(f"{record.lab_id}: {type(exc).__name__}: {exc}")
    _sweep(plane, owned, kept, report)
    try:
        _release_dangling_keys(plane, report)
    except Exception as exc:
        report.errors.append(f"idempotency keys: {type(exc).__name__}: {exc}")
    return report


def settle_stopped(plane: LocalControlPlane) -> list[str]:
    """After a clean stop destroyed every VM: record it on every lab that was still alive."""
    from ads.steps import dependencies_for

    settled: list[str] = []
    deps = dependencies_for(plane.config)
    for record in list(all_records(plane)):
        try:
            if record.status in IN_PROGRESS:
                _fail_deployment(plane, record, STOPPED_ERROR, "the local control plane stopped")
            elif record.status in _SETTLED_AS_DESTROYED:
                if record.status != LabStatus.DESTROYING:
                    deps.repository.transition(
                        record.lab_id,
                        LabStatus.DESTROYING,
                        note="the local control plane stopped",
                    )
                done = deps.repository.transition(
                    record.lab_id,
                    LabStatus.DESTROYED,
                    note="destroyed with the local control plane",
                )
                deps.publisher.publish(done)
            else:
                continue
            settled.append(record.lab_id)
        except Exception:  # one damaged record must not keep the others unsettled
            continue
    return settled
