"""`ads deploy`, `ads list`, `ads show`, `ads history`, `ads destroy`: the API's client side.

Each command talks to a running ADS endpoint (API Gateway or the local control plane)
through :class:`ads.cli.client.AdsApiClient`. With ``--json`` a command prints exactly
one JSON document on stdout; otherwise it prints for people. A failure raises
:class:`~ads.cli.exit_codes.CommandError`: one line ``ads: error: ...`` on stderr (field
problems below it) and its exit code, printed by ``ads.cli.main``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from ads.api_models import (
    DeploymentAccepted,
    DestroyAccepted,
    ExecutionSummary,
    LabHistory,
    LabSummary,
    LabView,
)
from ads.cli import exit_codes, render
from ads.cli.api_error import ApiError
from ads.cli.client import AdsApiClient
from ads.cli.deploy_input import (
    LABSPEC_ALLOWED,
    SOURCE_ALLOWED,
    load_labspec,
    parse_source,
    repository_source,
)
from ads.cli.exit_codes import CommandError
from ads.lab.os_catalogue import OS_POLICIES
from ads.lab_record import LabStatus

# load_labspec and parse_source stay importable from here (the demo, the benchmarks).
__all__ = ["load_labspec", "parse_source", "register", "wait_for_status"]

# How often --wait asks for the lab's status. A deployment takes minutes, so a few
# seconds keeps the API quiet without making the progress display lag.
POLL_INTERVAL_S = 3.0
# How often the terminal spinner moves between two polls.
SPINNER_INTERVAL_S = 0.25
# Failed polls in a row tolerated while waiting (a flaky network must not end a wait
# that took many minutes); the next failure is reported.
MAX_TRANSIENT_POLL_FAILURES = 3
DEFAULT_DEPLOY_TIMEOUT_S = 1800.0
DEFAULT_DESTROY_TIMEOUT_S = 900.0

# What --status and --os-policy accept: the lab statuses and OS policies ADS knows.
STATUSES = tuple(status.value for status in LabStatus)
# The clock and sleep of --wait, replaced by tests.
_clock: Callable[[], float] = time.monotonic
_sleep: Callable[[float], None] = time.sleep


# --- registration -----------------------------------------------------------------------


def endpoint_parents() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The parent parsers of every command that calls the API: endpoint, profile and
    --json; and --region, which signs requests (``deploy --region`` means another thing)."""
    common = argparse.ArgumentParser(add_help=False)
    endpoint = common.add_argument_group("endpoint")
    endpoint.add_argument(
        "--endpoint",
        metavar="URL",
        help="the ADS API URL (default: $ADS_ENDPOINT, the config file, then a running local control plane)",
    )
    endpoint.add_argument(
        "--profile", metavar="P", help="AWS profile whose credentials sign the requests"
    )
    common.add_argument(
        "--json", dest="as_json", action="store_true", help="print one JSON document on stdout"
    )
    signing = argparse.ArgumentParser(add_help=False)
    signing.add_argument(
        "--region",
        metavar="R",
        help="AWS region to sign requests for when the endpoint's host does not name one "
        "(default: the config file, $AWS_REGION, us-east-1)",
    )
    return common, signing


