"""``python3 -m ads_agent serve|supervise|deploy|action|update|logs``: the agent's command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ads_agent import AGENT_VERSION, state
from ads_agent.logs import JsonLog
from ads_agent.runner import DEFAULT_TIMEOUT_S, LabContext, RunOutcome, run_action, run_deploy

EXIT_USAGE = 2


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"found {text!r}, allowed 0-65535 (0 picks a free port)")
    return int(text)


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 7 * 24 * 3600:
        raise argparse.ArgumentTypeError(f"found {text!r}, allowed seconds > 0")
    return value


def _request_timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 300:
        raise argparse.ArgumentTypeError(f"found {text!r}, allowed seconds above 0, at most 300")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python3 -m ads_agent",
        description="The ADS VMManager agent: serves the lab's health and runs its commands.",
    )
    parser.add_argument("--version", action="version", version=f"ads-agent {AGENT_VERSION}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--state-dir", required=True, type=Path, help="the agent's state directory"
        )
        sub.add_argument(
            "--lab-dir", type=Path, help="the lab checkout (default: <state-dir>/../lab)"
        )

    for name, text in (
        ("serve", "answer HTTP on --host/--port"),
        ("supervise", "run 'serve' and restart it whenever it exits"),
    ):
        sub = commands.add_parser(name, help=text, description=text)
        common(sub)
        sub.add_argument("--host", default="0.0.0.0", help="address to bind (default 0.0.0.0)")
        sub.add_argument(
            "--port", type=_port, default=9089, help="port (default 9089; 0 = any free)"
        )
        sub.add_argument("--log-file", help="append JSON logs here instead of stderr")
        if name == "serve":
            sub.add_argument(
                "--request-timeout",
                type=_request_timeout,
                default=None,
                help="seconds a client may stay silent before its connection is closed "
                "(default 10)",
            )

    for name, text in (
        ("deploy", "run the plan's deploy sequence (its steps, in order)"),
        ("action", "run one named lab action from the plan"),
    ):
        sub = commands.add_parser(name, help=text, description=text)
        if name == "action":
            sub.add_argument("name", help="the action, e.g. start, stop, backup")
        common(sub)
        sub.add_argument(
            "--timeout",
            type=_timeout,
            default=None,
            help="seconds each command may run when the plan's timeouts do not say "
            f"(default: the install's --timeout kept in lab.json, else {DEFAULT_TIMEOUT_S:g})",
        )
    _add_update_parser(commands, common)
    _add_logs_parser(commands, common)
    return parser


def _add_logs_parser(commands: Any, common: Any) -> None:
    text = "print the output of the deploy's steps or of an action's newest run, as JSON"
    sub = commands.add_parser("logs", help=text, description=text)
    common(sub)
    which = sub.add_mutually_exclusive_group()
    which.add_argument("--step", help="one deploy step (default: every step of the deploy)")
    which.add_argument("--action", help="the newest run of this action")
    sub.add_argument("--offset", type=_offset, default=0, help="byte offset in that output")
    sub.add_argument("--max-bytes", type=_max_bytes, default=16_000, help="bytes of output at most")


def _offset(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"found {text!r}, allowed a byte offset >= 0")
    return int(text)


def _max_bytes(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 64_000:
        raise argparse.ArgumentTypeError(f"found {text!r}, allowed 1-64000")
    return int(text)


def _add_update_parser(commands: Any, common: Any) -> None:
    text = "update the lab in place to another revision (the previous one restored on failure)"
    sub = commands.add_parser("update", help=text, description=text)
    common(sub)
    sub.add_argument("--source-git", required=True, help="the lab's repository")
    sub.add_argument("--source-ref", help="the branch, tag or commit to deploy (default HEAD)")
    sub.add_argument("--plan", type=Path, help="a new deployment plan (default: the current one)")
    sub.add_argument(
        "--already-stopped",
        action="store_true",
        help="the caller stopped the lab's processes already (skip its stop action)",
    )
    sub.add_argument("--timeout", type=_timeout, default=None, help="seconds per command")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    state_dir: Path = args.state_dir.resolve()
    lab_dir: Path = (args.lab_dir or state_dir.parent / "lab").resolve()
    if args.command == "serve":
        # Imported here: http.server is slow to load, and deploy/action runs never need it.
        from ads_agent.server import SOCKET_TIMEOUT_S, serve

        return serve(
            args.host,
            args.port,
            state_dir,
            lab_dir,
            JsonLog.open(args.log_file),
            request_timeout_s=args.request_timeout or SOCKET_TIMEOUT_S,
        )
    if args.command == "supervise":
        from ads_agent.supervisor import Supervisor, serve_command

        command = serve_command(args.host, args.port, state_dir, lab_dir, args.log_file)
        return Supervisor(command, state_dir, JsonLog.open(args.log_file)).run()
    if args.command == "logs":
        from ads_agent.run_logs import print_logs

        return print_logs(state_dir, args)
    return _run_lab_commands(args, state_dir, lab_dir)


def _run_lab_commands(args: argparse.Namespace, state_dir: Path, lab_dir: Path) -> int:
    try:
        plan = state.load_plan(state_dir)
        context = LabContext(state_dir, lab_dir, args.timeout)
        if args.command == "update":
            from ads_agent import update

            request = update.UpdateRequest(
                source_git=args.source_git,
                source_ref=args.source_ref or None,
                plan_file=args.plan,
                already_stopped=args.already_stopped,
            )
            return update.report(state_dir, update.run_update(context, request))
        if args.command == "deploy":
            outcome = run_deploy(context, plan)
        else:
            outcome = run_action(context, plan, args.name)
    except state.StateError as exc:
        print(f"ads-agent: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"ads-agent: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    return _report(outcome)


def _report(outcome: RunOutcome) -> int:
    ran = len(outcome.commands)
    if outcome.succeeded:
        print(f"ads-agent: {outcome.action} succeeded ({ran} command{'s' if ran != 1 else ''})")
        if outcome.output_tail.strip():
            # A lab action's output is its answer (a backup's name, a test's report).
            print(f"--- output tail ---\n{outcome.output_tail.rstrip()}\n--- end of output ---")
        return 0
    step = f" in step {outcome.failed_step!r}" if outcome.failed_step else ""
    how = (
        f"timed out after {outcome.timeout_s:g} s"
        if outcome.timed_out and outcome.timeout_s
        else "timed out"
        if outcome.timed_out
        else f"exited {outcome.exit_code}"
    )
    print(
        f"ads-agent: {outcome.action} failed{step}: command {outcome.failed_command!r} {how}\n"
        f"--- output tail ---\n{outcome.output_tail.rstrip()}\n--- end of output ---",
        file=sys.stderr,
    )
    return outcome.exit_code if 0 < outcome.exit_code < 256 else 1


if __name__ == "__main__":
    sys.exit(main())
