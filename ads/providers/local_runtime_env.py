"""What a local lab VM runs with: an interpreter its user may execute, two free ports on
127.0.0.1, the agent bundle it reads, its environment, and which paths its uid can reach.
"""

from __future__ import annotations

import importlib.util
import os
import random
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ads.providers.base import VmCreateFailed
from ads.providers.local_processes import SANDBOX_ENV
from ads.providers.local_sandbox import RunAs, SandboxLayout

SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
_PYTHON_PROBE = "import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)"


def default_agent_dir() -> Path:
    spec = importlib.util.find_spec("ads_agent")
    if spec is None or not spec.submodule_search_locations:
        raise VmCreateFailed("the ads_agent package (the agent and install.sh) is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


# Lab ports come from below Linux's ephemeral range (ip_local_port_range, 32768-60999 by
# default). A port the kernel picks for bind(0) sits inside that range, where the many
# short loopback connections of a busy plane (clients polling, health checks) take their
# source ports too: one of them could hold the port between the check and the agent's
# bind, and the agent would never start.
LAB_PORT_RANGE = range(20000, 30000)
# How long a handed-out port stays reserved for the lab it went to (it binds it within
# its init); a port still free after that is free.
_RESERVATION_S = 600.0
_reserved: dict[int, float] = {}
_reserved_lock = threading.Lock()


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on and no other lab of this plane was
    given in the last ten minutes (labs created at once never share one)."""
    now = time.monotonic()
    with _reserved_lock:
        for port, at in list(_reserved.items()):
            if now - at > _RESERVATION_S:
                del _reserved[port]
        candidates = [p for p in LAB_PORT_RANGE if p not in _reserved]
        random.shuffle(candidates)
        for port in candidates:
            if _bindable(port):
                _reserved[port] = now
                return port
    raise VmCreateFailed(
        f"no free port on 127.0.0.1 in {min(LAB_PORT_RANGE)}-{max(LAB_PORT_RANGE)} "
        "for a local lab; destroy labs or free ports"
    )


def two_free_ports() -> tuple[int, int]:
    """(agent port, lab port), distinct (each reserved, so never the same)."""
    return free_port(), free_port()


def reachable_by(path: Path, run_as: RunAs) -> bool:
    """Whether ``run_as`` may traverse every directory down to ``path`` (inclusive)."""
    if not run_as.drops_privileges:
        return True
    groups = {run_as.gid, *(g.gr_gid for g in _groups_of(run_as.name))}
    for part in [path, *path.parents]:
        try:
            st = part.stat()
        except FileNotFoundError:
            continue
        if st.st_uid == run_as.uid:
            bit = stat.S_IXUSR
        elif st.st_gid in groups:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return False
    return True


def _groups_of(user: str) -> list[Any]:
    import grp

    return [g for g in grp.getgrall() if user in g.gr_mem]


def find_python(run_as: RunAs, configured: str = "") -> str:
    """An interpreter the lab user can execute (the ADS venv may sit in a private home)."""
    candidates = [configured, "/usr/bin/python3", "/usr/local/bin/python3", sys.executable]
    for candidate in dict.fromkeys(c for c in candidates if c):
        if not os.path.isfile(candidate):
            continue
        if not run_as.drops_privileges:
            if os.access(candidate, os.X_OK):
                return candidate
            continue
        if _runs_as(candidate, run_as):
            return candidate
    raise VmCreateFailed(
        f"no Python 3.9+ interpreter that user {run_as.name!r} may execute "
        f"(tried {', '.join(c for c in candidates if c)}); set ADS_LOCAL_PYTHON"
    )


def _runs_as(python: str, run_as: RunAs) -> bool:
    try:
        probe = subprocess.run(
            [python, "-c", _PYTHON_PROBE],
            user=run_as.uid,
            group=run_as.gid,
            extra_groups=[],
            env={"PATH": SAFE_PATH},
            cwd="/",
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=20,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return probe.returncode == 0


def lab_environment(layout: SandboxLayout, run_as: RunAs) -> dict[str, str]:
    """The whole environment of a lab command (nothing of ADS's own leaks in)."""
    return {
        "PATH": SAFE_PATH,
        "HOME": str(layout.vm),
        "TMPDIR": str(layout.vm / "tmp"),
        "USER": run_as.name,
        "LOGNAME": run_as.name,
        "LANG": "C.UTF-8",
        SANDBOX_ENV: str(layout.top),
    }


def install_agent_bundle(layout: SandboxLayout, agent_dir: Path | None = None) -> Path:
    """A fresh copy of the agent package in ``ads/bundle`` (which the lab cannot write);
    returns the bundle directory."""
    bundle = layout.ads / "bundle"
    shutil.rmtree(bundle, ignore_errors=True)
    shutil.copytree(
        agent_dir or default_agent_dir(),
        bundle / "ads_agent",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    _readable_tree(bundle)
    return bundle


def _readable_tree(path: Path) -> None:
    """The agent bundle as the lab will read it: directories 0755, files 0644 or 0755."""
    for directory, _dirs, files in os.walk(path):
        os.chmod(directory, 0o755)
        for name in files:
            file = os.path.join(directory, name)
            executable = os.stat(file).st_mode & stat.S_IXUSR
            os.chmod(file, 0o755 if executable else 0o644)
