"""Destroying local lab VMs: a VM's processes, its sandbox, its uid lease, its bookkeeping.

A lab of several VMs has one sandbox per VM (:mod:`ads.providers.local_cluster`); a
destroy names one VM (``vm_name``, or a vm id of the lab), or none, and then ends every
VM of the lab, as the ec2 provider ends whatever carries the lab's tag.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ads.providers.base import DestroyFailed, VmState
from ads.providers.local_processes import lab_processes, stop_lab_processes
from ads.providers.local_vm_book import (
    lab_id_of,
    owner_of,
    remove_path,
    run_as_of,
    vm_id_of,
    vm_key,
)

if TYPE_CHECKING:
    from ads.providers.local import LocalProvider


def destroy_vm(
    provider: LocalProvider, lab_id: str, vm_id: str | None, vm_name: str | None
) -> VmState:
    own = lab_id_of(vm_id) if vm_id else lab_id
    if vm_name or (own != lab_id and owner_of(own) == lab_id):
        return destroy_key(provider, vm_key(lab_id, vm_name) if vm_name else own, vm_id)
    others = [key for key in provider.book.keys_of(lab_id) if key != lab_id]
    states = [destroy_key(provider, key, None) for key in others]
    state = destroy_key(provider, lab_id, vm_id)
    return states[0] if state.state == "absent" and states else state


def destroy_key(provider: LocalProvider, key: str, vm_id: str | None) -> VmState:
    """Destroy the VM booked as ``key`` (absent is success)."""
    book = provider.book
    data = book.load(key)
    sandbox = book.sandbox_of(key)
    if sandbox is None:
        return VmState(vm_id=vm_id, state="absent")
    uid = run_as_of(data).uid if data else None
    stop_lab_processes(sandbox, (data or {}).get("process_groups", []), uid)
    try:
        remove_path(sandbox)
        remove_path(book.root / key)
    except OSError as exc:
        raise DestroyFailed(f"cannot remove the sandbox {sandbox}: {exc}") from exc
    survivors = lab_processes(sandbox, uid)
    if survivors:
        raise DestroyFailed(
            f"processes of sandbox {sandbox} survive SIGKILL: {', '.join(map(str, survivors))}"
        )
    if uid is not None:
        provider.uids.release(uid, key)
    book.forget(key)
    return VmState(vm_id=vm_id or vm_id_of(key), state="terminated")
