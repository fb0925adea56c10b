"""Runs the lab's commands: the deploy sequence and the named lab actions.

Each command is its own ``sh -c`` in ``<lab-dir>/scripts``, in a process group of its
own so a timeout can stop everything it started. Output goes to a file, never a pipe:
a command that leaves a server running in the background keeps the file open, and a
pipe would then keep the agent waiting for an end of output that never comes.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from ads_agent import state
from ads_agent.history import HistoryStore
from ads_agent.run_logs import MAX_RUN_LOG_BYTES, RunIndex

DEFAULT_TIMEOUT_S = 1800.0
MAX_TIMEOUT_S = 7 * 24 * 3600.0
# Where a lab's application listens unless the agent's configuration (lab.json) says
# otherwise: a local lab shares its host, an EC2 lab is installed with 0.0.0.0.
DEFAULT_LAB_BIND = "127.0.0.1"
# The environment of a VM of a lab of several VMs, from lab.json's keys.
CLUSTER_ENV = {
    "ADS_VM_NAME": "vm_name",
    "ADS_VM_ROLE": "vm_role",
    "ADS_CLUSTER_FACTS": "cluster_facts",
}
OUTPUT_TAIL_BYTES = 4096
TIMEOUT_EXIT_CODE = 124  # what coreutils' timeout(1) reports, familiar to operators
_KILL_GRACE_S = 5.0
_RUN_LOGS_KEPT = 50
_LOCK_FILE = "run.lock"


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class CommandOutcome:
    command: str
    exit_code: int
    timed_out: bool
    timeout_s: float = DEFAULT_TIMEOUT_S


@dataclass
class RunOutcome:
    """One action run, as stored in the history and shown by ``/api/1.0/actions``."""

    action: str
    started: str
    ended: str = ""
    exit_code: int = 0
    failed_command: str | None = None
    failed_step: str | None = None
    output_tail: str = ""
    timed_out: bool = False
    timeout_s: float | None = None
    commands: list[CommandOutcome] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0

    def record(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "started": self.started,
            "ended": self.ended,
            "exit_code": self.exit_code,
            "failed_command": self.failed_command,
            "failed_step": self.failed_step,
            "output_tail": self.output_tail,
            "timed_out": self.timed_out,
            "timeout_s": self.timeout_s,
        }


class LabContext:
    """Where lab commands run and what they are told about the lab."""

    def __init__(self, state_dir: Path, lab_dir: Path, timeout_s: float | None = None) -> None:
        self.state_dir = state_dir
        self.lab_dir = lab_dir
        lab = state.read_json(state_dir / state.LAB_FILE, default={}) or {}
        self.lab_id = str(lab.get("lab_id") or "")
        self.lab_port = lab.get("lab_port")
        # The install's settings, so a command started later (an action under systemd,
        # by an operator) runs as the first deploy did: same bind address, same default.
        self.lab_bind = str(lab.get("lab_bind") or "") or os.environ.get(
            "ADS_LAB_BIND", DEFAULT_LAB_BIND
        )
        configured = _seconds(lab.get("command_timeout_s"))
        if timeout_s is None and configured is not None:
            timeout_s = configured
        self.timeout_s = DEFAULT_TIMEOUT_S if timeout_s is None else timeout_s
        # Set for a VM of a lab of several VMs (install.sh --vm-name/--vm-role/--cluster-facts).
        self.cluster = {
            name: str(lab[key])
            for name, key in CLUSTER_ENV.items()
            if isinstance(lab.get(key), str) and lab[key]
        }

    @property
    def scripts_dir(self) -> Path:
        return self.lab_dir / "scripts"

    def environment(self) -> dict[str, str]:
        # The whole environment is inherited on purpose: whoever started the agent
        # (SSM, systemd, the local provider) finds the lab's processes by it.
        env = dict(os.environ)
        env["ADS_LAB_ID"] = self.lab_id
        env["ADS_LAB_DIR"] = str(self.lab_dir)
        env["ADS_LAB_PORT"] = "" if self.lab_port is None else str(self.lab_port)
        env["ADS_LAB_BIND"] = self.lab_bind
        env["ADS_STATE_DIR"] = str(self.state_dir)
        env.update(self.cluster)
        return env


def _seconds(value: Any) -> float | None:
    """``value`` as a timeout in seconds, or None when it is not one ADS accepts."""
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return float(value) if is_number and 0 < value <= MAX_TIMEOUT_S else None


def timeout_for(plan: dict[str, Any], name: str | None, default_s: float) -> float:
    """Seconds each command of step or action ``name`` may run: the plan's ``timeouts``
    entry for that name, else its ``default`` entry, else ``default_s`` (--timeout)."""
    timeouts = plan.get("timeouts") or {}
    for key in (name, "default"):
        value = timeouts.get(key) if key else None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return float(value)
    return default_s


def run_one_command(
    context: LabContext,
    command: str,
    run_log: IO[bytes],
    env: dict[str, str],
    timeout_s: float | None = None,
) -> CommandOutcome:
    timeout_s = context.timeout_s if timeout_s is None else timeout_s
    run_log.write(f"$ {command}\n".encode())
    run_log.flush()
    logs_dir = context.state_dir / state.LOGS_DIR
    with tempfile.TemporaryFile(dir=str(logs_dir)) as output:
        process = subprocess.Popen(
            ["/bin/sh", "-c", command],
            cwd=str(context.scripts_dir),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        timed_out = False
        try:
            code = process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            _stop_process_group(process)
            code = TIMEOUT_EXIT_CODE
        if code < 0:
            code = 128 - code  # killed by a signal: report it the way a shell would
        output.seek(0)
        _copy(output, run_log, MAX_RUN_LOG_BYTES - run_log.tell())
    if timed_out:
        # Said in the output itself, so whoever reads only the tail (a failure cause
        # in the lab record) learns which command hung and for how long.
        run_log.write(
            f"[command {command!r} timed out after {timeout_s:g} s; its processes were "
            "killed]\n".encode()
        )
    elif code != 0:
        run_log.write(f"[exit status {code}]\n".encode())
    run_log.flush()
    return CommandOutcome(command=command, exit_code=code, timed_out=timed_out, timeout_s=timeout_s)


def _stop_process_group(process: subprocess.Popen) -> None:
    for sig, grace in ((signal.SIGTERM, _KILL_GRACE_S), (signal.SIGKILL, None)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=grace)
            if sig == signal.SIGTERM:
                # The leader is gone but others in its group may linger: finish them too.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
            return
        except subprocess.TimeoutExpired:
            continue


def _copy(source: IO[bytes], target: IO[bytes], limit: int | None = None) -> None:
    """Copy ``source`` to ``target``, at most ``limit`` bytes (a run log stays bounded)."""
    left = limit
    while True:
        chunk = source.read(65536)
        if not chunk:
            return
        if left is not None:
            if len(chunk) > left:
                target.write(chunk[: max(0, left)])
                target.write(b"\n[output truncated: the run log keeps at most 8 MiB]\n")
                return
            left -= len(chunk)
        target.write(chunk)


def _tail(path: Path, size: int = OUTPUT_TAIL_BYTES) -> str:
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        end = handle.tell()
        handle.seek(max(0, end - size))
        data = handle.read()
    text = data.decode("utf-8", "replace")
    if end > size:
        # Drop the partial first line (and a split multi-byte character with it).
        newline = text.find("\n")
        if 0 <= newline < len(text) - 1:
            text = text[newline + 1 :]
    return text


def run_sequence(
    context: LabContext,
    action: str,
    commands: list[tuple[str | None, str]],
    timeouts: dict[str | None, float] | None = None,
) -> RunOutcome:
    """Run ``(step name, command)`` pairs in order, stopping at the first failure, and
    append the outcome to the history. Holds the run lock, so runs never interleave.
    ``timeouts`` gives the seconds per command of a step (default: the context's)."""
    logs_dir = context.state_dir / state.LOGS_DIR
    logs_dir.mkdir(parents=True, exist_ok=True)
    context.scripts_dir.mkdir(parents=True, exist_ok=True)
    with _run_lock(context.state_dir):
        outcome = RunOutcome(action=action, started=utc_now())
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        log_path = logs_dir / f"action-{stamp}-{os.getpid()}-{_safe(action)}.log"
        env = context.environment()
        index = RunIndex(context.state_dir, action, log_path, outcome.started)
        with log_path.open("wb") as run_log:
            for step, command in commands:
                limit = (timeouts or {}).get(step, context.timeout_s)
                index.command_started(step, command, run_log.tell())
                result = run_one_command(context, command, run_log, env, limit)
                index.command_ended(run_log.tell(), result.exit_code)
                outcome.commands.append(result)
                if result.exit_code != 0:
                    outcome.exit_code = result.exit_code
                    outcome.failed_command = command
                    outcome.failed_step = step
                    outcome.timed_out = result.timed_out
                    outcome.timeout_s = result.timeout_s if result.timed_out else None
                    break
        outcome.ended = utc_now()
        index.run_ended(outcome.ended, outcome.exit_code)
        outcome.output_tail = _tail(log_path)
        HistoryStore(context.state_dir / state.HISTORY_FILE).append(outcome.record())
        _prune_run_logs(logs_dir)
    return outcome


def run_deploy(context: LabContext, plan: dict[str, Any]) -> RunOutcome:
    """The plan's steps in order; ``deploy.json`` says meanwhile that a deploy is running
    (and by which process, so a deploy killed half-way is not reported as running)."""
    commands = [
        (step["name"], command)
        for step in plan.get("steps", [])
        for command in step.get("commands", [])
    ]
    timeouts: dict[str | None, float] = {
        name: timeout_for(plan, name, context.timeout_s) for name, _ in commands
    }
    deploy_path = context.state_dir / state.DEPLOY_FILE
    state.write_json_atomic(
        deploy_path, {"status": "deploying", "pid": os.getpid(), "started": utc_now()}
    )
    try:
        outcome = run_sequence(context, "deploy", commands, timeouts)
    except BaseException as exc:
        state.write_json_atomic(
            deploy_path,
            {
                "status": "failed",
                "started": utc_now(),
                "ended": utc_now(),
                "exit_code": 1,
                "failed_command": None,
                "failed_step": None,
                "error": str(exc) or type(exc).__name__,
            },
        )
        raise
    document = outcome.record()
    document["status"] = "succeeded" if outcome.succeeded else "failed"
    document.pop("output_tail")
    state.write_json_atomic(deploy_path, document)
    return outcome


def run_action(context: LabContext, plan: dict[str, Any], name: str) -> RunOutcome:
    actions = plan.get("actions", {})
    if name not in actions:
        allowed = ", ".join(sorted(actions)) or "none (the plan declares no actions)"
        raise state.StateError(f"action {name!r}: not in the plan; allowed: {allowed}")
    limit = timeout_for(plan, name, context.timeout_s)
    return run_sequence(
        context, name, [(None, command) for command in actions[name]], {None: limit}
    )


@contextlib.contextmanager
def _run_lock(state_dir: Path) -> Iterator[None]:
    with (state_dir / _LOCK_FILE).open("ab") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("ads-agent: another lab action is running; waiting for it", file=sys.stderr)
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:40] or "action"


def _prune_run_logs(logs_dir: Path) -> None:
    logs = sorted(logs_dir.glob("action-*.log"))
    for old in logs[:-_RUN_LOGS_KEPT]:
        with contextlib.suppress(OSError):
            old.unlink()
