"""PowerLab for a lab of several VMs: each power step acts on every VM of the lab.

:mod:`ads.power_steps` hands a cluster lab's steps to these. Stop VM stops every VM and
waits until all are stopped; Start VM starts every VM and refreshes each entry (a local
VM may get new ports); Restart VM reboots every VM once per execution and Wait Until
Restarted waits for every agent to have started since; Start Lab delivers the cluster
facts again (addresses or ports may have changed) and then runs the ``start`` action of
every VM in bootstrap order, a wave's VMs once the wave before them ended. Check Health
is :func:`ads.steps.health_check`, which asks every VM of a cluster. Like every step, each
is safe to run twice and never waits: "not yet" is a named exception naming the VMs.
"""

from __future__ import annotations

import time
from typing import Any

from ads.cluster_steps import hosting, require_cluster, vm_info
from ads.failure_causes import describe_init_failure
from ads.health_probe import agent_uptime, probe_health
from ads.lab.cluster import cluster_facts, entry_vm, vm_plan
from ads.lab_record import LabRecord
from ads.observability import logger
from ads.providers.base import (
    ComputeProvider,
    InitFailed,
    InitInProgress,
    VmInfo,
    VmNotReady,
    VmNotRunning,
    VmState,
)
from ads.records import LabRepository

# vm_details keys of the lab kept between retries (as ads.power_steps keeps its own).
REBOOTS = "power_reboots"
STARTS = "power_starts"


def _vms(record: LabRecord) -> list[tuple[str, VmInfo]]:
    """Every VM of the lab, in bootstrap order."""
    return [(vm.name, vm_info(record, vm.name)) for vm in require_cluster(record).vms]


def _summary(states: dict[str, VmState]) -> str:
    return ", ".join(f"{name} ({state.state})" for name, state in states.items())


def stop_all(record: LabRecord, provider: ComputeProvider) -> str:
    """Stop every VM (again on every retry: stopping is idempotent) until all are stopped."""
    states = {name: provider.stop_vm(vm.vm_id) for name, vm in _vms(record)}
    broken = {
        n: s
        for n, s in states.items()
        if s.state not in ("running", "stopping", "pending", "stopped")
    }
    if broken:
        raise VmNotRunning(f"VMs of lab {record.lab_id} cannot be stopped: {_summary(broken)}")
    going = {n: s for n, s in states.items() if s.state != "stopped"}
    if going:
        raise VmNotReady(f"VMs of lab {record.lab_id} not stopped yet: {_summary(going)}")
    return "stopped"


def _check_running(record: LabRecord, states: dict[str, VmState]) -> None:
    broken = {
        n: s
        for n, s in states.items()
        if s.state not in ("pending", "stopping", "stopped", "running")
    }
    if broken:
        raise VmNotRunning(f"VMs of lab {record.lab_id} cannot be started: {_summary(broken)}")
    waiting = {n: s for n, s in states.items() if s.state != "running" or s.ssm_online is False}
    if waiting:
        raise VmNotReady(f"VMs of lab {record.lab_id} not running yet: {_summary(waiting)}")


def _refreshed(provider: ComputeProvider, vm: VmInfo, state: VmState) -> VmInfo:
    """Where ``vm`` answers now: a start may change its address or its agent port."""
    current = getattr(provider, "vm_info", None)
    fresh = current(vm.vm_id) if callable(current) else None
    if fresh is not None:
        vm = vm.model_copy(
            update={"agent_port": fresh.agent_port, "details": {**vm.details, **fresh.details}}
        )
    return vm.model_copy(update={"private_ip": state.private_ip or vm.private_ip})


def _store(
    repository: LabRepository,
    record: LabRecord,
    provider: ComputeProvider,
    vms: dict[str, tuple[VmInfo, VmState]],
) -> str | None:
    """Store each VM's fresh address, ports and endpoint; the lab's own fields follow the
    entry VM. Answers the entry VM's endpoint."""
    changes: dict[str, dict[str, Any]] = {}
    for name, (vm, state) in vms.items():
        fresh = _refreshed(provider, vm, state)
        fields: dict[str, Any] = {
            "private_ip": fresh.private_ip,
            "agent_port": fresh.agent_port,
            "endpoint": provider.health_url(fresh).removesuffix("/health"),
            "vm_details": fresh.details,
        }
        if fresh.details.get("app_url"):
            fields["app_url"] = fresh.details["app_url"]
        changes[name] = fields
    repository.vm_entries.update_vms(record.lab_id, changes)
    entry = changes.get(entry_vm(require_cluster(record)))
    if entry is None:
        return None
    lab_fields = {k: v for k, v in entry.items() if k != "vm_details"}
    lab_fields["vm_details"] = {**record.vm_details, **entry["vm_details"]}
    repository.transition(record.lab_id, record.status, **lab_fields)
    return str(entry["endpoint"])


def start_all(
    repository: LabRepository, record: LabRecord, provider: ComputeProvider
) -> str | None:
    """Start every VM until all run, then store where each answers now."""
    vms = _vms(record)
    states = {name: provider.start_vm(vm.vm_id) for name, vm in vms}
    _check_running(record, states)
    endpoint = _store(repository, record, provider, {n: (vm, states[n]) for n, vm in vms})
    logger.info("cluster vms started", vms=len(vms), endpoint=endpoint)
    return endpoint


