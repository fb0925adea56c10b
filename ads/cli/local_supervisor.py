"""Starting, finding and stopping the background daemon behind `ads local up`.

`ads local up` starts ``python -m ads.local.daemon`` detached (its own session, output
to ``$ADS_HOME/local/control-plane.log``) and waits until its HTTP API answers. The
daemon announces itself in ``$ADS_HOME/local/control-plane.json``, which is also how
the other `ads` commands find the local endpoint; they talk to it with the one API
client, :class:`ads.cli.client.AdsApiClient`, signed with the plane's own credentials.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ads import processes
from ads.cli.api_error import ApiError
from ads.cli.client import AdsApiClient
from ads.cli.endpoint import DEFAULT_REGION, ClientSettings
from ads.config import AdsConfig
from ads.errors import ConfigError, FieldProblem
from ads.local.daemon import (
    DAEMON_MODULE,
    ControlPlaneState,
    control_plane_pids,
    is_control_plane_process,
    local_dir,
    log_file,
    read_state,
    remove_state,
    sandbox_processes,
    state_file,
)
from ads.local.private_files import open_private_append, private_dir, restrict_umask

DEFAULT_PORT = 8765
# Locally a "VM" is ready in seconds: waiting the AWS-sized retry intervals in full
# would only make the demo slow, so the local plane runs them at a fifth.
DEFAULT_TIME_SCALE = 0.2
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 60.0
LOG_TAIL_LINES = 30
PROBE_TIMEOUT_S = 3.0
# After SIGKILL the daemon is given this long to be gone (and reaped).
KILL_WAIT_S = 5.0


class LocalPlaneError(Exception):
    """The local control plane could not be started or reached; ``log_tail`` says why."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.log_tail = log_tail


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


# -- talking to it ------------------------------------------------------------------


def local_client(
    state: ControlPlaneState, home: Path, *, timeout_s: float | None = None
) -> AdsApiClient:
    """The API client for the plane of ``home``, signing with that plane's credentials."""
    from ads.cli.endpoint import local_api_credentials

    settings = ClientSettings(
        endpoint=state.endpoint.rstrip("/"),
        endpoint_source=f"local control plane {state_file(home)}",
        region=DEFAULT_REGION,
    )
    credentials = local_api_credentials({"ADS_HOME": str(home)})
    return AdsApiClient(settings, credentials, timeout_s=timeout_s)


def answers(state: ControlPlaneState, home: Path, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """True when the API of the plane answers GET /labs (any non-5xx status: a refusal is
    the API answering, so it runs)."""
    client = local_client(state, home, timeout_s=timeout_s).without_retries()
    try:
        client.list_labs(limit=1)
    except ApiError as exc:
        return exc.status is not None and exc.status < 500
    return True


def running_plane(home: Path) -> ControlPlaneState | None:
    """The control plane of ``home`` if its process is alive, is ours and answers."""
    state = read_state(home)
    if state is None or not processes.alive(state.pid):
        return None
    if not is_control_plane_process(state.pid, home):
        return None
    return state if answers(state, home) else None


# -- starting it --------------------------------------------------------------------


def port_free(port: int) -> bool:
    if port == 0:
        return True
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def port_taken_message(port: int) -> str:
    return (
        f"--port: found {port}, but 127.0.0.1:{port} is already in use; allowed: a free "
        "port (or --port 0 for any free one)"
    )


def package_root() -> Path:
    """The directory holding the ads/ and functions/ packages (a checkout or site-packages)."""
    import ads

    return Path(ads.__file__).resolve().parent.parent


def daemon_argv(home: Path, port: int, time_scale: float) -> list[str]:
    return [
        sys.executable,
        "-m",
        DAEMON_MODULE,
        "--port",
        str(port),
        "--home",
        str(home),
        "--time-scale",
        repr(time_scale),
    ]


def daemon_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    root = str(package_root())
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    env["ADS_HOME"] = str(home)
    env.pop("ADS_SANDBOX", None)
    return env


def check_local_config() -> None:
    """Refuse a bad ADS_* variable here, in one line, not in the background daemon's log."""
    AdsConfig.from_env({**os.environ, "ADS_PROVIDER": "local"})


def prepare_home(home: Path) -> None:
    """Create ``$ADS_HOME/local`` (0700; a new ``$ADS_HOME`` too); a home that cannot hold
    it is a configuration error."""
    # Whatever `ads local up` creates here (the home, the log) is the owner's only.
    umask = restrict_umask()
    try:
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        private_dir(log_file(home).parent)
        probe = log_file(home).parent / f".write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise ConfigError(
            FieldProblem(
                "ADS_HOME",
                f"{str(home)!r}, where {local_dir(home)} cannot be written ({exc.strerror})",
                "a directory this user can write (unset: ~/.ads)",
            )
        ) from None
    finally:
        os.umask(umask)


