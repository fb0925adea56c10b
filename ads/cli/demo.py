"""`ads demo`: one lab's whole life on this machine, driven over the local HTTP API.

It starts the local control plane if none runs (and stops it afterwards unless told to
keep it), deploys a lab exactly as `ads deploy` would, shows its progress to READY, its
record, the agent's /health answer, its page and the execution history, then destroys
it: the same requests a user would send from another shell.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ads import processes
from ads.cli import exit_codes
from ads.cli.local_supervisor import (
    LocalPlaneError,
    local_client,
    package_root,
    port_free,
    running_plane,
    start_plane,
    stop_plane,
)
from ads.errors import ConfigError
from ads.local.daemon import ControlPlaneState, ads_home

if TYPE_CHECKING:
    from ads.cli.exit_codes import CommandError


def _err(message: str) -> None:
    print(f"ads: error: {message}", file=sys.stderr)


DEMO_LAB = "events/labs/hello-web"
DEMO_TIMEOUT_S = 300.0
POLL_INTERVAL_S = 0.5
SETTLED = ("READY", "FAILED", "DESTROYED")


def find_repo_path(relative: str) -> Path | None:
    """``relative`` (e.g. ``events/labs/hello-web``) in this checkout or installation."""
    roots = [Path(os.environ["ADS_SOURCE_ROOT"])] if os.environ.get("ADS_SOURCE_ROOT") else []
    roots += [package_root(), Path.cwd()]
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


def _report_command_error(exc: CommandError) -> None:
    _err(exc.message)
    for problem in exc.problems:
        print(f"  - {problem}", file=sys.stderr)


def _demo_request(value: str | None) -> tuple[Path, dict[str, Any]] | int:
    """The labspec to deploy and the POST /labs body, or the exit code of a bad one."""
    from ads.cli.exit_codes import CommandError

    try:
        labspec = resolve_labspec_argument(value)
        return labspec, _deployment_body(labspec)
    except LocalPlaneError as exc:
        _err(exc.message)
        return exit_codes.INVALID_INPUT
    except CommandError as exc:
        _report_command_error(exc)
        return exc.exit_code


def _demo_plane(home: Path, port: int, out: DemoOutput) -> tuple[ControlPlaneState, bool] | int:
    """The running control plane and whether the demo started it, or the exit code."""
    state = running_plane(home)
    if state is not None:
        out.say(f"Using the ADS local control plane at {state.endpoint} (pid {state.pid})")
        return state, False
    out.say(f"Starting the ADS local control plane (home {home}) ...")
    try:
        state = start_plane(home, port=port if port_free(port) else 0)
    except ConfigError as exc:
        _err(str(exc))
        return exit_codes.INVALID_INPUT
    except LocalPlaneError as exc:
        _err(exc.message)
        if exc.log_tail:
            print(exc.log_tail, file=sys.stderr)
        return exit_codes.UNREACHABLE
    out.say(f"  up at {state.endpoint} (pid {state.pid})")
    return state, True


def _demo_lab(
    state: ControlPlaneState,
    home: Path,
    body: dict[str, Any],
    out: DemoOutput,
    *,
    label: str,
    timeout: float,
) -> tuple[DemoResult, int]:
    """The demo's lab through its whole life, and the exit code it earns."""
    from ads.cli.exit_codes import CommandError

    result = DemoResult()
    try:
        client = local_client(state, home)
        result = run_demo(client, body, out, label=label, timeout=timeout)
        return result, exit_codes.OK if result.ok else exit_codes.FAILED
    except CommandError as exc:
        _report_command_error(exc)
        result.problems.append(exc.message)
        return result, exc.exit_code
    except LocalPlaneError as exc:
        _err(exc.message)
        result.problems.append(exc.message)
        return result, exit_codes.TIMEOUT
    except BrokenPipeError:
        return result, exit_codes.FAILED


def _leave_plane(state: ControlPlaneState, home: Path, out: DemoOutput, *, keep: bool) -> None:
    """Stop the plane the demo started, unless asked to keep it."""
    if not keep:
        stop_plane(home)
        out.say()
        out.say("Stopped the local control plane the demo started.")
    else:
        out.say(
            f"The local control plane keeps running at {state.endpoint}: `ads local down` stops it."
        )


def cmd_demo(args: argparse.Namespace) -> int:
    unsupported = processes.host_problem()
    if unsupported:
        _err(unsupported)
        return exit_codes.FAILED
    out = DemoOutput(args.json)
    home = ads_home().resolve()
    request = _demo_request(args.labspec)
    if isinstance(request, int):
        return request
    labspec, body = request
    plane = _demo_plane(home, args.port, out)
    if isinstance(plane, int):
        return plane
    state, started_here = plane
    result, code = DemoResult(), exit_codes.FAILED
    try:
        result, code = _demo_lab(state, home, body, out, label=str(labspec), timeout=args.timeout)
    finally:
        if started_here:
            _leave_plane(state, home, out, keep=args.keep)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    if code != exit_codes.OK and not args.json:
        for message in result.problems:
            _err(message)
    return code
