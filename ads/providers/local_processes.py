"""Which processes belong to a local lab VM, or to any VM of one local plane, and ending them.

A lab process is known two ways: its environment carries ``ADS_SANDBOX=<sandbox>``
(inherited by everything a lab command starts), and, when ADS runs as root, its real
uid is the one the lab was given (a lab cannot shed that, while it can scrub its
environment). The host sees processes inside a lab's PID namespace too.

A plane's sandboxes are its labs root and, when the lab's uid could not reach that
root, directories in ``<tmp>/ads-sandboxes/`` linked from it; the uids it leased are
recorded with a bookkeeping path under the labs root (:mod:`ads.providers.local_sandbox`).
How processes are read and signalled is :mod:`ads.processes`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from ads import processes
from ads.providers.local_sandbox import read_leases
from ads.providers.local_vm_book import labs_root_of

SANDBOX_ENV = "ADS_SANDBOX"


def sandbox_processes(sandbox: str | Path) -> list[int]:
    """Pids of live processes whose environment says they belong to ``sandbox``."""
    return sorted(
        pid for pid, value in processes.with_environ(SANDBOX_ENV) if value == str(sandbox)
    )


def _resolved(path: str | Path) -> Path:
    path = Path(path)
    with contextlib.suppress(OSError):
        path = path.resolve()
    return path


def processes_under(*roots: str | Path) -> list[int]:
    """Pids of live processes of every sandbox that is one of ``roots`` or lies below one."""
    wanted = [_resolved(root) for root in roots]
    found = set()
    for pid, value in processes.with_environ(SANDBOX_ENV):
        sandbox = _resolved(value)
        if any(sandbox == root or root in sandbox.parents for root in wanted):
            found.add(pid)
    return sorted(found)


def group_belongs_to(pgid: int, sandbox: Path) -> bool:
    """Only signal a recorded process group while its leader is still one of ours: a
    reused pid must not make the provider kill a stranger's group."""
    return processes.environ(pgid).get(SANDBOX_ENV) == str(sandbox)


def lab_processes(sandbox: Path, uid: int | None) -> list[int]:
    pids = set(sandbox_processes(sandbox))
    if uid is not None:
        pids.update(processes.uid_processes(uid))
    return sorted(pids)


def stop_lab_processes(sandbox: Path, process_groups: Iterable[int], uid: int | None) -> list[int]:
    """SIGTERM, then SIGKILL: process groups first (the install script and whatever it
    started), then every process of the sandbox or of the lab's own uid. Returns the
    survivors."""
    groups = list(process_groups)
    result = processes.stop(
        lambda: lab_processes(sandbox, uid),
        groups=lambda: [g for g in groups if g and group_belongs_to(g, sandbox)],
    )
    return result.survivors


# -- every VM of one plane -----------------------------------------------------------


def iter_sandboxes(labs_root: Path) -> Iterator[Path]:
    """The sandboxes of a labs root, in name order (a symlinked one as its target)."""
    if not labs_root.is_dir():
        return
    for entry in sorted(labs_root.iterdir()):
        if entry.name.startswith("."):
            continue
        yield Path(os.path.realpath(entry)) if entry.is_symlink() else entry


def plane_sandboxes(labs_root: Path) -> list[Path]:
    """Where the processes of a plane's labs can say they belong: the labs root itself and
    each sandbox outside it that it links to."""
    return [labs_root, *(s for s in iter_sandboxes(labs_root) if labs_root not in s.parents)]


def plane_processes(labs_root: Path) -> list[int]:
    """Every live process of a plane's lab VMs: those carrying one of its sandboxes, and
    those running as a uid leased for one of its labs (a lab may scrub its environment)."""
    found = set(processes_under(*plane_sandboxes(labs_root)))
    for uid in leased_uids(labs_root):
        found.update(processes.uid_processes(uid))
    return sorted(found)


def leased_uids(labs_root: Path) -> list[int]:
    """The uids leased for labs whose bookkeeping lies in ``labs_root``."""
    root = _resolved(labs_root)
    return sorted(
        uid
        for uid, lease in read_leases().items()
        if lease.get("bookkeeping") and _resolved(labs_root_of(lease["bookkeeping"])) == root
    )


def stop_plane_processes(sandboxes: Iterable[Path], grace_s: float = 3.0) -> list[int]:
    """End every process of ``sandboxes`` (TERM, KILL after ``grace_s``); returns them."""
    roots = list(sandboxes)
    return processes.stop(lambda: processes_under(*roots), grace_s=grace_s).signalled
