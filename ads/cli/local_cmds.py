"""`ads local up|status|down` and `ads demo`: ADS on this machine, with no AWS account.

`ads local up` starts ``python -m ads.local.daemon`` detached (its own session, output
to ``$ADS_HOME/local/control-plane.log``) and waits until its HTTP API answers. The
daemon announces itself in ``$ADS_HOME/local/control-plane.json``, which is also how
the other `ads` commands find the local endpoint. `ads demo` drives one lab through its
whole life over that HTTP API, exactly as a user would from another shell.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ads.cli import exit_codes
from ads.config import AdsConfig
from ads.errors import ConfigError, FieldProblem
from ads.local.api_auth import credentials_file, read_credentials
from ads.local.daemon import (
    DAEMON_MODULE,
    ControlPlaneState,
    ads_home,
    is_control_plane_process,
    local_dir,
    log_file,
    pid_alive,
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


class LocalPlaneError(Exception):
    """The local control plane could not be started or reached; ``log_tail`` says why."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.log_tail = log_tail


# -- shared helpers -------------------------------------------------------------


def _err(message: str) -> None:
    print(f"ads: error: {message}", file=sys.stderr)


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def local_auth_headers(home: Path) -> dict[str, str]:
    """The Authorization header of the local user for the plane of ``home`` (none without one)."""
    credentials = read_credentials(credentials_file(local_dir(home)))
    return {"Authorization": f"Bearer {credentials.user.bearer_token}"} if credentials else {}


