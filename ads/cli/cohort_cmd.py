"""`ads cohort deploy|list|show|renew|destroy`: a lab for every member of a class, the
client side of ``/cohorts``.

``deploy LABSPEC --members FILE`` reads one IAM principal ARN a line from FILE (``-``:
stdin), optionally followed by whitespace and a display name; ``#`` starts a comment. A
bad line is named before anything is sent (exit 2). ``--plan`` shows the cohort's plan
and total hourly cost and creates nothing. ``--wait`` (deploy, destroy) follows
``GET /cohorts/{id}`` until every member's lab has settled. Renewing is done when the
command returns: there is nothing to wait for.
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ads.cli import exit_codes, lab_cmds
from ads.cli.client import AdsApiClient
from ads.cli.cluster_render import plan_vm_summary
from ads.cli.deploy_input import (
    LABSPEC_ALLOWED,
    SOURCE_ALLOWED,
    load_labspec,
    parse_source,
    repository_source,
)
from ads.cli.exit_codes import CommandError
from ads.cohort_members import parse_members_file
from ads.errors import InvalidInputError
from ads.lab.os_catalogue import OS_POLICIES

# Where a member's lab has settled, for --wait.
DEPLOY_SETTLED = {"READY", "FAILED", "DESTROYING", "DESTROYED", "REFUSED"}
DESTROY_SETTLED = {"DESTROYED", "REFUSED"}
POLL_INTERVAL_S = 3.0
_clock: Callable[[], float] = time.monotonic
_sleep: Callable[[float], None] = time.sleep


def register(subparsers: Any) -> None:
    common, signing = lab_cmds.endpoint_parents()
    cohort = subparsers.add_parser(
        "cohort",
        help="a lab for every member of a class",
        description="Deploy, list, show, renew and destroy cohorts: one lab per member, "
        "owned by you and assigned to the member.",
    )
    commands = cohort.add_subparsers(dest="cohort_command", metavar="COMMAND")

    deploy = commands.add_parser(
        "deploy",
        parents=[common],
        help="deploy a lab for every member",
        description="Validate the labspec and the members file here, then ask for a lab "
        "per member (a repeat with the same --idempotency-key adds only missing members).",
    )
    deploy.add_argument("labspec", metavar="LABSPEC", help=LABSPEC_ALLOWED)
    deploy.add_argument(
        "--members",
        metavar="FILE",
        required=True,
        help="one IAM principal ARN a line, optionally followed by a display name; "
        "# comments; - for stdin",
    )
    deploy.add_argument("--source", metavar="SRC", help=SOURCE_ALLOWED)
    deploy.add_argument("--os-policy", choices=OS_POLICIES, help="how to replace an unsupported OS")
    deploy.add_argument("--arch", metavar="A", help="CPU architecture (overrides the labspec)")
    deploy.add_argument("--course", metavar="C", help="the course: the ads:course cost tag")
    deploy.add_argument("--lease", metavar="D", help="each lab's lease (30m, 4h, 2d)")
    deploy.add_argument(
        "--reuse-image", action="store_true", help="start the labs from the lab's image"
    )
    deploy.add_argument(
        "--idempotency-key",
        metavar="K",
        help="repeating the request with the same key adds only the members without a lab "
        "(default: a new key for each run, reused by the run's own retries)",
    )
    deploy.add_argument(
        "--plan",
        action="store_true",
        help="show the cohort's plan and total hourly cost; create nothing",
    )
    lab_cmds.add_wait(deploy, lab_cmds.DEFAULT_DEPLOY_TIMEOUT_S, "READY or FAILED")
    deploy.set_defaults(func=deploy_command)

    listing = commands.add_parser(
        "list", parents=[common, signing], help="list your cohorts", description="Your cohorts."
    )
    listing.add_argument("--limit", metavar="N", type=int, help="cohorts per page")
    listing.add_argument("--next-token", metavar="T", help="continue a previous listing")
    listing.set_defaults(func=list_command)

    show = commands.add_parser(
        "show", parents=[common, signing], help="show a cohort and its members' labs"
    )
    show.add_argument("cohort_id", metavar="COHORT")
    show.set_defaults(func=show_command)

    renew = commands.add_parser(
        "renew", parents=[common, signing], help="renew every member's lab's lease"
    )
    renew.add_argument("cohort_id", metavar="COHORT")
    renew.add_argument("duration", metavar="DURATION", help="30m, 4h, 2d")
    renew.set_defaults(func=renew_command)

    destroy = commands.add_parser(
        "destroy", parents=[common, signing], help="destroy every member's lab"
    )
    destroy.add_argument("cohort_id", metavar="COHORT")
    lab_cmds.add_wait(destroy, lab_cmds.DEFAULT_DESTROY_TIMEOUT_S, "DESTROYED")
    destroy.set_defaults(func=destroy_command)
    cohort.set_defaults(func=lambda _args: _usage(cohort))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return exit_codes.INVALID_INPUT


def _show(args: argparse.Namespace, document: Any, human: Callable[[Any], str]) -> None:
    if args.as_json:
        lab_cmds.print_json(document)
    else:
        print(human(document))


def _path(cohort_id: str, tail: str = "") -> str:
    return f"/cohorts/{urllib.parse.quote(cohort_id, safe='')}{tail}"


def read_members(argument: str) -> list[dict[str, Any]]:
    """The members of FILE (``-``: stdin) as the API's member objects; a bad line exits 2
    naming the file and line."""
    try:
        text = sys.stdin.read() if argument == "-" else Path(argument).read_text()
    except OSError as exc:
        raise CommandError(
            f"--members {argument}: {exc.strerror or exc}", exit_code=exit_codes.INVALID_INPUT
        ) from None
    try:
        members = parse_members_file(text, source="stdin" if argument == "-" else argument)
    except InvalidInputError as exc:
        raise CommandError(
            exc.message,
            problems=exc.problems,
            exit_code=exit_codes.INVALID_INPUT,
        ) from None
    return [m.model_dump(exclude_none=True) for m in members]


def _request_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {
        "labspec": load_labspec(args.labspec),
        "members": read_members(args.members),
    }
    source = parse_source(args.source) or repository_source(args.labspec)
    if source:
        body["source"] = source
    options = {"os_policy": args.os_policy, "arch": args.arch}
    body["options"] = {k: v for k, v in options.items() if v}
    for name in ("course", "lease"):
        if getattr(args, name):
            body[name] = getattr(args, name)
    if args.reuse_image:
        body["reuse_image"] = True
    return body


def render_plan(plan: dict[str, Any]) -> str:
    lab = plan.get("plan") or {}
    per_lab = plan.get("hourly_usd_per_lab")
    total = plan.get("total_hourly_usd")
    lines = [
        f"Cohort of {plan.get('members')} labs of {lab.get('lab_name') or '?'}: "
        f"{lab.get('instance_type') or '?'} in {lab.get('region') or '?'}",
        f"  per lab: {per_lab if per_lab is not None else 'no price'} USD/hour; "
        f"total: {total if total is not None else 'no price'} USD/hour",
    ]
    vms = plan_vm_summary(lab)
    if vms:
        lines.append(f"  each lab's VMs: {vms}")
    quota = plan.get("quota")
    if quota is not None:
        fits = "fits" if quota.get("fits") else "does NOT fit"
        lines.append(
            f"  quota: {fits} ({quota.get('labs_held')} labs held, max {quota.get('max_labs')})"
        )
        refusal = (quota.get("refusal") or {}).get("message")
        if refusal:
            lines.append(f"  {refusal}")
    return "\n".join(lines)


def render_cohort(cohort: dict[str, Any]) -> str:
    counts = ", ".join(f"{n} {s}" for s, n in sorted((cohort.get("counts") or {}).items()))
    lines = [
        f"Cohort {cohort.get('cohort_id')} ({cohort.get('lab_name') or '?'}"
        + (f", course {cohort['course']}" if cohort.get("course") else "")
        + f"): {counts or 'no members'}"
    ]
    for member in cohort.get("members") or []:
        who = member.get("name") or member.get("principal")
        where = member.get("app_url") or member.get("endpoint") or ""
        why = f" - {member['cause']}" if member.get("cause") else ""
        lines.append(
            f"  {who}: {member.get('lab_id') or '-'} {member.get('status')} {where}{why}".rstrip()
        )
    return "\n".join(lines)


def deploy_command(args: argparse.Namespace) -> int:
    body = _request_body(args)
    client = AdsApiClient.from_args(args)
    if args.plan:
        plan = client.request("POST", "/cohorts", body={**body, "dry_run": True})
        _show(args, plan, render_plan)
        return exit_codes.OK
    key = args.idempotency_key or lab_cmds.new_idempotency_key()
    answer = client.request("POST", "/cohorts", body=body, headers={"Idempotency-Key": key})
    if not args.wait:
        _show(args, answer, render_cohort)
        return exit_codes.OK
    if not args.as_json:
        print(
            f"Cohort {answer['cohort_id']}: waiting for {len(answer['members'])} labs", flush=True
        )
    cohort, outcome = _wait(client, answer["cohort_id"], DEPLOY_SETTLED, args.timeout)
    return _finish(args, cohort, outcome, goal="READY")


def _wait(
    client: AdsApiClient, cohort_id: str, settled: set[str], timeout_s: float
) -> tuple[dict[str, Any], str]:
    client = client.without_retries()
    deadline = _clock() + timeout_s
    while True:
        cohort = client.request("GET", _path(cohort_id))
        statuses = {m.get("status") for m in cohort.get("members") or []}
        if statuses <= settled:
            return cohort, "done"
        now = _clock()
        if now >= deadline:
            return cohort, "timeout"
        _sleep(min(POLL_INTERVAL_S, deadline - now))


def _finish(args: argparse.Namespace, cohort: dict[str, Any], outcome: str, goal: str) -> int:
    _show(args, cohort, render_cohort)
    statuses = [m.get("status") for m in cohort.get("members") or []]
    if outcome == "timeout":
        raise CommandError(
            f"cohort {cohort.get('cohort_id')} has not settled after {args.timeout:g}s "
            f"(--timeout); follow it with `ads cohort show {cohort.get('cohort_id')}`",
            exit_code=exit_codes.TIMEOUT,
        )
    missed = [s for s in statuses if s != goal]
    if missed:
        raise CommandError(
            f"cohort {cohort.get('cohort_id')}: {len(missed)} of {len(statuses)} labs are not "
            f"{goal}",
            exit_code=exit_codes.FAILED,
        )
    return exit_codes.OK


def list_command(args: argparse.Namespace) -> int:
    client = AdsApiClient.from_args(args)
    query = {"limit": str(args.limit)} if args.limit else {}
    if args.next_token:
        query["next_token"] = args.next_token
    suffix = "?" + urllib.parse.urlencode(query) if query else ""
    page = client.request("GET", "/cohorts" + suffix)
    if args.as_json:
        lab_cmds.print_json(page)
        return exit_codes.OK
    for cohort in page.get("cohorts") or []:
        course = f"  {cohort['course']}" if cohort.get("course") else ""
        print(
            f"{cohort['cohort_id']}  {cohort.get('members')} members  "
            f"{cohort.get('lab_name') or ''}{course}  {cohort.get('created_at')}"
        )
    if page.get("next_token"):
        print(f"more: --next-token {page['next_token']}", file=sys.stderr)
    return exit_codes.OK


def show_command(args: argparse.Namespace) -> int:
    cohort = AdsApiClient.from_args(args).request("GET", _path(args.cohort_id))
    _show(args, cohort, render_cohort)
    return exit_codes.OK


def _print_outcomes(args: argparse.Namespace, answer: dict[str, Any]) -> int:
    if args.as_json:
        lab_cmds.print_json(answer)
    else:
        for member in answer.get("members") or []:
            what = member.get("error") or member.get("status")
            print(f"{member.get('principal')}: {member.get('lab_id') or '-'} {what}")
    return exit_codes.OK


def renew_command(args: argparse.Namespace) -> int:
    client = AdsApiClient.from_args(args)
    answer = client.request(
        "POST", _path(args.cohort_id, "/lease"), body={"duration": args.duration}
    )
    return _print_outcomes(args, answer)


def destroy_command(args: argparse.Namespace) -> int:
    client = AdsApiClient.from_args(args)
    answer = client.request("DELETE", _path(args.cohort_id))
    if not args.wait:
        return _print_outcomes(args, answer)
    cohort, outcome = _wait(client, args.cohort_id, DESTROY_SETTLED, args.timeout)
    return _finish(args, cohort, outcome, goal="DESTROYED")
