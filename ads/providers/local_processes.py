"""Finding and ending the processes of local lab VMs.

A lab process is known two ways: its environment carries ``ADS_SANDBOX=<sandbox>``
(inherited by everything a lab command starts), and, when ADS runs as root, its real
uid is the one the lab was given (a lab cannot shed that, while it can scrub its
environment). Host ``/proc`` sees processes inside a lab's PID namespace too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

SANDBOX_ENV = "ADS_SANDBOX"
TERM_GRACE_S = 5.0
KILL_GRACE_S = 3.0

# Children started by this process, kept so they can be reaped (no zombies, no
# "still running" warnings) by whichever later call looks at them.
_CHILDREN: dict[int, subprocess.Popen] = {}
_CHILDREN_LOCK = threading.Lock()


def remember_child(process: subprocess.Popen) -> None:
    with _CHILDREN_LOCK:
        _CHILDREN[process.pid] = process


def _reap() -> None:
    with _CHILDREN_LOCK:
        for pid, process in list(_CHILDREN.items()):
            if process.poll() is not None:
                del _CHILDREN[pid]


def alive(pid: int) -> bool:
    _reap()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return False
    return fields[0] not in ("Z", "X")


def _pids() -> Iterator[int]:
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != me:
            yield int(entry)


def _process_sandboxes() -> Iterator[tuple[int, str]]:
    """(pid, ADS_SANDBOX) of every other process that has the variable."""
    prefix = f"{SANDBOX_ENV}=".encode()
    for pid in _pids():
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        for item in environ.split(b"\0"):
            if item.startswith(prefix):
                yield pid, item[len(prefix) :].decode(errors="replace")
                break


def real_uid(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Uid:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def uid_processes(uid: int) -> list[int]:
    """Live processes whose real uid is ``uid`` (a lab's own uid is no one else's)."""
    return [pid for pid in _pids() if real_uid(pid) == uid and alive(pid)]


def sandbox_processes(sandbox: str) -> list[int]:
    """Pids of live processes whose environment says they belong to ``sandbox``."""
    return [pid for pid, value in _process_sandboxes() if value == sandbox and alive(pid)]


def processes_under(root: str | Path) -> list[int]:
    """Pids of live processes of every sandbox that is ``root`` or lies below it."""
    root = Path(root).resolve()
    found = []
    for pid, value in _process_sandboxes():
        sandbox = Path(value)
        with contextlib.suppress(OSError):
            sandbox = sandbox.resolve()
        if (sandbox == root or root in sandbox.parents) and alive(pid):
            found.append(pid)
    return found


def _signal(pid: int, sig: int, *, group: bool = False) -> None:
    try:
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def group_belongs_to(pgid: int, sandbox: Path) -> bool:
    """Only signal a recorded process group while its leader is still one of ours: a
    reused pid must not make the provider kill a stranger's group."""
    try:
        environ = Path(f"/proc/{pgid}/environ").read_bytes()
    except OSError:
        return False
    return f"{SANDBOX_ENV}={sandbox}".encode() in environ.split(b"\0")


def lab_processes(sandbox: Path, uid: int | None) -> list[int]:
    pids = set(sandbox_processes(str(sandbox)))
    if uid is not None:
        pids.update(uid_processes(uid))
    return sorted(pids)


def stop_processes(sandbox: Path, process_groups: Iterable[int], uid: int | None) -> None:
    """SIGTERM, then SIGKILL: process groups first (the install script and whatever it
    started), then every process of the sandbox or of the lab's own uid."""
    groups = list(process_groups)
    for sig, grace in ((signal.SIGTERM, TERM_GRACE_S), (signal.SIGKILL, KILL_GRACE_S)):
        for pgid in groups:
            if pgid and group_belongs_to(pgid, sandbox):
                _signal(pgid, sig, group=True)
        deadline = time.monotonic() + grace
        while True:
            pids = lab_processes(sandbox, uid)
            if not pids:
                return
            for pid in pids:
                _signal(pid, sig)
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