def register(subparsers: Any) -> None:
    common, signing = endpoint_parents()
    deploy = subparsers.add_parser(
        "deploy",
        parents=[common],
        help="deploy a lab from its labspec",
        description="Validate a labspec here, then ask the ADS endpoint to deploy it.",
    )
    deploy.add_argument("labspec", metavar="LABSPEC", help=LABSPEC_ALLOWED)
    deploy.add_argument("--source", metavar="SRC", help=SOURCE_ALLOWED)
    deploy.add_argument("--os-policy", choices=OS_POLICIES, help="how to replace an unsupported OS")
    deploy.add_argument("--arch", metavar="A", help="CPU architecture (overrides the labspec)")
    deploy.add_argument(
        "--region",
        dest="deploy_region",
        metavar="R",
        help="the region the lab must run in: labs run where the control plane is deployed, "
        "and it refuses any other region (default: the control plane's region)",
    )
    deploy.add_argument(
        "--idempotency-key",
        metavar="K",
        help="repeating a request with the same key returns the same lab instead of a new one "
        "(default: a new key for each run, reused by the run's own retries)",
    )
    deploy.add_argument(
        "--course",
        metavar="C",
        help="the course or cohort of the lab: its AWS resources carry it as the ads:course "
        "cost-allocation tag",
    )
    deploy.add_argument(
        "--lease",
        metavar="D",
        help="destroy the lab after D (30m, 4h, 2d; within the control plane's maximum; "
        "default: its default lease); 'none' (admins only): never",
    )
    deploy.add_argument(
        "--schedule",
        metavar="HOURS",
        help="working hours: start and stop the lab by them, e.g. "
        "'Mon-Fri 08:00-20:00 Asia/Kolkata'",
    )
    deploy.add_argument(
        "--reuse-image",
        action="store_true",
        help="keep an image of the lab once READY, and start from the image of the same "
        "labspec, revision and base image when there is one (only init and start run)",
    )
    add_wait(deploy, DEFAULT_DEPLOY_TIMEOUT_S, "READY or FAILED")
    deploy.set_defaults(func=deploy_command)

    listing = subparsers.add_parser(
        "list",
        parents=[common, signing],
        help="list your labs",
        description="List your labs, newest first.",
    )
    listing.add_argument(
        "--status",
        metavar="S[,S]",
        type=_statuses,
        help=f"only labs with these statuses ({', '.join(STATUSES)})",
    )
    listing.add_argument("--limit", metavar="N", type=_positive_int, help="labs per page")
    listing.add_argument("--all-pages", action="store_true", help="follow every page")
    listing.add_argument("--next-token", metavar="T", help="continue a previous listing")
    listing.set_defaults(func=list_command)

    show = subparsers.add_parser(
        "show",
        parents=[common, signing],
        help="show a lab's record",
        description="Show a lab's record.",
    )
    show.add_argument("lab_id", metavar="LAB_ID")
    show.set_defaults(func=show_command)

    history = subparsers.add_parser(
        "history",
        parents=[common, signing],
        help="show a lab's status history and workflow executions",
        description="Show a lab's status changes and each workflow execution's steps.",
    )
    history.add_argument("lab_id", metavar="LAB_ID")
    history.set_defaults(func=history_command)

    destroy = subparsers.add_parser(
        "destroy",
        parents=[common, signing],
        help="destroy a lab",
        description="Destroy a lab's VM; the record is kept with status DESTROYED.",
    )
    destroy.add_argument("lab_id", metavar="LAB_ID")
    add_wait(destroy, DEFAULT_DESTROY_TIMEOUT_S, "DESTROYED")
    destroy.set_defaults(func=destroy_command)


def add_wait(parser: argparse.ArgumentParser, default_timeout: float, until: str) -> None:
    parser.add_argument("--wait", action="store_true", help=f"wait until the lab is {until}")
    parser.add_argument(
        "--timeout",
        metavar="S",
        type=_positive_float,
        default=default_timeout,
        help=f"seconds --wait waits (default {default_timeout:g}); exit code 6 when exceeded",
    )


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"found {value!r}; allowed: a whole number of at least 1")
    return number


def _positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = 0.0
    if not number > 0:
        raise argparse.ArgumentTypeError(f"found {value!r}; allowed: a number of seconds above 0")
    return number


def _statuses(value: str) -> list[str]:
    wanted = [s.strip().upper() for s in value.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in STATUSES]
    if not wanted or unknown:
        raise argparse.ArgumentTypeError(
            f"found {', '.join(unknown) or repr(value)}; allowed: {', '.join(STATUSES)}"
        )
    return wanted


# --- output ------------------------------------------------------------------------------


def print_json(document: Any) -> None:
    print(json.dumps(document, indent=2, default=str))


def with_every_key(document: Any, model: type[BaseModel]) -> Any:
    """``document`` with every field of the API's ``model``, null where the answer has none.

    A script reading ``--json`` then finds the same keys whatever the lab's state (a READY
    lab's endpoint, a FAILED one's cause) and whichever API version answered; keys the
    model does not know are kept after them."""
    if not isinstance(document, dict):
        return document
    return {**dict.fromkeys(model.model_fields), **document}


def _output(
    args: argparse.Namespace,
    document: Any,
    human: Callable[[Any], str],
    model: type[BaseModel],
) -> None:
    if args.as_json:
        print_json(with_every_key(document, model))
    else:
        print(human(document))


# --- deploy ------------------------------------------------------------------------------------


def deploy_command(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"labspec": load_labspec(args.labspec)}
    source = parse_source(args.source) or repository_source(args.labspec)
    if source:
        body["source"] = source
    options = {"os_policy": args.os_policy, "arch": args.arch, "region": args.deploy_region}
    body["options"] = {k: v for k, v in options.items() if v}
    if args.course:
        body["course"] = args.course
    if args.lease:
        body["lease"] = args.lease
    if args.schedule:
        body["schedule"] = args.schedule
    if args.reuse_image:
        body["reuse_image"] = True

    client = AdsApiClient.from_args(args)
    # One key per invocation: the client's own retries (a timeout, a 503) then replay the
    # same lab instead of creating another one.
    key = args.idempotency_key or new_idempotency_key()
    answer = client.create_lab(body, key)
    if not args.wait:
        _output(args, answer, render.render_deploy_answer, DeploymentAccepted)
        return exit_codes.OK
    if not args.as_json:
        print(render.render_deploy_answer(answer, waiting=True), flush=True)
    record, outcome = wait_for_status(
        client,
        answer["lab_id"],
        done={"READY"},
        # Someone destroying the lab meanwhile also means it will never be READY.
        failed={"FAILED", "DESTROYING", "DESTROYED"},
        timeout_s=args.timeout,
    )
    return _finish_wait(args, record, outcome, "READY")


