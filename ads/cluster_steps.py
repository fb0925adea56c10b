"""The deploy steps of a lab of several VMs (a cluster), one VM at a time.

DeployLab's cluster path runs these from its Map states, each invocation naming its VM
(``vm_name``): Create VM and Wait Until Running for every VM (the lab PROVISIONING), Share
Cluster Facts once, then per bootstrap wave Initialise VM and Check VM Health for each of
the wave's VMs (the lab INITIALIZING, each VM's entry HEALTHY in turn); Check Health of
the whole lab is :func:`ads.steps.health_check`, which also asks every other VM
(:func:`check_other_vms`). Await Init per VM is :mod:`ads.init_wait`; Destroy VM of every
VM :mod:`ads.cluster_teardown`.

A step writes its own VM's entry (``vms.<name>``, :mod:`ads.cluster_records`) and never
the others'. The lab's top-level VM fields (``vm_id``, ``private_ip``, ``endpoint``...)
mirror the entry VM (:func:`ads.lab.cluster.entry_vm`) once it runs, so actions, logs,
connect and the health watch work on it as on a single VM. Like :mod:`ads.steps`, each
step is safe to run twice and never waits: "not yet" is a named exception the state
machine retries, and every message names the VM.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from ads.boot_wait import WaitRunningOutput
from ads.cluster_model import VmStatus
from ads.cluster_records import ClusterVmNotFound, VmEntryDestroyed
from ads.failure_causes import describe_init_failure
from ads.health_probe import probe_health
from ads.lab.cluster import ClusterPlan, cluster_facts, cluster_of, entry_vm, vm_plan
from ads.lab_metrics import LabMetric
from ads.lab_record import LabRecord, LabStatus, iso, utc_now
from ads.observability import count, logger
from ads.providers.access import access_hooks
from ads.providers.base import (
    ClusterHooks,
    ClusterInit,
    ComputeProvider,
    HealthCheckFailed,
    HealthCheckPending,
    InitFailed,
    InitInProgress,
    InitRequest,
    LabBeingDestroyed,
    VmCreateFailed,
    VmInfo,
    VmNotReady,
    VmNotRunning,
    cluster_hooks,
)
from ads.providers.consistency import launch_attempt_details
from ads.record_projection import STEP_READ
from ads.records import LabRepository
from ads.step_records import advance, deploying, move
from ads.step_results import CreateVmResult, HealthCheckResult, ShareFactsResult
from ads.step_waits import check_deadline, deadline_for
from ads.steps import running_vm

__all__ = [
    "check_other_vms",
    "check_vm_health",
    "cluster_init_request",
    "create_vm",
    "hosting",
    "require_cluster",
    "share_cluster_facts",
    "vm_entry",
    "vm_info",
    "wait_running",
]

BOOT_STEP = "Wait Until Running"


# -- reading a VM of the record ----------------------------------------------------------


def require_cluster(record: LabRecord) -> ClusterPlan:
    cluster = cluster_of(record.plan)
    if cluster is None:
        raise ClusterVmNotFound(
            f"lab {record.lab_id} is a single-VM lab: its plan has no cluster",
            lab_id=record.lab_id,
        )
    return cluster


def hosting(provider: ComputeProvider) -> ClusterHooks:
    """The provider's cluster hooks (the facts, the shared network)."""
    hooks = cluster_hooks(provider)
    if hooks is None:
        raise VmCreateFailed(
            f"provider: found {provider.name}, which cannot host a lab of several VMs; "
            "allowed: a provider with cluster hooks (ec2, local)"
        )
    return hooks


def vm_entry(record: LabRecord, vm_name: str) -> dict[str, Any]:
    entry = record.vms.get(vm_name)
    if entry is None:
        raise ClusterVmNotFound(
            f"lab {record.lab_id} has no VM named {vm_name}; its VMs: "
            f"{', '.join(record.vms) or 'none'}",
            lab_id=record.lab_id,
            vm_name=vm_name,
        )
    return entry