def restart_all(
    repository: LabRepository,
    record: LabRecord,
    provider: ComputeProvider,
    execution_id: str | None,
) -> str:
    """Reboot every VM once per execution (a retried step reboots none twice)."""
    asked = record.vm_details.get(REBOOTS) or {}
    if not execution_id or asked.get("execution_id") != execution_id:
        asked = {"execution_id": execution_id or "", "at": time.time(), "vms": []}
    rebooted = list(asked.get("vms") or [])
    for name, vm in _vms(record):
        if name not in rebooted:
            provider.restart_vm(vm.vm_id)
            rebooted.append(name)
            # Kept after each reboot: a step that dies midway reboots only the rest.
            asked = {**asked, "vms": rebooted}
            repository.transition(
                record.lab_id, record.status, vm_details={**record.vm_details, REBOOTS: asked}
            )
    return "rebooting"


def wait_all_restarted(
    repository: LabRepository, record: LabRecord, provider: ComputeProvider, timeout_s: float
) -> str | None:
    """Until every VM runs and its agent started after its reboot was asked."""
    vms = _vms(record)
    states = {name: provider.describe_vm(vm.vm_id) for name, vm in vms}
    _check_running(record, states)
    since = time.time() - float((record.vm_details.get(REBOOTS) or {}).get("at") or 0)
    waiting: list[str] = []
    for name, vm in vms:
        url = provider.health_url(_refreshed(provider, vm, states[name]))
        code, body = probe_health(url, timeout_s)
        uptime = agent_uptime(body) if code is not None else None
        if uptime is None or uptime >= since:
            waiting.append(f"{name} (agent up {uptime} s)")
    if waiting:
        raise VmNotReady(
            f"VMs of lab {record.lab_id} not restarted yet, the reboot was asked "
            f"{since:.0f} s ago: {', '.join(waiting)}"
        )
    return _store(repository, record, provider, {n: (vm, states[n]) for n, vm in vms})


def start_all_labs(
    repository: LabRepository,
    record: LabRecord,
    provider: ComputeProvider,
    execution_id: str | None,
) -> list[str]:
    """Deliver the facts again, then each VM's ``start`` action wave by wave (each sent
    once per execution). Answers the command ids once every action ended well."""
    cluster = require_cluster(record)
    progress = record.vm_details.get(STARTS) or {}
    if not execution_id or progress.get("execution_id") != execution_id:
        progress = {"execution_id": execution_id or "", "facts": None, "commands": {}}

    def keep(**changes: Any) -> None:
        progress.update(changes)
        repository.transition(
            record.lab_id, record.status, vm_details={**record.vm_details, STARTS: progress}
        )

    vms = dict(_vms(record))
    if progress.get("facts") != "shared":
        _share_facts(record, provider, list(vms.values()), progress, keep)
    commands: dict[str, str] = dict(progress.get("commands") or {})
    for wave in cluster.waves:
        unsent = [name for name in wave if name not in commands]
        for name in unsent:
            sent = provider.start_lab(record.lab_id, vms[name], vm_plan(record.plan, name))  # type: ignore[attr-defined]
            commands[name] = sent or ""
        if unsent:
            # Stored before they are followed, so a retried step follows these commands.
            keep(commands=commands)
        _follow_wave(record, provider, vms, wave, commands)
    return [command for command in commands.values() if command]


def _share_facts(
    record: LabRecord,
    provider: ComputeProvider,
    vms: list[VmInfo],
    progress: dict[str, Any],
    keep: Any,
) -> None:
    hooks = hosting(provider)
    command_id = progress.get("facts")
    if not command_id:
        facts = cluster_facts(record.lab_id, require_cluster(record), record.vms)
        command_id = hooks.share_cluster_facts(record.lab_id, vms, facts)
        if command_id is None:  # written before the call answered (local)
            keep(facts="shared")
            return
        keep(facts=command_id)
    status = hooks.cluster_facts_status(vms, str(command_id))
    if status.state == "in_progress":
        raise InitInProgress(f"the cluster facts command {command_id} is still running")
    if status.state == "failed":
        raise InitFailed("delivering the cluster facts failed: " + describe_init_failure(status))
    keep(facts="shared")


def _follow_wave(
    record: LabRecord,
    provider: ComputeProvider,
    vms: dict[str, VmInfo],
    wave: list[str],
    commands: dict[str, str],
) -> None:
    running: list[str] = []
    for name in wave:
        command_id = commands.get(name)
        if not command_id:
            continue
        status = provider.get_init_status(vms[name], command_id)
        if status.state == "in_progress":
            running.append(f"{name} ({command_id})")
        elif status.state == "failed":
            cause = describe_init_failure(status).replace("install script", "start action", 1)
            raise InitFailed(f"VM {name}: {cause}", command_id=command_id, vm_name=name)
    if running:
        raise InitInProgress(
            f"start actions of lab {record.lab_id} still running: {', '.join(running)}"
        )
