"""`ads stop`, `ads start`, `ads restart`: a lab's power operations, the API's client side.

Each sends ``POST /labs/{lab_id}/stop|start|restart`` (202 with the PowerLab execution,
409 naming the lab's status when it does not allow the operation). With ``--wait`` the
command follows the lab until the operation's goal (STOPPED, or READY after a start or a
restart), showing each status as ``ads deploy --wait`` does; a lab that ends FAILED (or
is destroyed meanwhile) exits 1 with the failed step and the cause.
"""

from __future__ import annotations

import argparse
import urllib.parse
from dataclasses import dataclass
from typing import Any

from ads.api_models import LabView
from ads.cli import exit_codes, lab_cmds, render
from ads.cli.client import AdsApiClient
from ads.cli.exit_codes import CommandError

DEFAULT_STOP_TIMEOUT_S = 600.0
DEFAULT_START_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class _Operation:
    name: str
    goal: str  # the status --wait waits for
    timeout_s: float
    summary: str


OPERATIONS = (
    _Operation(
        "stop", "STOPPED", DEFAULT_STOP_TIMEOUT_S, "stop a READY lab's VM (it keeps its disk)"
    ),
    _Operation("start", "READY", DEFAULT_START_TIMEOUT_S, "start a STOPPED lab's VM and check it"),
    _Operation("restart", "READY", DEFAULT_START_TIMEOUT_S, "reboot a READY lab's VM and check it"),
)
# Statuses from which the lab will not reach the goal of any power operation.
GIVEN_UP = frozenset({"FAILED", "DESTROYING", "DESTROYED"})


def register(subparsers: Any) -> None:
    common, signing = lab_cmds.endpoint_parents()
    for operation in OPERATIONS:
        parser = subparsers.add_parser(
            operation.name,
            parents=[common, signing],
            help=operation.summary,
            description=f"Ask the ADS endpoint to {operation.summary}.",
        )
        parser.add_argument("lab_id", metavar="LAB_ID")
        lab_cmds.add_wait(parser, operation.timeout_s, f"{operation.goal} (or FAILED)")
        parser.set_defaults(func=power_command, operation=operation)


def render_power_answer(answer: dict[str, Any]) -> str:
    lines = [f"Lab {answer.get('lab_id')} is {render.text(answer.get('status'))}"]
    execution = answer.get("console_url") or answer.get("execution_arn")
    if execution:
        lines.append(f"Execution: {execution}")
    return "\n".join(lines)


def power_command(args: argparse.Namespace) -> int:
    operation: _Operation = args.operation
    client = AdsApiClient.from_args(args)
    path = f"/labs/{urllib.parse.quote(args.lab_id, safe='')}/{operation.name}"
    # Sent once: a repeat while the operation runs is refused (409), never doubled.
    answer = client.request("POST", path)
    if not args.wait:
        if args.as_json:
            lab_cmds.print_json(answer)
        else:
            print(render_power_answer(answer))
            print(f"Follow it with: ads show {args.lab_id}   (or {operation.name} with --wait)")
        return exit_codes.OK
    if not args.as_json:
        print(render_power_answer(answer), flush=True)
    record, outcome = lab_cmds.wait_for_status(
        client,
        str(answer.get("lab_id") or args.lab_id),
        done={operation.goal},
        failed=set(GIVEN_UP),
        timeout_s=args.timeout,
    )
    return _finish(args, operation, record, outcome)


def _finish(
    args: argparse.Namespace, operation: _Operation, record: dict[str, Any], outcome: str
) -> int:
    if args.as_json:
        lab_cmds.print_json(lab_cmds.with_every_key(record, LabView))
    lab_id = record.get("lab_id")
    status = record.get("status") or "unknown"
    if outcome == "done":
        if not args.as_json:
            print(render.render_record(record))
        return exit_codes.OK
    if outcome == "timeout":
        raise CommandError(
            f"lab {lab_id} is still {status} after {args.timeout:g}s (--timeout), not "
            f"{operation.goal}; the {operation.name} goes on: follow it with `ads show {lab_id}`",
            exit_code=exit_codes.TIMEOUT,
        )
    step = f" in step {record['failed_step']}" if record.get("failed_step") else ""
    raise CommandError(
        f"{operation.name} of lab {lab_id} ended {status}{step}, not {operation.goal}",
        exit_code=exit_codes.FAILED,
        cause=str(record.get("cause") or ""),
    )
