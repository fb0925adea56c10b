"""``python3 -m ads_agent update``: a lab updated in place, on the same machine.

The new revision is fetched into ``<lab-dir>.next`` while the running lab keeps serving;
then the lab is stopped (its ``stop`` action, then every process a lab command started),
the checkouts are swapped (the running one is kept as ``<lab-dir>.previous``) and the
plan's deploy sequence runs on the new sources. Should it fail, whatever it started is
stopped, the previous checkout and plan come back and their deploy sequence runs again,
so the lab serves the previous revision. An update never leaves the lab without one of
the two revisions deployed unless the previous one cannot be deployed again either.

The outcome is written to ``state/update.json`` and printed as the last line of the
standard output, ``ADS-UPDATE-RESULT {json}``, which is what the control plane reads
(through SSM's command output on EC2, the command's log locally).

Exit status: 0 updated; 10 update failed, previous revision serving again; 11 update
failed and the previous revision could not be deployed again; 2 bad arguments.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ads_agent import health, state
from ads_agent.runner import LabContext, RunOutcome, run_action, run_deploy, utc_now

UPDATE_FILE = "update.json"
PREVIOUS_PLAN_FILE = "plan.previous.json"
RESULT_PREFIX = "ADS-UPDATE-RESULT "
EXIT_UPDATED = 0
EXIT_ROLLED_BACK = 10
EXIT_RESTORE_FAILED = 11
_STOP_GRACE_S = 5.0
_GIT_TIMEOUT_S = 600.0
_LAB_ENV = "ADS_STATE_DIR"
# How long a deployed revision may take to answer its health probe.
HEALTH_WAIT_S = float(os.environ.get("ADS_UPDATE_HEALTH_WAIT_S") or 60)


class UpdateFailed(Exception):
    """A step of the update failed before the new revision was deployed."""

    def __init__(self, step: str, cause: str) -> None:
        super().__init__(cause)
        self.step = step
        self.cause = cause


@dataclass
class UpdateOutcome:
    outcome: str  # updated | rolled_back | restore_failed
    ref: str | None
    revision: str | None = None
    previous_revision: str | None = None
    failed_step: str | None = None
    cause: str | None = None
    restore_cause: str | None = None
    started: str = field(default_factory=utc_now)
    ended: str = ""

    def document(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "ref": self.ref,
            "revision": self.revision,
            "previous_revision": self.previous_revision,
            "failed_step": self.failed_step,
            "cause": self.cause,
            "restore_cause": self.restore_cause,
            "started": self.started,
            "ended": self.ended,
        }


@dataclass
class UpdateRequest:
    source_git: str
    source_ref: str | None
    plan_file: Path | None
    # The caller stopped the lab already (the local provider ends a sandbox's processes
    # from outside its PID namespace, which the update cannot see into).
    already_stopped: bool = False


# --- git ------------------------------------------------------------------------------


def _git_env(state_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["GIT_TERMINAL_PROMPT"] = "0"
    config = state_dir / "gitconfig"
    if config.is_file():
        env["GIT_CONFIG_GLOBAL"] = str(config)
    home = env.get("HOME", "")
    if not home or not os.access(home, os.R_OK | os.X_OK):
        env["HOME"] = str(state_dir)
    return env


def _git(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", *args],
        cwd=str(cwd),
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=_GIT_TIMEOUT_S,
    )


def _last_line(text: str) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


def fetch_revision(request: UpdateRequest, target: Path, state_dir: Path) -> str:
    """Check out ``request``'s ref of its repository into ``target``; its commit sha."""
    env = _git_env(state_dir)
    shutil.rmtree(str(target), ignore_errors=True)
    created = _git(["-c", "init.defaultBranch=main", "init", "-q", str(target)], Path("/"), env)
    if created.returncode != 0:
        raise UpdateFailed("fetch", f"git init {target} failed: {_last_line(created.stderr)}")
    _git(["remote", "add", "origin", request.source_git], target, env)
    ref = request.source_ref
    fetched = _git(["fetch", "-q", "--tags", "origin", ref or "HEAD"], target, env)
    if fetched.returncode == 0:
        checkout = _git(["checkout", "-q", "--force", "--detach", "FETCH_HEAD"], target, env)
    else:
        # A commit id may only be reachable after fetching every branch.
        every = _git(
            ["fetch", "-q", "--tags", "origin", "+refs/heads/*:refs/remotes/origin/*"], target, env
        )
        if every.returncode != 0:
            raise UpdateFailed(
                "fetch",
                f"git fetch from {request.source_git!r} failed: {_last_line(every.stderr)}",
            )
        checkout = _git(["checkout", "-q", "--force", "--detach", ref or "HEAD"], target, env)
    if checkout.returncode != 0:
        raise UpdateFailed(
            "fetch",
            f"ref {ref!r} is not a branch, tag or commit of {request.source_git!r}: "
            f"{_last_line(checkout.stderr)}",
        )
    sha = _git(["rev-parse", "HEAD"], target, env)
    if sha.returncode != 0:
        raise UpdateFailed("fetch", f"git rev-parse HEAD failed: {_last_line(sha.stderr)}")
    return sha.stdout.strip()


