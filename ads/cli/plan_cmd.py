"""``ads plan LABSPEC``: what ADS would create for a labspec, and what it costs.

Nothing is created and no AWS call is made: the plan comes from the lab domain core and
the bundled price table. Exit 0 for a usable labspec, 2 (one line on stderr) otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import BinaryIO

from pydantic import ValidationError

from ads.cli import exit_codes
from ads.cli.exit_codes import CommandError
from ads.cli.plan_render import render_plan
from ads.config import AdsConfig, get_config
from ads.errors import ConfigError, InvalidInputError
from ads.lab.labspec_reader import MAX_LABSPEC_BYTES
from ads.lab.os_catalogue import OS_POLICIES, arch_spellings
from ads.lab.plan import PlanOptions, plan_from_labspec_source

# ads plan reads no control plane: it cannot know where labs will run, only say so.
WHAT_IF_REGION = (
    "--region %s prices the plan as a what-if: a deployment runs in the control plane's "
    "region, and the control plane refuses a request for any other"
)
LABSPEC_IN_CHECKOUT = Path("scripts") / "labspec.json"


class UnreadableLabspec(Exception):
    """The LABSPEC argument names nothing that can be read."""


class UnusableOption(Exception):
    """An option value the planner cannot use."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "plan",
        help="show the VM, image, steps and hourly cost ADS would use for a labspec",
        description=(
            "Read a labspec and show what ADS would deploy: operating system (after the OS "
            "policy), architecture, image, instance type, root volume, hourly cost and the "
            "deploy steps. Nothing is created."
        ),
    )
    parser.add_argument(
        "labspec",
        metavar="LABSPEC",
        help="a labspec.json file, a lab checkout (its scripts/labspec.json is read), - for "
        "stdin, or a repository GIT_URL[@REF] / PATH@REF (its scripts/labspec.json at REF)",
    )
    # Checked by PlanOptions rather than argparse `choices`, so a wrong value gets the
    # same one-line "found ...; allowed ..." error as --arch and --region.
    parser.add_argument(
        "--os-policy",
        default=None,
        metavar="{" + ",".join(OS_POLICIES) + "}",
        help="what to do when the labspec asks for an unsupported OS (default: nearest-lts)",
    )
    parser.add_argument("--arch", default=None, help="x86_64 or arm64 (overrides the labspec)")
    parser.add_argument(
        "--region",
        default=None,
        help="price the plan as if in this region: a what-if, since a deployment runs in "
        "the control plane's region (default: $AWS_REGION, else us-east-1)",
    )
    parser.add_argument(
        "--json", action="store_true", dest="as_json", help="print the plan as JSON"
    )
    parser.set_defaults(func=run_plan)


def _read_bounded(stream: BinaryIO, name: str) -> bytes:
    # One byte past the limit tells "too big" apart from "exactly at the limit" without
    # reading a wrong file (a log, /dev/zero) whole.
    data = stream.read(MAX_LABSPEC_BYTES + 1)
    if len(data) > MAX_LABSPEC_BYTES:
        raise UnreadableLabspec(
            f"{name}: found more than {MAX_LABSPEC_BYTES} bytes; allowed: a labspec of at "
            "most 1 MiB"
        )
    return data


def read_labspec_argument(argument: str) -> tuple[bytes, str]:
    """The labspec bytes and a name for messages; ``-`` reads standard input, a
    repository (``GIT_URL[@REF]``, ``PATH@REF``) its scripts/labspec.json at that ref."""
    from ads.cli.repo_labspec import RepositoryLabspecError, classify

    try:
        repository = classify(argument)
    except RepositoryLabspecError as exc:
        raise UnreadableLabspec(str(exc)) from None
    if repository is not None and repository.labspec is not None:
        if len(repository.labspec) > MAX_LABSPEC_BYTES:
            raise UnreadableLabspec(f"{repository.name}: the labspec is larger than 1 MiB")
        return repository.labspec, f"{repository.name}:{LABSPEC_IN_CHECKOUT}"
    if argument == "-":
        try:
            return _read_bounded(sys.stdin.buffer, "<stdin>"), "<stdin>"
        except OSError as exc:
            raise UnreadableLabspec(f"cannot read <stdin>: {exc.strerror or exc}") from None
    path = Path(argument)
    try:
        if path.is_dir():
            candidates = [path / LABSPEC_IN_CHECKOUT, path / "labspec.json"]
            found = next((c for c in candidates if c.is_file()), None)
            if found is None:
                raise UnreadableLabspec(f"{argument} is a directory without {LABSPEC_IN_CHECKOUT}")
            path = found
        with path.open("rb") as stream:
            return _read_bounded(stream, str(path)), str(path)
    except FileNotFoundError:
        raise UnreadableLabspec(f"cannot read {argument}: no such file") from None
    except OSError as exc:
        raise UnreadableLabspec(f"cannot read {argument}: {exc.strerror or exc}") from None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _fail(message: str) -> CommandError:
    return CommandError(_one_line(message), exit_code=exit_codes.INVALID_INPUT)


def _options(args: argparse.Namespace, config: AdsConfig) -> PlanOptions:
    try:
        return PlanOptions(
            os_policy=config.default_os_policy if args.os_policy is None else args.os_policy,
            arch=args.arch,
            region=config.region if args.region is None else args.region,
            access=config.lab_access,
            network_egress=config.network_egress,
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else "option"
        allowed = {
            "arch": arch_spellings(),
            "region": "a region name such as us-east-1",
            "os_policy": ", ".join(OS_POLICIES),
        }
        raise UnusableOption(
            f"--{field.replace('_', '-')}: found {error.get('input')!r}; allowed: "
            f"{allowed.get(field, 'see ads plan --help')}"
        ) from None


def run_plan(args: argparse.Namespace) -> int:
    try:
        config = get_config()
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    try:
        options = _options(args, config)
    except UnusableOption as exc:
        raise _fail(str(exc)) from None
    try:
        source, name = read_labspec_argument(args.labspec)
    except UnreadableLabspec as exc:
        raise _fail(str(exc)) from None
    try:
        plan = plan_from_labspec_source(source, options, config.allowed_instance_types or None)
    except InvalidInputError as exc:
        problems = " | ".join(str(p) for p in exc.problems) or exc.message
        raise _fail(f"invalid labspec {name}: {problems}") from None
    if args.region is not None:
        plan = plan.model_copy(update={"warnings": [*plan.warnings, WHAT_IF_REGION % plan.region]})
    if args.as_json:
        text = json.dumps(plan.model_dump(mode="json"), indent=2, ensure_ascii=False)
    else:
        text = render_plan(plan.model_dump(mode="json"))
    print(text)
    return exit_codes.OK