def http_get_json(
    url: str, timeout: float = 5.0, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """GET ``url``; (status, decoded JSON or text). Raises OSError when nothing answers."""
    request = urllib.request.Request(url, headers={"Accept": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    text = raw.decode("utf-8", errors="replace")
    try:
        return status, json.loads(text)
    except json.JSONDecodeError:
        return status, text


def answers(endpoint: str, timeout: float = 3.0) -> bool:
    """True when the API at ``endpoint`` answers GET /labs (any non-5xx status: a 401 is
    the API refusing a request without credentials, so it runs)."""
    try:
        status, _ = http_get_json(f"{endpoint.rstrip('/')}/labs", timeout=timeout)
    except (OSError, ValueError):
        return False
    return status < 500


def running_plane(home: Path) -> ControlPlaneState | None:
    """The control plane of ``home`` if its process is alive, is ours and answers."""
    state = read_state(home)
    if state is None or not pid_alive(state.pid):
        return None
    if not is_control_plane_process(state.pid, home):
        return None
    return state if answers(state.endpoint) else None


def _port_free(port: int) -> bool:
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


def _package_root() -> Path:
    # The directory holding the ads/ and functions/ packages (a checkout or site-packages).
    import ads

    return Path(ads.__file__).resolve().parent.parent


def _daemon_argv(home: Path, port: int, time_scale: float) -> list[str]:
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


def _daemon_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    root = str(_package_root())
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
    check_local_config()
    prepare_home(home)
    if not _port_free(port):
        raise LocalPlaneError(port_taken_message(port))
    log_path = log_file(home)
    remove_state(home)
    with open_private_append(log_path) as log_out:
        log_out.write(f"--- ads local up at {datetime.now(UTC).isoformat()} ---\n".encode())
        log_out.flush()
        child = subprocess.Popen(
            _daemon_argv(home, port, time_scale),
            stdin=subprocess.DEVNULL,
            stdout=log_out,
            stderr=subprocess.STDOUT,
            cwd=str(home),
            env=_daemon_env(home),
            start_new_session=True,
            close_fds=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = child.poll()
        if code is not None:
            raise LocalPlaneError(
                f"the local control plane exited with code {code} while starting (log: {log_path})",
                tail(log_path),
            )
        state = read_state(home)
        if state is not None and state.pid == child.pid and answers(state.endpoint):
            return state
        time.sleep(0.2)
    # It never answered: stop what this call started rather than leave it half up.
    _terminate(child.pid, grace_s=10)
    raise LocalPlaneError(
        f"the local control plane did not answer within {timeout:.0f}s (log: {log_path})",
        tail(log_path),
    )


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.1)
    return not pid_alive(pid)


def _reap(pid: int) -> None:
    # The daemon is our child only when this process started it; reap it if so.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _terminate(pid: int, grace_s: float) -> bool:
    """SIGTERM, wait up to ``grace_s``, then SIGKILL. True when the process is gone."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        _reap(pid)
        if not pid_alive(pid):
            return True
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return True
    for _ in range(50):
        _reap(pid)
        if not pid_alive(pid):
            return True
        time.sleep(0.1)
    return False


def _daemon_pids(home: Path) -> list[int]:
    """Every live control plane process for ``home``, found by its command line."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and is_control_plane_process(int(entry.name), home):
            pids.append(int(entry.name))
    return pids


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
    targets = set(_daemon_pids(home))
    if state is not None and pid_alive(state.pid) and state.pid not in targets:
        # The state file names a live process that is not our daemon: a reused pid.
        report.refused.append(state.pid)
    for pid in sorted(targets):
        if _terminate(pid, grace_s=timeout):
            report.stopped.append(pid)
        else:
            report.survivors.append(pid)
    # The daemon destroys its labs on the way out; whatever a crash left behind goes here.
    for _ in range(5):
        leftovers = sandbox_processes(home)
        if not leftovers:
            break
        for pid in leftovers:
            try:
                os.kill(pid, signal.SIGKILL)
                report.killed_lab_processes.append(pid)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.2)
    report.survivors.extend(sandbox_processes(home))
    if not report.survivors:
        state_file(home).unlink(missing_ok=True)
    return report


def list_labs(endpoint: str, home: Path, *, max_pages: int = 20) -> list[dict[str, Any]]:
    """Every lab the local principal sees, following next_token pages."""
    headers = local_auth_headers(home)
    labs: list[dict[str, Any]] = []
    token: str | None = None
    for _ in range(max_pages):
        url = f"{endpoint.rstrip('/')}/labs?limit=100"
        if token:
            url += "&next_token=" + urllib.request.quote(token, safe="")
        status, body = http_get_json(url, headers=headers)
        if status != 200:
            raise LocalPlaneError(f"GET /labs answered HTTP {status}: {body}")
        if isinstance(body, list):
            return labs + body
        labs.extend(body.get("labs") or body.get("items") or [])
        token = body.get("next_token")
        if not token:
            break
    return labs


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


# -- ads local up / status / down -----------------------------------------------


def lab_isolation_line() -> str:
    from ads.config import AdsConfig
    from ads.providers.local_isolation import detect_isolation

    try:
        return detect_isolation(AdsConfig.from_env()).summary()
    except Exception as exc:  # a report, never a reason for `up` to fail
        return f"lab isolation: {exc}"


def cmd_up(args: argparse.Namespace) -> int:
    home = ads_home()
    current = running_plane(home)
    if current is not None:
        print(f"The ADS local control plane is already running at {current.endpoint}")
        print(f"  pid {current.pid}, home {home}, log {log_file(home)}")
        return exit_codes.OK
    try:
        check_local_config()
        prepare_home(home)
    except ConfigError as exc:
        _err(str(exc))
        return exit_codes.INVALID_INPUT
    if not _port_free(args.port):
        # A bad argument, like any other: another port fixes it, waiting does not.
        _err(port_taken_message(args.port))
        return exit_codes.INVALID_INPUT
    if args.foreground:
        argv = _daemon_argv(home.resolve(), args.port, args.time_scale)
        where = f"127.0.0.1:{args.port}" if args.port else "a free port on 127.0.0.1"
        print(f"Running the ADS local control plane in the foreground on {where}")
        print("Ctrl-C stops it and every local lab.", flush=True)
        home.mkdir(parents=True, exist_ok=True)
        # exec, so that this very process is the daemon `ads local down` recognises.
        os.execve(sys.executable, argv, _daemon_env(home.resolve()))
    try:
        state = start_plane(
            home.resolve(), port=args.port, time_scale=args.time_scale, timeout=args.timeout
        )
    except LocalPlaneError as exc:
        _err(exc.message)
        if exc.log_tail:
            print("--- last lines of the log ---", file=sys.stderr)
            print(exc.log_tail, file=sys.stderr)
        return exit_codes.UNREACHABLE
    print(f"The ADS local control plane is up at {state.endpoint}")
    print(f"  pid {state.pid}, home {home}, log {log_file(home)}")
    print(f"  {lab_isolation_line()}")
    print("  try:  ads deploy events/labs/hello-web --wait   ads list")
    token = f"$(jq -r .user.bearer_token {credentials_file(local_dir(home))})"
    print(f'        curl -H "Authorization: Bearer {token}" {state.endpoint}/labs')
    print("  stop: ads local down")
    return exit_codes.OK


def status_report(home: Path) -> tuple[bool, dict[str, Any]]:
    state = read_state(home)
    report: dict[str, Any] = {"running": False, "home": str(home)}
    if state is None:
        report["reason"] = "not started (no state file)"
        return False, report
    report.update(state.to_json())
    report["home"] = str(home)
    if not pid_alive(state.pid) or not is_control_plane_process(state.pid, home):
        report["reason"] = f"pid {state.pid} is gone (stale state file; `ads local down` cleans up)"
        return False, report
    report["uptime_s"] = state.uptime_s()
    try:
        labs = list_labs(state.endpoint, home)
    except (OSError, LocalPlaneError) as exc:
        report["reason"] = f"pid {state.pid} is alive but {state.endpoint} does not answer: {exc}"
        return False, report
    report["running"] = True
    report["labs"] = [{"lab_id": lab.get("lab_id"), "status": lab.get("status")} for lab in labs]
    report["lab_counts"] = dict(Counter(str(lab.get("status")) for lab in labs))
    return True, report


def cmd_status(args: argparse.Namespace) -> int:
    home = ads_home()
    running, report = status_report(home)
    if args.json:
        print(json.dumps(report, indent=2))
        return exit_codes.OK if running else exit_codes.FAILED
    if not running:
        print(f"The ADS local control plane is not running: {report['reason']}")
        return exit_codes.FAILED
    counts = ", ".join(f"{status} {n}" for status, n in sorted(report["lab_counts"].items()))
    print("The ADS local control plane is running")
    print(f"  endpoint  {report['endpoint']}")
    print(f"  pid       {report['pid']}")
    print(f"  uptime    {_duration(report['uptime_s'])}")
    print(f"  home      {home}")
    print(f"  labs      {len(report['labs'])}" + (f" ({counts})" if counts else ""))
    for lab in report["labs"]:
        print(f"    {lab['lab_id']}  {lab['status']}")
    return exit_codes.OK


def cmd_down(args: argparse.Namespace) -> int:
    home = ads_home().resolve()
    report = stop_plane(home, timeout=args.timeout)
    for pid in report.refused:
        print(
            f"The state file names pid {pid}, which is not an ADS control plane: left alone.",
            file=sys.stderr,
        )
    if report.stopped:
        pids = ", ".join(str(p) for p in report.stopped)
        print(f"The ADS local control plane is stopped (pid {pids}).")
    else:
        print("The ADS local control plane is not running.")
    if report.killed_lab_processes:
        print(f"  stopped {len(report.killed_lab_processes)} leftover local lab process(es)")
    if report.survivors:
        _err(
            "these processes would not stop: "
            + ", ".join(str(p) for p in sorted(set(report.survivors)))
        )
        return exit_codes.FAILED
    return exit_codes.OK


# -- ads demo -------------------------------------------------------------------

DEMO_LAB = "events/labs/hello-web"
DEMO_TIMEOUT_S = 300.0
POLL_INTERVAL_S = 0.5
SETTLED = ("READY", "FAILED", "DESTROYED")


def find_repo_path(relative: str) -> Path | None:
    """``relative`` (e.g. ``events/labs/hello-web``) in this checkout or installation."""
    roots = [Path(os.environ["ADS_SOURCE_ROOT"])] if os.environ.get("ADS_SOURCE_ROOT") else []
    roots += [_package_root(), Path.cwd()]
    for root in roots:
        candidate = root / relative
        if candidate.exists():
            return candidate.resolve()
    return None


def resolve_labspec_argument(value: str | None) -> Path:
    """The lab directory or labspec file to deploy; relative paths also from the checkout."""
    text = value or DEMO_LAB
    path = Path(text).expanduser()
    if path.exists():
        return path.resolve()
    if not path.is_absolute():
        found = find_repo_path(text)
        if found is not None:
            return found
    raise LocalPlaneError(
        f"LABSPEC: found {text!r}, which does not exist; allowed: a lab directory with "
        f"scripts/labspec.json or a labspec file (default {DEMO_LAB})"
    )


class DemoOutput:
    """Where the demo narrates: stdout, or stderr when stdout carries the JSON summary."""

    def __init__(self, json_mode: bool) -> None:
        self.stream = sys.stderr if json_mode else sys.stdout

    def say(self, text: str = "") -> None:
        try:
            print(text, file=self.stream, flush=True)
        except BrokenPipeError:
            # The reader went away (`ads demo | head`): keep going so the cleanup still runs.
            self.stream = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the demo

    def section(self, title: str) -> None:
        self.say()
        self.say(f"== {title}")


def _wait_for(
    client: Any, lab_id: str, wanted: tuple[str, ...], out: DemoOutput, timeout: float
) -> dict[str, Any]:
    """Poll the lab until its status is one of ``wanted``, showing each change."""
    from ads.cli.render import ProgressDisplay

    progress = ProgressDisplay(out.stream, lab_id)
    deadline = time.monotonic() + timeout
    while True:
        record = client.get_lab(lab_id)
        status = str(record.get("status"))
        progress.update(status)
        if status in wanted:
            progress.finish(f"{lab_id} is {status}")
            return record
        if time.monotonic() > deadline:
            progress.finish(f"{lab_id} is still {status}")
            raise LocalPlaneError(
                f"lab {lab_id} is still {status} after {timeout:.0f}s (waiting for "
                f"{' or '.join(wanted)})"
            )
        time.sleep(POLL_INTERVAL_S)


# What the app URL answers when the lab serves no page: nothing listens (None), or a
# server without a page at that path (404).
NO_PAGE_ANSWERS = (None, 404)


def _fetch(url: str, timeout: float = 5.0) -> tuple[int | None, str]:
    request = urllib.request.Request(url, headers={"User-Agent": "ads-demo"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read(64 * 1024).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(64 * 1024).decode("utf-8", "replace")
    except (OSError, ValueError) as exc:
        return None, str(getattr(exc, "reason", exc))


def _demo_client(state: ControlPlaneState, home: Path) -> Any:
    from ads.cli.client import AdsApiClient, ClientSettings

    return AdsApiClient(
        ClientSettings(
            endpoint=state.endpoint,
            endpoint_source=f"local control plane {state_file(home)}",
            region="us-east-1",
        )
    )


def _deployment_body(path: Path) -> dict[str, Any]:
    """The POST /labs body `ads deploy LABSPEC` would send (same reading, same checks)."""
    from ads.cli.lab_cmds import load_labspec

    return {"labspec": load_labspec(str(path)), "options": {}}


@dataclass
class DemoResult:
    lab_id: str | None = None
    reached: str | None = None
    failed_step: str | None = None
    cause: str | None = None
    health: dict[str, Any] = field(default_factory=dict)
    page_status: int | None = None
    destroyed: bool = False
    history: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.reached == "READY" and self.destroyed and not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "lab_id": self.lab_id,
            "reached": self.reached,
            "failed_step": self.failed_step,
            "cause": self.cause,
            "health": self.health,
            "page_status": self.page_status,
            "destroyed": self.destroyed,
            "problems": self.problems,
            "history": self.history,
        }


def _only(history: dict[str, Any], kind: str) -> dict[str, Any]:
    executions = [e for e in history.get("executions") or [] if e.get("kind") == kind]
    return dict(history, executions=executions)


def run_demo(
    client: Any,
    body: dict[str, Any],
    out: DemoOutput,
    *,
    label: str = DEMO_LAB,
    timeout: float = DEMO_TIMEOUT_S,
) -> DemoResult:
    """Deploy, inspect and destroy one lab through the API. Never raises for a lab failure."""
    from ads.cli import render

    result = DemoResult()
    started = time.monotonic()
    out.section(f"Deploying {label}")
    from ads.cli.lab_cmds import new_idempotency_key

    accepted = client.create_lab(body, new_idempotency_key())
    lab_id = result.lab_id = accepted["lab_id"]
    out.say(render.render_deploy_answer(accepted, waiting=True))

    out.section("Progress")
    record = _wait_for(client, lab_id, SETTLED, out, timeout)
    result.reached = str(record.get("status"))
    result.history = client.get_history(lab_id)
    if result.reached != "READY":
        result.failed_step = record.get("failed_step")
        result.cause = record.get("cause")
        out.section(f"The lab is {result.reached}")
        out.say(f"Failed step: {result.failed_step or '-'}")
        out.say("Cause:")
        for line in str(result.cause or "(none recorded)").splitlines():
            out.say(f"  {line}")
        out.section("Execution history (as the Step Functions console shows it)")
        out.say(render.render_history(result.history))
        result.problems.append(
            f"lab {lab_id} ended {result.reached} in step {result.failed_step or '-'}, not READY"
        )
        return result

    out.section("Lab record")
    out.say(render.render_record(record))

    out.section("Agent health")
    endpoint = str(record.get("endpoint") or "").rstrip("/")
    status, text = _fetch(f"{endpoint}/health") if endpoint else (None, "no endpoint recorded")
    out.say(f"GET {endpoint}/health -> {status}")
    try:
        result.health = json.loads(text)
        out.say(json.dumps(result.health, indent=2))
    except json.JSONDecodeError:
        out.say(text[:500])
    if status != 200:
        result.problems.append(f"the agent's /health answered {status}, not 200")

    app_url = record.get("app_url")
    if app_url:
        out.section("The lab's page")
        result.page_status, page = _fetch(app_url)
        out.say(f"GET {app_url} -> {result.page_status}")
        if result.page_status in NO_PAGE_ANSWERS:
            # Many labs are command-line or service labs: no page is not a fault (a lab
            # that must serve one says so with a health_probe, checked while deploying).
            out.say(
                f"The lab serves no web page at {app_url} ({page.strip()[:80] or 'no answer'})."
            )
            out.say("That is normal for a lab without one; its health check passed.")
        else:
            for line in page.strip().splitlines()[:20]:
                out.say(f"| {line}")
            if result.page_status != 200:
                result.problems.append(f"the lab's page answered {result.page_status}, not 200")

    out.section("Execution history (as the Step Functions console shows it)")
    out.say(render.render_history(_only(result.history, "deploy")))

    out.section(f"Destroying {lab_id}")
    out.say(render.render_destroy_answer(client.destroy_lab(lab_id)))
    final = _wait_for(client, lab_id, ("DESTROYED", "FAILED"), out, timeout)
    result.destroyed = final.get("status") == "DESTROYED"
    result.history = client.get_history(lab_id)
    out.say(render.render_history(_only(result.history, "destroy")))
    if not result.destroyed:
        result.problems.append(f"the lab ended {final.get('status')} instead of DESTROYED")
    else:
        out.say()
        out.say(f"Done in {time.monotonic() - started:.1f}s: {lab_id} was READY, then DESTROYED.")
    return result


def cmd_demo(args: argparse.Namespace) -> int:
    from ads.cli.client import CommandError

    out = DemoOutput(args.json)
    home = ads_home().resolve()
    try:
        labspec = resolve_labspec_argument(args.labspec)
        body = _deployment_body(labspec)
    except LocalPlaneError as exc:
        _err(exc.message)
        return exit_codes.INVALID_INPUT
    except CommandError as exc:
        _err(exc.message)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return exc.exit_code
    state = running_plane(home)
    started_here = False
    if state is None:
        port = args.port if _port_free(args.port) else 0
        out.say(f"Starting the ADS local control plane (home {home}) ...")
        try:
            state = start_plane(home, port=port)
        except ConfigError as exc:
            _err(str(exc))
            return exit_codes.INVALID_INPUT
        except LocalPlaneError as exc:
            _err(exc.message)
            if exc.log_tail:
                print(exc.log_tail, file=sys.stderr)
            return exit_codes.UNREACHABLE
        started_here = True
        out.say(f"  up at {state.endpoint} (pid {state.pid})")
    else:
        out.say(f"Using the ADS local control plane at {state.endpoint} (pid {state.pid})")
    result = DemoResult()
    code = exit_codes.FAILED
    try:
        client = _demo_client(state, home)
        result = run_demo(client, body, out, label=str(labspec), timeout=args.timeout)
        code = exit_codes.OK if result.ok else exit_codes.FAILED
    except CommandError as exc:
        _err(exc.message)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        result.problems.append(exc.message)
        code = exc.exit_code
    except LocalPlaneError as exc:
        _err(exc.message)
        result.problems.append(exc.message)
        code = exit_codes.TIMEOUT
    except BrokenPipeError:
        code = exit_codes.FAILED
    finally:
        if started_here and not args.keep:
            stop_plane(home)
            out.say()
            out.say("Stopped the local control plane the demo started.")
        elif started_here:
            out.say(
                f"The local control plane keeps running at {state.endpoint}: `ads local down` stops it."
            )
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    if code != exit_codes.OK and not args.json:
        for problem in result.problems:
            _err(problem)
    return code


# -- registration ---------------------------------------------------------------


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"found {text!r}; allowed: a number") from None
    if not 0 < value <= 10:
        raise argparse.ArgumentTypeError(f"found {text}; allowed: more than 0, at most 10")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"found {text!r}; allowed: a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"found {value}; allowed: 0..65535 (0: any free port)")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    local = subparsers.add_parser(
        "local",
        help="run the ADS control plane on this machine (no AWS account)",
        description="Run the ADS control plane on this machine: moto, the same state machines "
        "and handlers, the local provider, and the API on 127.0.0.1. State and logs live in "
        "$ADS_HOME/local (ADS_HOME defaults to ~/.ads).",
    )
    actions = local.add_subparsers(dest="local_command", metavar="ACTION", required=True)

    up = actions.add_parser("up", help="start the local control plane in the background")
    up.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        help=f"port on 127.0.0.1 (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    up.add_argument(
        "--time-scale",
        type=_positive_float,
        default=DEFAULT_TIME_SCALE,
        help=f"multiplier for the state machines' retry waits (default {DEFAULT_TIME_SCALE})",
    )
    up.add_argument(
        "--foreground", action="store_true", help="run in this terminal; Ctrl-C stops it"
    )
    up.add_argument(
        "--timeout",
        type=float,
        default=START_TIMEOUT_S,
        help=f"seconds to wait for the API to answer (default {START_TIMEOUT_S:.0f})",
    )
    up.set_defaults(func=cmd_up)

    status = actions.add_parser("status", help="is it running; its endpoint, uptime and labs")
    status.add_argument("--json", action="store_true", help="print the report as JSON")
    status.set_defaults(func=cmd_status)

    down = actions.add_parser(
        "down", help="stop the local control plane and every local lab (idempotent)"
    )
    down.add_argument(
        "--timeout",
        type=float,
        default=STOP_TIMEOUT_S,
        help=f"seconds to let it destroy its labs before it is killed (default {STOP_TIMEOUT_S:.0f})",
    )
    down.set_defaults(func=cmd_down)

    demo = subparsers.add_parser(
        "demo",
        help="deploy, health-check and destroy a sample lab on this machine",
        description="Deploy a lab through the local control plane's HTTP API (starting the "
        "plane if none runs), show its progress to READY, its record, the agent's /health "
        "answer, its page and the execution history, then destroy it. Exit 0 only if all of "
        "that happened.",
    )
    demo.add_argument(
        "labspec",
        nargs="?",
        default=None,
        metavar="LABSPEC",
        help=f"a lab directory (with scripts/labspec.json) or a labspec file (default {DEMO_LAB})",
    )
    demo.add_argument(
        "--keep",
        action="store_true",
        help="leave the local control plane running if the demo started it",
    )
    demo.add_argument(
        "--json", action="store_true", help="progress on stderr, a JSON summary on stdout"
    )
    demo.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        help=f"port for a control plane the demo starts (default {DEFAULT_PORT}, else any free one)",
    )
    demo.add_argument(
        "--timeout",
        type=float,
        default=DEMO_TIMEOUT_S,
        help=f"seconds to wait for each final status (default {DEMO_TIMEOUT_S:.0f})",
    )
    demo.set_defaults(func=cmd_demo)
