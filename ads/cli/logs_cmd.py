"""`ads logs LAB [--step S | --action A] [--follow] [--json]`: a lab's output from its VM.

``GET /labs/{lab_id}/logs`` page after page (each answer bounded by the API): with no
flag the output of every step of the current deploy, with ``--step`` one step's, with
``--action`` the newest run of that action, successful runs included. ``--follow``
keeps asking for new lines until the run ends; Ctrl-C ends it quietly (exit 130).
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from ads.cli import exit_codes, lab_cmds
from ads.cli.client import AdsApiClient

FOLLOW_INTERVAL_S = 2.0
_sleep: Callable[[float], None] = time.sleep


def register(subparsers: Any) -> None:
    common, signing = lab_cmds.endpoint_parents()
    parser = subparsers.add_parser(
        "logs",
        parents=[common, signing],
        help="print the output of a lab's deploy steps or of an action's newest run",
        description="Print the output the lab's VM kept of the current deploy's steps "
        "(every step, or --step S) or of the newest run of an action (--action A), "
        "successful runs too.",
    )
    parser.add_argument("lab_id", metavar="LAB_ID")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--step", metavar="S", help="one deploy step (e.g. build, start)")
    which.add_argument("--action", metavar="A", help="the newest run of this action")
    parser.add_argument(
        "--follow",
        action="store_true",
        help="keep printing new lines until the step or action ends (Ctrl-C stops)",
    )
    parser.set_defaults(func=logs_command)


def _query(args: argparse.Namespace, token: str | None) -> dict[str, str]:
    query = {"step": args.step, "action": args.action, "next_token": token}
    return {key: value for key, value in query.items() if value}


def _pages(client: AdsApiClient, args: argparse.Namespace) -> Any:
    """Each answer in turn: until no more output is kept (or, following, the run ends)."""
    path = f"/labs/{urllib.parse.quote(args.lab_id, safe='')}/logs"
    token: str | None = None
    while True:
        page = client.request("GET", path, query=_query(args, token))
        yield page
        if page.get("next_token") is None:
            return
        token = page["next_token"]
        if not page.get("lines"):
            if not args.follow:
                return  # the run goes on; what it wrote so far is printed
            _sleep(FOLLOW_INTERVAL_S)


def _summary(document: dict[str, Any], lab_id: str) -> str:
    what = f"action {document.get('name')}" if document.get("kind") == "action" else "deploy"
    if document.get("step"):
        what += f" step {document['step']}"
    steps = ", ".join(
        f"{s.get('step')} {'running' if s.get('exit_code') is None else s['exit_code']}"
        for s in document.get("steps") or []
        if s.get("step")
    )
    code = document.get("exit_code")
    ended = f"{document.get('status')}" + ("" if code is None else f" (exit {code})")
    return f"ads: {what} of lab {lab_id}: {ended}" + (f"; steps: {steps}" if steps else "")


def logs_command(args: argparse.Namespace) -> int:
    client = AdsApiClient.from_args(args)
    combined: dict[str, Any] = {}
    try:
        for page in _pages(client, args):
            lines = list(page.get("lines") or [])
            combined = {**page, "lines": [*combined.get("lines", []), *lines]}
            if not args.as_json:
                for line in lines:
                    print(line, flush=args.follow)
    except KeyboardInterrupt:
        return exit_codes.INTERRUPTED
    if args.as_json:
        lab_cmds.print_json(combined)
    else:
        print(_summary(combined, args.lab_id), file=sys.stderr)
    return exit_codes.OK
