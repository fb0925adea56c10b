"""`ads action LAB NAME [--wait]` and `ads actions LAB`: a lab's actions, the API's client side.

``ads action`` sends ``POST /labs/{lab_id}/actions/{name}`` (202 with the ActionLab
execution; 404 listing the lab's actions when it defines no such one; 409 naming the
lab's status while another action or a power operation runs). With ``--wait`` it follows
``GET /labs/{lab_id}/actions`` until the run of that execution is recorded, prints the
action's output tail, and exits 0 only when the action exited 0; a failed action prints
its exit code (or why it never reported one) and its output tail and exits 1.
``ads actions`` lists the defined actions, the one running and the recent runs.
"""

from __future__ import annotations

import argparse
import sys
import urllib.parse
from typing import Any

from ads.cli import exit_codes, lab_cmds, render
from ads.cli.api_error import ApiError
from ads.cli.client import AdsApiClient
from ads.cli.exit_codes import CommandError

DEFAULT_ACTION_TIMEOUT_S = 1800.0
# Statuses in which the lab will not record the run any more.
GIVEN_UP = frozenset({"DESTROYING", "DESTROYED"})


def register(subparsers: Any) -> None:
    common, signing = lab_cmds.endpoint_parents()
    action = subparsers.add_parser(
        "action",
        parents=[common, signing],
        help="run one of a READY lab's actions (start, stop, backup, test...) on its VM",
        description="Ask the ADS endpoint to run the lab's action NAME on its VM; "
        "`ads actions LAB` lists the names.",
    )
    action.add_argument("lab_id", metavar="LAB_ID")
    action.add_argument("name", metavar="NAME", help="the action, as the labspec names it")
    lab_cmds.add_wait(action, DEFAULT_ACTION_TIMEOUT_S, "done, then print its output")
    action.set_defaults(func=action_command)
    listing = subparsers.add_parser(
        "actions",
        parents=[common, signing],
        help="list a lab's actions and their recent runs",
        description="List the actions a lab defines, the one running and its recent runs.",
    )
    listing.add_argument("lab_id", metavar="LAB_ID")
    listing.set_defaults(func=actions_command)


def _actions_path(lab_id: str) -> str:
    return f"/labs/{urllib.parse.quote(lab_id, safe='')}/actions"


def action_command(args: argparse.Namespace) -> int:
    client = AdsApiClient.from_args(args)
    path = f"{_actions_path(args.lab_id)}/{urllib.parse.quote(args.name, safe='')}"
    # Sent once: a repeat while the action runs is refused (409), never doubled.
    answer = client.request("POST", path)
    execution = answer.get("console_url") or answer.get("execution_arn")
    if not args.wait:
        if args.as_json:
            lab_cmds.print_json(answer)
        else:
            print(f"Action {args.name} of lab {answer.get('lab_id')} is running (ACTING)")
            if execution:
                print(f"Execution: {execution}")
            print(f"Follow it with: ads actions {args.lab_id}   (or action with --wait)")
        return exit_codes.OK
    if not args.as_json:
        print(f"Action {args.name} of lab {answer.get('lab_id')} is running", flush=True)
    run = _wait_for_run(client, args, str(answer.get("execution_arn") or ""))
    return _finish(args, run)


def _wait_for_run(
    client: AdsApiClient, args: argparse.Namespace, execution_arn: str
) -> dict[str, Any]:
    display = render.ProgressDisplay(sys.stderr, args.lab_id, clock=lab_cmds._clock)
    client = client.without_retries()
    deadline = lab_cmds._clock() + args.timeout
    failures = 0
    while True:
        try:
            listing = client.request("GET", _actions_path(args.lab_id))
            failures = 0
        except ApiError as exc:
            failures += 1
            transient = exc.status is None or exc.status >= 500
            if not transient or failures > lab_cmds.MAX_TRANSIENT_POLL_FAILURES:
                raise
            listing = {}
        status = str(listing.get("status") or "")
        if status:
            display.update(status)
        run = next(
            (r for r in listing.get("runs") or [] if r.get("execution_id") == execution_arn),
            None,
        )
        if run is not None:
            display.finish(f"{args.name} {'succeeded' if run.get('succeeded') else 'failed'}")
            return run
        if status in GIVEN_UP:
            display.finish(f"{args.lab_id} is {status}")
            raise CommandError(
                f"lab {args.lab_id} became {status} before action {args.name} was recorded",
                exit_code=exit_codes.FAILED,
            )
        now = lab_cmds._clock()
        if now >= deadline:
            display.finish(f"gave up waiting for {args.name} on {args.lab_id}")
            raise CommandError(
                f"action {args.name} of lab {args.lab_id} is still running after "
                f"{args.timeout:g}s (--timeout); it goes on: follow it with "
                f"`ads actions {args.lab_id}`",
                exit_code=exit_codes.TIMEOUT,
            )
        lab_cmds._pause(display, min(lab_cmds.POLL_INTERVAL_S, deadline - now))


def _finish(args: argparse.Namespace, run: dict[str, Any]) -> int:
    if args.as_json:
        lab_cmds.print_json(run)
    elif run.get("output_tail"):
        print(str(run["output_tail"]).rstrip())
    if run.get("succeeded"):
        return exit_codes.OK
    code = run.get("exit_code")
    how = f"exited {code}" if code is not None else "reported no exit code"
    raise CommandError(
        f"action {run.get('name') or args.name} of lab {args.lab_id} failed: {how}",
        exit_code=exit_codes.FAILED,
        cause=str(run.get("cause") or "") if code is None else None,
    )


def actions_command(args: argparse.Namespace) -> int:
    listing = AdsApiClient.from_args(args).request("GET", _actions_path(args.lab_id))
    if args.as_json:
        lab_cmds.print_json(listing)
        return exit_codes.OK
    print(render_actions(listing))
    return exit_codes.OK


def render_actions(listing: dict[str, Any]) -> str:
    names = listing.get("actions") or []
    lines = [
        f"Lab {listing.get('lab_id')} is {render.text(listing.get('status'))}",
        f"Actions: {', '.join(names) if names else 'none (its labspec defines no lab_actions)'}",
    ]
    running = listing.get("running")
    if running:
        lines.append(
            f"Running: {running.get('name')} since {running.get('started_at')} "
            f"(asked by {running.get('requester')})"
        )
    runs = listing.get("runs") or []
    if not runs:
        lines.append("No runs yet")
        return "\n".join(lines)
    lines.append("Recent runs (newest first):")
    for run in runs:
        code = run.get("exit_code")
        verdict = (
            "ok"
            if run.get("succeeded")
            else f"FAILED (exit {code})"
            if code is not None
            else "FAILED"
        )
        lines.append(
            f"  {run.get('started_at')}  {run.get('name')}  {verdict}  "
            f"{float(run.get('duration_s') or 0):.1f}s  by {run.get('requester')}"
        )
    return "\n".join(lines)