def vm_info(record: LabRecord, vm_name: str) -> VmInfo:
    """The VM of entry ``vm_name``, as the provider knows it (once Create VM ran)."""
    entry = vm_entry(record, vm_name)
    if not entry.get("vm_id") or entry.get("agent_port") is None:
        raise VmNotRunning(
            f"VM {vm_name} of lab {record.lab_id} has no VM recorded "
            f"(vm_id={entry.get('vm_id')!r}); Create VM ({vm_name}) must run first",
            lab_id=record.lab_id,
            vm_name=vm_name,
        )
    return VmInfo(
        vm_id=str(entry["vm_id"]),
        provider=str(entry.get("provider") or ""),
        private_ip=entry.get("private_ip"),
        agent_port=int(entry["agent_port"]),
        details=dict(entry.get("vm_details") or {}),
    )


def cluster_init_request(
    record: LabRecord, vm_name: str, vm: VmInfo, provider: ComputeProvider
) -> InitRequest:
    """What the install script of VM ``vm_name`` needs: its role's plan, and who it is in
    the cluster (ADS_VM_NAME, ADS_VM_ROLE, ADS_CLUSTER_FACTS on every step)."""
    source = record.source or {}
    entry = vm_entry(record, vm_name)
    return InitRequest(
        plan=vm_plan(record.plan, vm_name),
        source_git=source.get("git"),
        source_ref=source.get("ref"),
        source_archive=source.get("s3") or source.get("archive"),
        requester_uid=record.requester_uid,
        cluster=ClusterInit(
            vm_name=vm_name,
            role=str(entry.get("role") or ""),
            facts_path=hosting(provider).facts_path(vm),
        ),
    )


# -- Create VM, Wait Until Running -----------------------------------------------------


def create_vm(
    lab_id: str, vm_name: str, repository: LabRepository, provider: ComputeProvider
) -> CreateVmResult:
    record = deploying(repository, lab_id)
    cluster = require_cluster(record)
    entry = vm_entry(record, vm_name)
    move(repository, lab_id, LabStatus.PROVISIONING, "creating the VMs")
    if record.status == LabStatus.REQUESTED and vm_name == cluster.vms[0].name:
        # Counted once per lab: by the first VM's first attempt.
        count(LabMetric.LABS_REQUESTED)
    fields: dict[str, Any] = {"status": VmStatus.CREATING.value, "provider": provider.name}
    attempt = {} if entry.get("vm_id") else launch_attempt_details(provider)
    if attempt:
        # Kept before the launch, as for a single VM: Destroy VM then knows EC2 may not
        # list the instance by its tags yet.
        fields["vm_details"] = attempt
    entries = repository.vm_entries
    entries.update_vm(lab_id, vm_name, **fields)
    try:
        vm = provider.create_vm(lab_id, vm_plan(record.plan, vm_name), vm_name=vm_name)
    except VmCreateFailed as exc:
        if attempt:
            entries.update_vm(lab_id, vm_name, vm_details={})
        raise VmCreateFailed(f"VM {vm_name}: {exc.message}", **exc.details) from exc
    try:
        # With its status, so the write is refused once Destroy VM marked the entry
        # DESTROYED (a create that ended after the Map had failed).
        entries.update_vm(
            lab_id,
            vm_name,
            status=VmStatus.CREATING.value,
            vm_id=vm.vm_id,
            provider=vm.provider,
            agent_port=vm.agent_port,
            vm_details=vm.details,
        )
    except VmEntryDestroyed as exc:
        provider.destroy_vm(lab_id, vm.vm_id, vm_name=vm_name)
        raise LabBeingDestroyed(
            f"lab {lab_id}: VM {vm_name} was destroyed while {vm.vm_id} was being created; "
            f"{vm.vm_id} is destroyed too",
            lab_id=lab_id,
        ) from exc
    logger.info("cluster vm created", vm_name=vm_name, vm_id=vm.vm_id, provider=vm.provider)
    return CreateVmResult(vm_id=vm.vm_id, provider=vm.provider, agent_port=vm.agent_port)