def new_idempotency_key() -> str:
    return f"ads-cli-{uuid.uuid4()}"


# --- list / show / history ------------------------------------------------------------------


def list_command(args: argparse.Namespace) -> int:
    client = AdsApiClient.from_args(args)
    labs: list[dict[str, Any]] = []
    token = args.next_token
    while True:
        page = client.list_labs(args.status, args.limit, token)
        labs.extend(page.get("labs") or [])
        token = page.get("next_token")
        if not token or not args.all_pages:
            break
    if args.as_json:
        print_json({"labs": [with_every_key(lab, LabSummary) for lab in labs], "next_token": token})
    else:
        print(render.render_lab_list(labs, token))
    return exit_codes.OK


def show_command(args: argparse.Namespace) -> int:
    record = AdsApiClient.from_args(args).get_lab(args.lab_id)
    _output(args, record, render.render_record, LabView)
    return exit_codes.OK


def history_command(args: argparse.Namespace) -> int:
    history = AdsApiClient.from_args(args).get_history(args.lab_id)
    if isinstance(history, dict) and isinstance(history.get("executions"), list):
        executions = [with_every_key(e, ExecutionSummary) for e in history["executions"]]
        history = {**history, "executions": executions}
    _output(args, history, render.render_history, LabHistory)
    return exit_codes.OK


# --- destroy ---------------------------------------------------------------------------------------


def destroy_command(args: argparse.Namespace) -> int:
    client = AdsApiClient.from_args(args)
    answer = client.destroy_lab(args.lab_id)
    if not args.wait:
        _output(args, answer, render.render_destroy_answer, DestroyAccepted)
        return exit_codes.OK
    if not args.as_json:
        print(render.render_destroy_answer(answer), flush=True)
    record, outcome = wait_for_status(
        client,
        answer.get("lab_id") or args.lab_id,
        done={"DESTROYED"},
        failed=set(),
        timeout_s=args.timeout,
    )
    return _finish_wait(args, record, outcome, "DESTROYED")


# --- waiting ---------------------------------------------------------------------------------------


def wait_for_status(
    client: AdsApiClient,
    lab_id: str,
    *,
    done: set[str],
    failed: set[str],
    timeout_s: float,
    display: render.ProgressDisplay | None = None,
) -> tuple[dict[str, Any], str]:
    """Poll the lab until a status in ``done`` ("done"), ``failed`` ("failed") or the timeout."""
    display = display or render.ProgressDisplay(sys.stderr, lab_id, clock=_clock)
    # This loop tolerates failed polls itself and keeps the progress display going.
    client = client.without_retries()
    deadline = _clock() + timeout_s
    record: dict[str, Any] = {"lab_id": lab_id}
    failures = 0
    while True:
        try:
            record = client.get_lab(lab_id)
            failures = 0
        except ApiError as exc:
            transient = exc.status is None or exc.status >= 500
            failures += 1
            if not transient or failures > MAX_TRANSIENT_POLL_FAILURES:
                raise
        status = str(record.get("status") or "")
        if status:
            display.update(status)
        if status in done:
            display.finish(f"{lab_id} is {status}")
            return record, "done"
        if status in failed:
            display.finish(f"{lab_id} is {status}")
            return record, "failed"
        now = _clock()
        if now >= deadline:
            display.finish(f"gave up waiting for {lab_id} ({status or 'status unknown'})")
            return record, "timeout"
        _pause(display, min(POLL_INTERVAL_S, deadline - now))


def _pause(display: render.ProgressDisplay, seconds: float) -> None:
    if not display.is_tty:
        _sleep(seconds)
        return
    until = _clock() + seconds
    while (left := until - _clock()) > 0:
        _sleep(min(SPINNER_INTERVAL_S, left))
        display.tick()


def _finish_wait(args: argparse.Namespace, record: dict[str, Any], outcome: str, goal: str) -> int:
    # The record is the one JSON document even when the wait did not succeed: scripts
    # read the status and the cause from it and the exit code says what happened.
    if args.as_json:
        print_json(with_every_key(record, LabView))
    lab_id = record.get("lab_id")
    status = record.get("status") or "unknown"
    if outcome == "done":
        if not args.as_json:
            # A ready lab's record is what the person waited for; a destroyed one needs
            # no more than the fact.
            done = render.render_record(record) if goal == "READY" else f"Lab {lab_id} is {status}"
            print(done)
        return exit_codes.OK
    if outcome == "timeout":
        raise CommandError(
            f"lab {lab_id} is still {status} after {args.timeout:g}s (--timeout), not {goal}; "
            f"it keeps going: follow it with `ads show {lab_id}`",
            exit_code=exit_codes.TIMEOUT,
        )
    step = f" in step {record['failed_step']}" if record.get("failed_step") else ""
    raise CommandError(
        f"lab {lab_id} is {status}{step}, not {goal}",
        exit_code=exit_codes.FAILED,
        cause=str(record.get("cause") or ""),
    )