# --- stopping the lab -------------------------------------------------------------------


def _ancestors() -> set:
    pids = set()
    pid = os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            pid = int(fields[1])
        except (OSError, IndexError, ValueError):
            break
    return pids


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (part.decode("utf-8", "replace").partition("=") for part in raw.split(b"\0"))
    return {name: value for name, _, value in pairs if name}


def lab_processes(state_dir: Path) -> list[int]:
    """Processes a lab command started (the runner gives each ``ADS_STATE_DIR``), other
    than this update and whoever runs it."""
    mine = _ancestors()
    wanted = str(state_dir)
    found = []
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            pid = int(entry) if entry.isdigit() else 0
            if pid and pid not in mine and _environ(pid).get(_LAB_ENV) == wanted:
                found.append(pid)
    return sorted(found)


def stop_lab_processes(state_dir: Path) -> list[int]:
    """End every lab process: SIGTERM, and SIGKILL for those still there after a grace."""
    pids = lab_processes(state_dir)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + (_STOP_GRACE_S if sig == signal.SIGTERM else 1.0)
        while time.monotonic() < deadline:
            pids = [pid for pid in pids if state.pid_is_alive(pid)]
            if not pids:
                return []
            time.sleep(0.05)
    return pids


def _stop_lab(context: LabContext, plan: dict[str, Any], run_stop_action: bool) -> None:
    if run_stop_action and (plan.get("actions") or {}).get("stop"):
        # The lab's own way first (it may save state); what it leaves is ended below.
        with contextlib.suppress(state.StateError, OSError):
            run_action(context, plan, "stop")
    stop_lab_processes(context.state_dir)


# --- the update -------------------------------------------------------------------------


def failure_of(outcome: RunOutcome) -> str:
    """A failed deploy sequence as a cause, e.g. ``build exited 2: 'make' ...``."""
    step = outcome.failed_step or "deploy"
    how = "timed out" if outcome.timed_out else f"exited {outcome.exit_code}"
    tail = _last_line(outcome.output_tail) if outcome.output_tail.strip() else ""
    cause = f"{step} {how}: command {outcome.failed_command!r}"
    return f"{cause}; output: {tail}" if tail else cause


def _swap(first: Path, second: Path, spare: Path) -> None:
    """Exchange the directories ``first`` and ``second`` (``spare`` is a free name)."""
    shutil.rmtree(str(spare), ignore_errors=True)
    os.rename(str(first), str(spare))
    os.rename(str(second), str(first))
    os.rename(str(spare), str(second))


def _record_revision(state_dir: Path, request: UpdateRequest, sha: str) -> None:
    lab = state.read_json(state_dir / state.LAB_FILE, default={}) or {}
    source = dict(lab.get("source") or {})
    source.update({"kind": "git", "url": request.source_git, "ref": request.source_ref})
    lab.update({"source": source, "source_revision": sha, "updated": utc_now()})
    state.write_json_atomic(state_dir / state.LAB_FILE, lab)


def _deploy(context: LabContext, plan: dict[str, Any]) -> str | None:
    """Run the deploy sequence and wait for the lab's health probe; None when both
    succeeded, else the failure as a cause."""
    try:
        outcome = run_deploy(context, plan)
    except (state.StateError, OSError) as exc:
        return f"deploy could not run: {exc}"
    if not outcome.succeeded:
        return failure_of(outcome)
    return _unhealthy(context.state_dir)


