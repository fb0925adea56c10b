"""`ads local up|status|down` (and the `ads demo` arguments): ADS on this machine, with no
AWS account.

The daemon behind them is started, found and stopped by :mod:`ads.cli.local_supervisor`;
the demo itself is :mod:`ads.cli.demo`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from ads import processes
from ads.cli import exit_codes, render
from ads.cli.client import AdsApiClient
from ads.cli.demo import DEMO_LAB, DEMO_TIMEOUT_S, cmd_demo
from ads.cli.exit_codes import CommandError
from ads.cli.local_supervisor import (
    DEFAULT_PORT,
    DEFAULT_TIME_SCALE,
    START_TIMEOUT_S,
    STOP_TIMEOUT_S,
    LocalPlaneError,
    check_local_config,
    daemon_argv,
    daemon_env,
    local_client,
    port_free,
    port_taken_message,
    prepare_home,
    running_plane,
    start_plane,
    stop_plane,
)
from ads.errors import ConfigError
from ads.local.api_auth import credentials_file
from ads.local.daemon import (
    ads_home,
    is_control_plane_process,
    local_dir,
    log_file,
    read_state,
)

MAX_LIST_PAGES = 20


def _err(message: str) -> None:
    print(f"ads: error: {message}", file=sys.stderr)


def all_labs(client: AdsApiClient, *, max_pages: int = MAX_LIST_PAGES) -> list[dict[str, Any]]:
    """Every lab the client's principal sees, following next_token pages."""
    labs: list[dict[str, Any]] = []
    token: str | None = None
    for _ in range(max_pages):
        body = client.list_labs(limit=100, next_token=token)
        if isinstance(body, list):
            return labs + body
        labs.extend(body.get("labs") or body.get("items") or [])
        token = body.get("next_token")
        if not token:
            break
    return labs


# -- ads local up / status / down -----------------------------------------------


def lab_isolation_line() -> str:
    from ads.config import AdsConfig
    from ads.providers.local_isolation import detect_isolation

    try:
        return detect_isolation(AdsConfig.from_env()).summary()
    except Exception as exc:  # a report, never a reason for `up` to fail
        return f"lab isolation: {exc}"


def cmd_up(args: argparse.Namespace) -> int:
    problem = processes.host_problem()
    if problem:
        _err(problem)
        return exit_codes.FAILED
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
    if not port_free(args.port):
        # A bad argument, like any other: another port fixes it, waiting does not.
        _err(port_taken_message(args.port))
        return exit_codes.INVALID_INPUT
    if args.foreground:
        argv = daemon_argv(home.resolve(), args.port, args.time_scale)
        where = f"127.0.0.1:{args.port}" if args.port else "a free port on 127.0.0.1"
        print(f"Running the ADS local control plane in the foreground on {where}")
        print("Ctrl-C stops it and every local lab.", flush=True)
        home.mkdir(parents=True, exist_ok=True)
        # exec, so that this very process is the daemon `ads local down` recognises.
        os.execve(sys.executable, argv, daemon_env(home.resolve()))
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
    if not processes.alive(state.pid) or not is_control_plane_process(state.pid, home):
        report["reason"] = f"pid {state.pid} is gone (stale state file; `ads local down` cleans up)"
        return False, report
    report["uptime_s"] = state.uptime_s()
    try:
        labs = all_labs(local_client(state, home))
    except CommandError as exc:
        report["reason"] = (
            f"pid {state.pid} is alive but {state.endpoint} does not answer: {exc.message}"
        )
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
    print(f"  uptime    {render.format_duration(report['uptime_s'])}")
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
