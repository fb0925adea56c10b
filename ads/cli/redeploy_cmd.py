"""`ads redeploy LAB --ref REF [--labspec FILE] [--wait]`: update a lab in place.

Sends ``POST /labs/{lab_id}/redeploy`` (202 with the RedeployLab execution; 409 naming the
lab's status when it is not READY or another operation runs). With ``--wait`` it follows
``GET /labs/{lab_id}`` until the update of that execution is in the lab's revision
history, and exits 0 only when the lab serves the new revision: an update that failed
and left the previous revision serving prints its cause and exits 1, as does a lab that
was lost (FAILED).
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

DEFAULT_UPDATE_TIMEOUT_S = 3600.0
ENDED = frozenset({"FAILED", "DESTROYING", "DESTROYED"})


def register(subparsers: Any) -> None:
    common, signing = lab_cmds.endpoint_parents()
    redeploy = subparsers.add_parser(
        "redeploy",
        parents=[common, signing],
        help="update a READY lab in place to another ref of its git source",
        description="Ask the ADS endpoint to fetch REF of the lab's git source on the same "
        "VM and run its deploy steps again; should they fail, the previous revision is "
        "deployed again and the lab stays READY.",
    )
    redeploy.add_argument("lab_id", metavar="LAB_ID")
    redeploy.add_argument("--ref", required=True, help="the branch, tag or commit to deploy")
    redeploy.add_argument(
        "--labspec", metavar="FILE", help="a new labspec for the lab (the same machine)"
    )
    lab_cmds.add_wait(redeploy, DEFAULT_UPDATE_TIMEOUT_S, "updated (or rolled back)")
    redeploy.set_defaults(func=redeploy_command)


def _lab_path(lab_id: str) -> str:
    return f"/labs/{urllib.parse.quote(lab_id, safe='')}"


def redeploy_command(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"ref": args.ref}
    if args.labspec:
        from ads.cli.deploy_input import load_labspec

        body["labspec"] = load_labspec(args.labspec)
    client = AdsApiClient.from_args(args)
    # Sent once: a repeat while the update runs is refused (409), never doubled.
    answer = client.request("POST", f"{_lab_path(args.lab_id)}/redeploy", body=body)
    if not args.wait:
        if args.as_json:
            lab_cmds.print_json(answer)
        else:
            print(f"Lab {answer.get('lab_id')} is being updated to {args.ref} (UPDATING)")
            execution = answer.get("console_url") or answer.get("execution_arn")
            if execution:
                print(f"Execution: {execution}")
            print(f"Follow it with: ads show {args.lab_id}   (or redeploy with --wait)")
        return exit_codes.OK
    if not args.as_json:
        print(f"Lab {args.lab_id} is being updated to {args.ref}", flush=True)
    lab, entry = _wait_for_update(client, args, str(answer.get("execution_arn") or ""))
    return _finish(args, lab, entry)


def _recorded(lab: dict[str, Any], execution_arn: str) -> dict[str, Any] | None:
    if lab.get("status") == "UPDATING":
        return None
    revisions = lab.get("revisions") or []
    return next((r for r in revisions if r.get("execution_id") == execution_arn), None)


def _wait_for_update(
    client: AdsApiClient, args: argparse.Namespace, execution_arn: str
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    display = render.ProgressDisplay(sys.stderr, args.lab_id, clock=lab_cmds._clock)
    client = client.without_retries()
    deadline = lab_cmds._clock() + args.timeout
    failures = 0
    while True:
        try:
            lab = client.request("GET", _lab_path(args.lab_id))
            failures = 0
        except ApiError as exc:
            failures += 1
            if (exc.status is not None and exc.status < 500) or (
                failures > lab_cmds.MAX_TRANSIENT_POLL_FAILURES
            ):
                raise
            lab = {}
        status = str(lab.get("status") or "")
        if status:
            display.update(status)
        entry = _recorded(lab, execution_arn) if lab else None
        if entry is not None or status in ENDED:
            display.finish(f"{args.lab_id} is {status}")
            return lab, entry
        now = lab_cmds._clock()
        if now >= deadline:
            display.finish(f"gave up waiting for the update of {args.lab_id}")
            raise CommandError(
                f"the update of lab {args.lab_id} is still running after {args.timeout:g}s "
                f"(--timeout); it goes on: follow it with `ads show {args.lab_id}`",
                exit_code=exit_codes.TIMEOUT,
            )
        lab_cmds._pause(display, min(lab_cmds.POLL_INTERVAL_S, deadline - now))


def _finish(args: argparse.Namespace, lab: dict[str, Any], entry: dict[str, Any] | None) -> int:
    if args.as_json:
        lab_cmds.print_json({"lab_id": args.lab_id, "status": lab.get("status"), "update": entry})
    if entry is not None and entry.get("outcome") == "updated" and lab.get("status") == "READY":
        if not args.as_json:
            print(f"Lab {args.lab_id} serves {args.ref} at revision {entry.get('sha')}")
            if lab.get("app_url"):
                print(f"App: {lab['app_url']}")
        return exit_codes.OK
    cause = str((entry or {}).get("cause") or lab.get("cause") or "no cause recorded")
    if lab.get("status") == "READY":
        message = (
            f"the update of lab {args.lab_id} to {args.ref} failed; it serves revision "
            f"{lab.get('revision')} again"
        )
    else:
        message = f"the update of lab {args.lab_id} to {args.ref} failed and the lab is {lab.get('status')}"
    raise CommandError(message, exit_code=exit_codes.FAILED, cause=cause)
