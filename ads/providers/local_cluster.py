"""A lab of several VMs on the local provider: each VM its own sandbox, uid and agent.

Every VM is booked apart (``<lab_id>.<vm_name>``, :func:`ads.providers.local_vm_book.vm_key`),
so power, actions, logs and updates, which find a VM by its vm id, work per VM unchanged.
The cluster facts are written synchronously by ADS into each sandbox's ``ads/`` directory
with the sandbox's safe writer: the lab's group reads them, nobody of the lab writes them.
The VMs share the host's loopback, so there is no network to release.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ads.providers.base import InitFailed, InitStatus, VmInfo
from ads.providers.local_sandbox import SandboxLayout, write_file
from ads.providers.local_vm_book import lab_id_of, layout_of, owner_of, run_as_of, vm_key

if TYPE_CHECKING:
    from ads.providers.local import LocalProvider

FACTS_FILE = "cluster_facts.json"
# What cluster_facts_status answers for facts written synchronously (no command runs).
WRITTEN = "written"


def key_for(lab_id: str, vm: VmInfo | None, vm_name: str | None = None) -> str:
    """The book key of the VM ``vm`` (or named ``vm_name``) of ``lab_id``: its vm id's,
    when the vm id belongs to the lab, else the lab's own (a single-VM lab)."""
    if vm_name:
        return vm_key(lab_id, vm_name)
    key = lab_id_of(vm.vm_id) if vm is not None else lab_id
    return key if owner_of(key) == lab_id else lab_id


def facts_file(layout: SandboxLayout) -> Path:
    return layout.ads / FACTS_FILE


def facts_path(vm: VmInfo) -> str:
    sandbox = vm.details.get("sandbox")
    if not sandbox:
        raise InitFailed(f"vm {vm.vm_id}: vm_details.sandbox is missing; found {vm.details}")
    return str(facts_file(SandboxLayout(Path(str(sandbox)))))


def share_cluster_facts(
    provider: LocalProvider, lab_id: str, vms: list[VmInfo], facts: dict[str, Any]
) -> None:
    """Write ``facts`` into every VM's sandbox (idempotent: the same file again)."""
    body = json.dumps(facts, indent=2, sort_keys=True).encode()
    for vm in vms:
        key = key_for(lab_id, vm)
        data = provider.book.load(key)
        if data is None or data.get("state") == "terminated":
            raise InitFailed(f"{vm.vm_id}: no local VM of lab {lab_id} to share the facts with")
        try:
            write_file(layout_of(data).ads, FACTS_FILE, body, gid=run_as_of(data).gid)
        except OSError as exc:
            raise InitFailed(f"{vm.vm_id}: cannot write the cluster facts: {exc}") from exc


def cluster_facts_status(provider: LocalProvider, vms: list[VmInfo], command_id: str) -> InitStatus:
    """The facts are on every VM whose sandbox holds the file (written synchronously)."""
    missing = []
    for vm in vms:
        data = provider.book.load(lab_id_of(vm.vm_id))
        if data is None or not facts_file(layout_of(data)).is_file():
            missing.append(str((vm.details or {}).get("vm_name") or vm.vm_id))
    if missing:
        return InitStatus(
            state="failed",
            detail=f"{', '.join(missing)}: the cluster facts file is missing ({command_id})",
        )
    return InitStatus(state="success", exit_code=0, detail=WRITTEN)