def start_plane(
    home: Path,
    *,
    port: int = DEFAULT_PORT,
    time_scale: float = DEFAULT_TIME_SCALE,
    timeout: float = START_TIMEOUT_S,
) -> ControlPlaneState:
    """Start the daemon detached and wait until its API answers."""
    problem = processes.host_problem()
    if problem:
        raise LocalPlaneError(problem)
    check_local_config()
    prepare_home(home)
    if not port_free(port):
        raise LocalPlaneError(port_taken_message(port))
    log_path = log_file(home)
    remove_state(home)
    with open_private_append(log_path) as log_out:
        log_out.write(f"--- ads local up at {datetime.now(UTC).isoformat()} ---\n".encode())
        log_out.flush()
        child = subprocess.Popen(
            daemon_argv(home, port, time_scale),
            stdin=subprocess.DEVNULL,
            stdout=log_out,
            stderr=subprocess.STDOUT,
            cwd=str(home),
            env=daemon_env(home),
            start_new_session=True,
            close_fds=True,
        )
    processes.remember_child(child)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = child.poll()
        if code is not None:
            raise LocalPlaneError(
                f"the local control plane exited with code {code} while starting (log: {log_path})",
                tail(log_path),
            )
        state = read_state(home)
        if state is not None and state.pid == child.pid and answers(state, home):
            return state
        time.sleep(0.2)
    # It never answered: stop what this call started rather than leave it half up.
    processes.stop([child.pid], grace_s=10, kill_grace_s=KILL_WAIT_S)
    raise LocalPlaneError(
        f"the local control plane did not answer within {timeout:.0f}s (log: {log_path})",
        tail(log_path),
    )


# -- stopping it --------------------------------------------------------------------


@dataclass
class StopReport:
    stopped: list[int] = field(default_factory=list)
    killed_lab_processes: list[int] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)
    survivors: list[int] = field(default_factory=list)


def stop_plane(home: Path, *, timeout: float = STOP_TIMEOUT_S) -> StopReport:
    """Stop the control plane of ``home`` and every local lab process. Idempotent."""
    report = StopReport()
    state = read_state(home)
    targets = set(control_plane_pids(home))
    if state is not None and processes.alive(state.pid) and state.pid not in targets:
        # The state file names a live process that is not our daemon: a reused pid.
        report.refused.append(state.pid)
    for pid in sorted(targets):
        # The daemon destroys its labs on SIGTERM: give it the whole timeout for that.
        if processes.stop([pid], grace_s=timeout, kill_grace_s=KILL_WAIT_S).stopped:
            report.stopped.append(pid)
        else:
            report.survivors.append(pid)
    # Whatever a crash (or a daemon that would not stop) left behind goes here.
    leftovers = processes.stop(lambda: sandbox_processes(home), grace_s=0, kill_grace_s=1.0)
    report.killed_lab_processes = leftovers.signalled
    report.survivors.extend(leftovers.survivors)
    if not report.survivors:
        state_file(home).unlink(missing_ok=True)
    return report
