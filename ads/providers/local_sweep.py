"""The sweep's view of the local provider: a plane's sandboxes and the processes under them.

A local VM is a sandbox with its bookkeeping (:mod:`ads.providers.local_vm_book`); its
lab id is its name, or its name's part before the dot for a VM of a lab of several VMs
(``<lab_id>.<vm_name>``): every VM of a live lab is the lab's, every VM of another is an
orphan. The sweep destroys a sandbox whose lab is gone through the provider's
own ``destroy_vm`` (its processes, its uid's processes, the directory, the uid lease), and
stops a *stray* process: one whose ``ADS_SANDBOX`` is one of the plane's sandboxes (or
below the labs root) but belongs to no sandbox the provider keeps books for.

The local plane's restart recovery (:mod:`ads.local.recovery`) uses the same two
functions, :func:`destroy_sandboxes` and :func:`stray_processes`, with the labs its
records keep.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ads import processes
from ads.providers.local_processes import SANDBOX_ENV, plane_sandboxes, processes_under
from ads.providers.local_vm_book import VmBook, lab_id_of, owner_of, vm_id_of, vm_name_of
from ads.sweep_model import LabResource, ManagedVm


def destroy_sandboxes(provider: Any, lab_ids: Iterable[str]) -> dict[str, str | None]:
    """Destroy the local VM of each book key (a lab id, or a cluster VM's
    ``<lab_id>.<vm_name>``); by key, None or the error."""
    outcome: dict[str, str | None] = {}
    for key in lab_ids:
        try:
            provider.destroy_vm(owner_of(key), None, vm_name=vm_name_of(key))
            outcome[key] = None
        except Exception as exc:  # reported by the caller; the next sweep tries again
            outcome[key] = f"{type(exc).__name__}: {exc}"
    return outcome


def stray_processes(labs_root: Path, kept: Iterable[Path]) -> list[int]:
    """Processes of the plane's sandboxes that are under none of the ``kept`` sandboxes."""
    kept = list(kept)
    kept_pids = set(processes_under(*kept)) if kept else set()
    return sorted(set(processes_under(*plane_sandboxes(labs_root))) - kept_pids)


def _created_at(book: VmBook, lab_id: str) -> datetime | None:
    data = book.load(lab_id) or {}
    raw = data.get("created_at")
    if raw:
        try:
            moment = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        except ValueError:
            pass
    sandbox = book.sandbox_of(lab_id)
    try:
        return datetime.fromtimestamp(os.lstat(sandbox or book.root / lab_id).st_mtime, UTC)
    except OSError:
        return None


class LocalSweepInventory:
    """The sandboxes and stray processes of one local plane, for :class:`ads.sweep.Sweep`."""

    def __init__(self, provider: Any) -> None:
        self._provider = provider
        self._book = VmBook(Path(provider.root))

    def managed_vms(self) -> Iterator[ManagedVm]:
        for key in self._book.lab_ids():
            yield ManagedVm(
                kind="sandbox",
                vm_id=vm_id_of(key),
                lab_id=owner_of(key),
                launched_at=_created_at(self._book, key),
            )

    def terminate(self, vms: list[ManagedVm]) -> dict[str, str | None]:
        errors = destroy_sandboxes(self._provider, [lab_id_of(vm.vm_id) for vm in vms])
        return {vm_id_of(lab_id): error for lab_id, error in errors.items()}

    def lab_resources(self, live_lab_ids: set[str]) -> Iterator[LabResource]:
        del live_lab_ids  # a process is weighed against its sandbox's lab
        books = [self._book.sandbox_of(lab_id) for lab_id in self._book.lab_ids()]
        for pid in stray_processes(self._book.root, [s for s in books if s is not None]):
            yield LabResource(kind="process", resource=str(pid), lab_id=self._lab_of(pid))

    def _lab_of(self, pid: int) -> str | None:
        sandbox = Path(processes.environ(pid).get(SANDBOX_ENV, ""))
        try:
            return owner_of(sandbox.resolve().relative_to(self._book.root.resolve()).parts[0])
        except (ValueError, IndexError, OSError):
            return None

    def remove(self, resource: LabResource) -> None:
        result = processes.stop([int(resource.resource)], grace_s=0)
        if result.survivors:
            raise RuntimeError(f"process {resource.resource} survives SIGKILL")