def wait_running(
    lab_id: str,
    vm_name: str,
    repository: LabRepository,
    provider: ComputeProvider,
    *,
    launch_grace_s: float,
    boot_deadline_s: int,
    init_poll_s: int,
    clock: Callable[[], float] = time.time,
) -> WaitRunningOutput:
    """Until VM ``vm_name`` runs (and, on EC2, its SSM agent is online), within the lab's
    boot deadline (counted from the lab's entry into PROVISIONING, as for a single VM)."""
    try:
        return _wait_running(lab_id, vm_name, repository, provider, launch_grace_s, init_poll_s)
    except VmNotReady as exc:
        record = repository.require(lab_id)
        deadline_s = deadline_for(record, "boot", boot_deadline_s)
        check_deadline(record, LabStatus.PROVISIONING, deadline_s, BOOT_STEP, clock(), str(exc))
        raise


def _wait_running(
    lab_id: str,
    vm_name: str,
    repository: LabRepository,
    provider: ComputeProvider,
    launch_grace_s: float,
    init_poll_s: int,
) -> WaitRunningOutput:
    record = deploying(repository, lab_id, STEP_READ)
    vm = vm_info(record, vm_name)
    vm, fields = running_vm(
        provider, vm, launch_grace_s=launch_grace_s, named=f"VM {vm_name} ({vm.vm_id})"
    )
    repository.vm_entries.update_vm(lab_id, vm_name, status=VmStatus.RUNNING.value, **fields)
    if vm_name == entry_vm(require_cluster(record)):
        # The lab's own VM fields are the entry VM's: what actions, logs, connect and the
        # health watch use, and where the lab's endpoint and app answer.
        hooks = access_hooks(provider)
        access = hooks.access_details(lab_id, vm, record.plan) if hooks else {}
        move(
            repository,
            lab_id,
            LabStatus.PROVISIONING,
            vm_id=vm.vm_id,
            provider=vm.provider,
            agent_port=vm.agent_port,
            vm_details={**vm.details, **access},
            **fields,
        )
    return WaitRunningOutput(
        state="running",
        private_ip=vm.private_ip,
        endpoint=str(fields["endpoint"]),
        init_poll_s=init_poll_s,
    )


# -- Share Cluster Facts ---------------------------------------------------------------


def share_cluster_facts(
    lab_id: str, repository: LabRepository, provider: ComputeProvider
) -> ShareFactsResult:
    """Deliver the cluster facts to every VM before any lab step runs (INITIALIZING).
    Sent once (a retry follows the command it recorded); InitInProgress until delivered."""
    record = deploying(repository, lab_id)
    cluster = require_cluster(record)
    vms = [vm_info(record, vm.name) for vm in cluster.vms]
    if record.status != LabStatus.INITIALIZING:
        advance(repository, lab_id, LabStatus.INITIALIZING, "sharing the cluster facts")
    sent = [e.get("facts_command_id") for e in record.vms.values() if e.get("facts_command_id")]
    command_id = str(sent[0]) if sent else None
    if command_id is None:
        facts = cluster_facts(lab_id, cluster, record.vms)
        command_id = hosting(provider).share_cluster_facts(lab_id, vms, facts)
        if command_id is None:
            # Written before the call answered (the local provider): nothing to follow.
            logger.info("cluster facts written", vms=len(vms))
            return ShareFactsResult(command_id=None, vms=len(vms))
        repository.vm_entries.update_vms(
            lab_id, {vm.name: {"facts_command_id": command_id} for vm in cluster.vms}
        )
        logger.info("cluster facts command sent", command_id=command_id, vms=len(vms))
    status = hosting(provider).cluster_facts_status(vms, command_id)
    if status.state == "in_progress":
        raise InitInProgress(
            f"the cluster facts command {command_id} is still running "
            f"({status.detail or 'no detail'})",
            command_id=command_id,
        )
    if status.state == "failed":
        raise InitFailed(
            "delivering the cluster facts failed: " + describe_init_failure(status),
            command_id=command_id,
        )
    return ShareFactsResult(command_id=command_id, vms=len(vms))


