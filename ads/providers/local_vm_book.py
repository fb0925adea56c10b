"""The local provider's own record of each lab VM: ``<labs root>/.vms/<lab_id>.json``.

One JSON object a VM (vm id, sandbox, uid, ports, interpreter, isolation mode, init
commands, process groups), ``0700`` directory owned by the ADS user, so a lab can
neither read it nor make the provider signal processes that are not its own.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from ads.providers.local_sandbox import RunAs, SandboxLayout, write_file

BOOKKEEPING_DIR = ".vms"
VM_ID_PREFIX = "local-"
# A VM of a lab of several VMs is booked as ``<lab_id>.<vm_name>``: neither a lab id nor a
# VM name holds a dot, so every book key names its lab (the sweep and the recovery keep
# or destroy a cluster's VMs with their lab).
CLUSTER_SEPARATOR = "."


def lab_id_of(vm_id: str) -> str:
    return vm_id[len(VM_ID_PREFIX) :] if vm_id.startswith(VM_ID_PREFIX) else vm_id


def vm_id_of(lab_id: str) -> str:
    return f"{VM_ID_PREFIX}{lab_id}"


def vm_key(lab_id: str, vm_name: str | None = None) -> str:
    """The book key of a lab's VM: the lab id, or ``<lab_id>.<vm_name>`` in a cluster."""
    return f"{lab_id}{CLUSTER_SEPARATOR}{vm_name}" if vm_name else lab_id


def owner_of(key: str) -> str:
    """The lab id a book key (or a sandbox's name in the labs root) belongs to."""
    return key.partition(CLUSTER_SEPARATOR)[0]


def vm_name_of(key: str) -> str | None:
    return key.partition(CLUSTER_SEPARATOR)[2] or None


def labs_root_of(bookkeeping: str | Path) -> Path:
    """The labs root a bookkeeping file (as :meth:`VmBook.path` names it) belongs to."""
    return Path(bookkeeping).parent.parent


def run_as_of(data: dict[str, Any]) -> RunAs:
    return RunAs(**data["run_as"])


def layout_of(data: dict[str, Any]) -> SandboxLayout:
    return SandboxLayout(Path(data["sandbox"]))


class VmBook:
    """The bookkeeping files of one labs root."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def directory(self) -> Path:
        return self.root / BOOKKEEPING_DIR

    def path(self, lab_id: str) -> Path:
        return self.directory / f"{lab_id}.json"

    def load(self, lab_id: str) -> dict[str, Any] | None:
        try:
            return json.loads(self.path(lab_id).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def save(self, lab_id: str, data: dict[str, Any]) -> None:
        path = self.path(lab_id)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_file(path.parent, path.name, json.dumps(data, indent=2).encode())

    def forget(self, lab_id: str) -> None:
        self.path(lab_id).unlink(missing_ok=True)

    def lab_ids(self) -> list[str]:
        """Every VM's book key (a lab id, or a cluster VM's ``<lab_id>.<vm_name>``) with
        bookkeeping or a sandbox (or its link) in the labs root."""
        if not self.root.is_dir():
            return []
        lab_ids = {p.stem for p in self.directory.glob("*.json")}
        lab_ids |= {p.name for p in self.root.iterdir() if not p.name.startswith(".")}
        return sorted(lab_ids)

    def keys_of(self, lab_id: str) -> list[str]:
        """The book keys of every VM of ``lab_id`` (its own, and its cluster's)."""
        return [key for key in self.lab_ids() if owner_of(key) == lab_id]

    def sandbox_of(self, lab_id: str) -> Path | None:
        """The sandbox of ``lab_id``: from its bookkeeping, else from what the root holds."""
        data = self.load(lab_id)
        if data:
            return Path(data["sandbox"])
        link = self.root / lab_id
        if link.is_symlink():
            return Path(os.readlink(link))
        return link if link.is_dir() else None


def remove_path(path: Path) -> None:
    # rmtree works through directory descriptors: a lab's symlinks are not followed.
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.is_dir():
        shutil.rmtree(path)
