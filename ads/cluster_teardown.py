"""Destroy VM of a lab of several VMs: every VM of the lab goes, then its cluster network.

Each VM is destroyed as a single VM is (:func:`ads.teardown_steps.destroy_vm`): only
"terminated", or "absent" once the launch grace is over, ends it; a VM shutting down, or
not listed yet right after its launch, is destroyed again on the next attempt. A VM
whose entry has no instance recorded is looked up by the lab's and its own tags
(``vm_name``). The entries of the VMs that are gone are marked DESTROYED as they go, so a
retry only asks about the rest; once every VM is gone the provider releases the lab's
cluster network (its security group), and the step succeeds.
"""

from __future__ import annotations

from typing import Any

from ads.cluster_model import VmStatus
from ads.cluster_records import VmEntryChanged
from ads.lab_record import LabRecord
from ads.observability import logger
from ads.providers.access import access_hooks
from ads.providers.base import (
    ComputeProvider,
    DestroyFailed,
    DestroyInProgress,
    ProviderThrottled,
    StepError,
    VmState,
    cluster_hooks,
)
from ads.providers.consistency import within_launch_attempt_grace, within_launch_grace
from ads.records import LabRepository
from ads.step_results import DestroyVmResult


def _still_going(name: str, entry: dict[str, Any], state: VmState, grace_s: float) -> str | None:
    """Why VM ``name`` is not gone yet (destroy it again), or None when it is gone."""
    vm_id = entry.get("vm_id")
    details = entry.get("vm_details") or {}
    if state.state == "shutting-down":
        return f"VM {name} ({state.vm_id}) is shutting down"
    if state.state == "absent" and vm_id and within_launch_grace(details, grace_s):
        return f"VM {name} ({vm_id}) was launched moments ago and EC2 does not list it yet"
    if state.state == "absent" and not vm_id and within_launch_attempt_grace(details, grace_s):
        return f"VM {name} has no instance recorded and its Create VM started moments ago"
    return None


def _mark_destroyed(
    repository: LabRepository, record: LabRecord, gone: dict[str, dict[str, Any]]
) -> None:
    """The gone VMs' entries DESTROYED; one found without a VM only while it still has
    none (a late Create VM may have recorded one since: destroy again)."""
    if not gone:
        return
    vm_less = [name for name in gone if not record.vms[name].get("vm_id")]
    try:
        repository.vm_entries.update_vms(record.lab_id, gone, vm_less=vm_less)
    except VmEntryChanged as exc:
        raise DestroyInProgress(f"{exc}; destroying again", lab_id=record.lab_id) from exc


def destroy_cluster_vms(
    record: LabRecord,
    repository: LabRepository,
    provider: ComputeProvider,
    *,
    launch_grace_s: float,
) -> DestroyVmResult:
    lab_id = record.lab_id
    going: list[str] = []
    failed: list[str] = []
    gone: dict[str, dict[str, Any]] = {}
    for name, entry in record.vms.items():
        if entry.get("status") == VmStatus.DESTROYED:
            continue
        try:
            state = provider.destroy_vm(lab_id, entry.get("vm_id"), vm_name=name)
        except (StepError, ProviderThrottled):
            raise
        except Exception as exc:
            # Anything else the cloud answers is terminal: the cause must reach the record.
            failed.append(f"VM {name}: {type(exc).__name__}: {exc}")
            continue
        reason = _still_going(name, entry, state, launch_grace_s)
        if reason:
            going.append(reason)
        elif not state.gone:
            failed.append(f"VM {name} ({state.vm_id}) is still {state.state} after destroy")
        else:
            gone[name] = {"status": VmStatus.DESTROYED.value}
    _mark_destroyed(repository, record, gone)
    if failed:
        raise DestroyFailed(
            f"destroying the VMs of {lab_id} failed: " + "; ".join(failed), lab_id=lab_id
        )
    if going:
        raise DestroyInProgress(
            f"not every VM of {lab_id} is gone yet: " + "; ".join(going) + "; destroying again",
            lab_id=lab_id,
        )
    # After every VM is gone: a security group cannot go while an instance wears it.
    hooks_of_cluster = cluster_hooks(provider)
    if hooks_of_cluster is not None:
        hooks_of_cluster.release_cluster(lab_id)
    hooks = access_hooks(provider)
    if hooks:
        hooks.close_lab_access(lab_id, record.plan)
    logger.info("cluster vms destroyed", vms=len(record.vms))
    return DestroyVmResult(vm_id=record.vm_id, state="terminated")