# -- Initialise VM (the send; Await Init is ads.init_wait) -------------------------------


def send_init(
    lab_id: str, vm_name: str, repository: LabRepository, provider: ComputeProvider
) -> str:
    """Send VM ``vm_name``'s install command once and record its id; its command id."""
    record = deploying(repository, lab_id)
    vm = vm_info(record, vm_name)
    entry = vm_entry(record, vm_name)
    if record.status != LabStatus.INITIALIZING:
        advance(repository, lab_id, LabStatus.INITIALIZING, "running the install scripts")
    if entry.get("init_command_id"):
        return str(entry["init_command_id"])
    command_id = provider.start_init(
        lab_id, vm, cluster_init_request(record, vm_name, vm, provider)
    )
    # Stored before anything else can fail: a retried step follows this command.
    repository.vm_entries.update_vm(
        lab_id,
        vm_name,
        status=VmStatus.INITIALIZING.value,
        init_command_id=command_id,
        init_started_at=iso(utc_now()),
    )
    logger.info("init command sent", vm_name=vm_name, command_id=command_id)
    return command_id


# -- Check VM Health, and the whole lab's ---------------------------------------------


def _probe(
    record: LabRecord, vm_name: str, provider: ComputeProvider, timeout_s: float
) -> tuple[str, int, str]:
    try:
        vm = vm_info(record, vm_name)
    except VmNotRunning as exc:
        raise HealthCheckFailed(str(exc), lab_id=record.lab_id, vm_name=vm_name) from exc
    if not vm.private_ip:
        raise HealthCheckFailed(
            f"VM {vm_name} of lab {record.lab_id} has no private ip recorded; "
            f"Wait Until Running ({vm_name}) must run first",
            lab_id=record.lab_id,
            vm_name=vm_name,
        )
    url = provider.health_url(vm)
    code, body = probe_health(url, timeout_s)
    if code != 200:
        reason = f"answered {code}" if code is not None else "did not answer"
        raise HealthCheckPending(
            f"VM {vm_name}: GET {url} {reason}: {body[:500]}", url=url, status_code=code
        )
    return url, code, body


def check_vm_health(
    lab_id: str,
    vm_name: str,
    repository: LabRepository,
    provider: ComputeProvider,
    *,
    timeout_s: float,
) -> HealthCheckResult:
    """Check VM Health: the VM's agent answers healthy; its entry becomes HEALTHY (the
    roles that wait for its role may start)."""
    record = deploying(repository, lab_id, STEP_READ)
    url, code, body = _probe(record, vm_name, provider, timeout_s)
    repository.vm_entries.update_vm(lab_id, vm_name, status=VmStatus.HEALTHY.value)
    try:
        document = json.loads(body)
    except json.JSONDecodeError:
        document = {}
    version = document.get("agent_version") if isinstance(document, dict) else None
    return HealthCheckResult(
        healthy=True, url=url, status_code=code, agent_version=str(version) if version else None
    )


def check_other_vms(record: LabRecord, provider: ComputeProvider, *, timeout_s: float) -> None:
    """Check Health of a cluster lab: every VM but the entry VM (whose agent the lab's
    own check then asks) answers healthy, or HealthCheckPending names the first that does not."""
    cluster = require_cluster(record)
    entry = entry_vm(cluster)
    for vm in cluster.vms:
        if vm.name != entry:
            _probe(record, vm.name, provider, timeout_s)
