"""`ads connect LAB [--port P]`: reach a lab's VM through SSM Session Manager.

Every access mode keeps this way in: a shell (or a port forward) over Session Manager
needs no inbound rule, no key pair and no public address, only the AWS CLI with its
Session Manager plugin and IAM permission to start a session on the instance. Without
both tools on PATH (or with --print) the command is printed instead of run.

A local lab (``ads local up``) has no instance: the command opens a shell in the lab's
sandbox as the lab's user (:mod:`ads.cli.connect_local`), runs one command there with
``--command``, or with ``--port`` prints where the lab's port answers on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
from typing import Any

from ads.cli import exit_codes
from ads.cli.client import AdsApiClient
from ads.cli.exit_codes import CommandError

PORT_FORWARD_DOCUMENT = "AWS-StartPortForwardingSession"
TOOLS = ("aws", "session-manager-plugin")
# The statuses in which the lab's VM is there to connect to.
CONNECTABLE = ("INITIALIZING", "HEALTH_CHECKING", "READY", "DEGRADED", "UPDATING")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "connect",
        help="open a shell on a lab's VM, or forward one of its ports (SSM Session Manager)",
        description="Open an SSM Session Manager shell on a lab's VM, or forward one of its "
        "ports to this machine with --port. Runs `aws ssm start-session` when the AWS CLI and "
        "the Session Manager plugin are installed; otherwise prints the command.",
    )
    parser.add_argument("lab_id", metavar="LAB_ID")
    parser.add_argument(
        "--port",
        metavar="P",
        type=_port,
        help="forward this port of the VM to the same port on localhost (e.g. the lab's 80)",
    )
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--print", dest="mode", action="store_const", const="print",
                     help="print the command instead of running it")  # fmt: skip
    how.add_argument("--exec", dest="mode", action="store_const", const="exec",
                     help="run the command (fails when the tools are missing)")  # fmt: skip
    parser.add_argument(
        "--command",
        metavar="CMD",
        help="local labs: run this one command in the lab's sandbox (sh -c) instead of a shell; "
        "its exit status is ads connect's",
    )
    parser.add_argument("--endpoint", metavar="URL", help="the ADS API URL")
    parser.add_argument("--profile", metavar="P", help="AWS profile (signs and starts the session)")
    parser.add_argument("--region", metavar="R", help="AWS region to sign requests for")
    parser.set_defaults(func=connect_command, mode=None)


def _port(value: str) -> int:
    if value.isdigit() and 1 <= int(value) <= 65535:
        return int(value)
    raise argparse.ArgumentTypeError(f"found {value!r}; allowed: a port number from 1 to 65535")


def session_command(
    record: dict[str, Any], port: int | None, profile: str | None = None
) -> list[str]:
    """The `aws ssm start-session` command line for a lab's instance."""
    command = ["aws", "ssm", "start-session", "--target", str(record["vm_id"])]
    region = lab_region(record)
    if region:
        command += ["--region", region]
    if profile:
        command += ["--profile", profile]
    if port is not None:
        command += [
            "--document-name",
            PORT_FORWARD_DOCUMENT,
            "--parameters",
            f"portNumber={port},localPortNumber={port}",
        ]
    return command


def lab_region(record: dict[str, Any]) -> str | None:
    plan = record.get("plan") or {}
    if plan.get("region"):
        return str(plan["region"])
    parts = str(record.get("execution_arn") or "").split(":")
    return parts[3] if len(parts) > 3 and parts[3] else None


def _local_answer(record: dict[str, Any]) -> str:
    lines = [
        f"lab {record['lab_id']} runs on this machine (the local provider): no session needed."
    ]
    if record.get("app_url"):
        lines.append(f"its application: {record['app_url']}")
    if record.get("endpoint"):
        lines.append(f"its agent: {record['endpoint']}/health")
    return "\n".join(lines)


def _hints(record: dict[str, Any], port: int | None) -> list[str]:
    hints = []
    ports = record.get("lab_ports") or (record.get("plan") or {}).get("lab_ports") or []
    if port is None and ports:
        hints.append(
            f"to open the lab's application here: ads connect {record['lab_id']} --port {ports[0]}"
            f", then http://localhost:{ports[0]}/"
        )
    elif port is not None:
        hints.append(f"while the session runs: http://localhost:{port}/")
    if record.get("app_url"):
        hints.append(f"the lab's access is {record.get('access')}: {record['app_url']}")
    return hints


def _check_connectable(record: dict[str, Any]) -> None:
    status = str(record.get("status") or "")
    if status not in CONNECTABLE or not record.get("vm_id"):
        raise CommandError(
            f"lab {record.get('lab_id')} is {status or 'in no known status'}: there is no VM "
            f"to connect to (allowed: a lab that is {', '.join(CONNECTABLE)})",
            exit_code=exit_codes.CONFLICT,
        )


def _connect_local(record: dict[str, Any], args: argparse.Namespace) -> int:
    from ads.cli import connect_local

    if args.port is not None:
        print(connect_local.local_port_address(record, args.port))
        return exit_codes.OK
    if args.mode == "print":
        print(_local_answer(record))
        return exit_codes.OK
    return connect_local.open_local_shell(record, args.command)


def connect_command(args: argparse.Namespace) -> int:
    record = AdsApiClient.from_args(args).get_lab(args.lab_id)
    _check_connectable(record)
    if record.get("provider") == "local":
        return _connect_local(record, args)
    if args.command:
        raise CommandError(
            "--command: runs in a local lab's sandbox only; for an ec2 lab open a session "
            "(ads connect LAB) and run it there",
            exit_code=exit_codes.INVALID_INPUT,
        )
    command = session_command(record, args.port, args.profile)
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if args.mode == "exec" and missing:
        raise CommandError(
            f"--exec: {' and '.join(missing)} not found on PATH; install the AWS CLI and the "
            "Session Manager plugin, or run without --exec to print the command",
            exit_code=exit_codes.FAILED,
        )
    if args.mode == "print" or missing:
        print(shlex.join(command))
        for hint in _hints(record, args.port):
            print(f"# {hint}", file=sys.stderr)
        if missing and args.mode is None:
            print(
                f"# {' and '.join(missing)} not found on PATH: install them to run this command",
                file=sys.stderr,
            )
        return exit_codes.OK
    for hint in _hints(record, args.port):
        print(f"ads: {hint}", file=sys.stderr)
    # The session is the user's terminal now: its exit status is ours.
    return subprocess.call(command)