def _unhealthy(state_dir: Path) -> str | None:
    """None once the lab answers its health probe (as /health evaluates it), else why not
    after :data:`HEALTH_WAIT_S` (a server started in the background needs a moment)."""
    deadline = time.monotonic() + HEALTH_WAIT_S
    while True:
        status, checks = health.evaluate(state_dir)
        if status == health.OK:
            return None
        if time.monotonic() >= deadline:
            failed = [c["detail"] for c in checks if c.get("status") == "fail"]
            return "health probe failed after the deploy: " + ("; ".join(failed) or status)
        time.sleep(0.5)


def run_update(context: LabContext, request: UpdateRequest) -> UpdateOutcome:
    state_dir, lab_dir = context.state_dir, context.lab_dir
    lab = state.read_json(state_dir / state.LAB_FILE, default={}) or {}
    result = UpdateOutcome(
        outcome="rolled_back",
        ref=request.source_ref,
        previous_revision=lab.get("source_revision"),
    )
    current_plan = state.load_plan(state_dir)
    next_dir = lab_dir.with_name(lab_dir.name + ".next")
    previous_dir = lab_dir.with_name(lab_dir.name + ".previous")
    try:
        new_plan = current_plan
        if request.plan_file is not None:
            new_plan = _read_plan(request.plan_file)
        result.revision = fetch_revision(request, next_dir, state_dir)
    except UpdateFailed as exc:
        result.failed_step, result.cause = exc.step, exc.cause
        shutil.rmtree(str(next_dir), ignore_errors=True)
        if request.already_stopped:
            # Stopped for nothing: the previous revision has to start again.
            result.restore_cause = _deploy(context, current_plan)
        return _ended(result)
    _stop_lab(context, current_plan, run_stop_action=not request.already_stopped)
    shutil.rmtree(str(previous_dir), ignore_errors=True)
    os.rename(str(lab_dir), str(previous_dir))
    os.rename(str(next_dir), str(lab_dir))
    state.write_json_atomic(state_dir / PREVIOUS_PLAN_FILE, current_plan)
    state.write_json_atomic(state_dir / state.PLAN_FILE, new_plan)
    failure = _deploy(context, new_plan)
    if failure is None:
        _record_revision(state_dir, request, str(result.revision))
        result.outcome = "updated"
        return _ended(result)
    result.failed_step, result.cause = "deploy", failure
    # Back to the previous revision: what the failed deploy started goes first.
    stop_lab_processes(state_dir)
    _swap(lab_dir, previous_dir, lab_dir.with_name(lab_dir.name + ".swap"))
    state.write_json_atomic(state_dir / state.PLAN_FILE, current_plan)
    result.restore_cause = _deploy(context, current_plan)
    return _ended(result)


def _read_plan(path: Path) -> dict[str, Any]:
    try:
        plan = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UpdateFailed("plan", f"the new plan {path} cannot be read: {exc}") from None
    problems = state.plan_problems(plan)
    if problems:
        raise UpdateFailed("plan", f"the new plan {path}: " + "; ".join(problems))
    return plan


def _ended(result: UpdateOutcome) -> UpdateOutcome:
    if result.outcome != "updated" and result.restore_cause:
        result.outcome = "restore_failed"
    result.ended = utc_now()
    return result


def report(state_dir: Path, result: UpdateOutcome) -> int:
    document = result.document()
    state.write_json_atomic(state_dir / UPDATE_FILE, document)
    if result.outcome == "updated":
        print(f"ads-agent: update to {result.revision} succeeded")
        code = EXIT_UPDATED
    elif result.outcome == "rolled_back":
        print(
            f"ads-agent: update to {result.ref or 'HEAD'} failed ({result.cause}); "
            f"revision {result.previous_revision} serves again"
        )
        code = EXIT_ROLLED_BACK
    else:
        print(
            f"ads-agent: update failed ({result.cause}) and the previous revision could not "
            f"be deployed again ({result.restore_cause})"
        )
        code = EXIT_RESTORE_FAILED
    print(RESULT_PREFIX + json.dumps(document, sort_keys=True), flush=True)
    return code
