"""Entry point of the `ads` command: builds the parser from the subcommand modules.

Each subcommand module exposes ``register(subparsers)`` and sets ``func`` on its parser;
``func(args)`` returns an exit code from :mod:`ads.cli.exit_codes`, or raises
:class:`~ads.cli.exit_codes.CommandError`. Whatever the command, its errors leave here:
printed in the same shape, a closed output pipe ends it quietly with 141, Ctrl-C with 130.
"""

from __future__ import annotations

import argparse
import io
import os
import sys

from ads import __version__
from ads.cli import (
    action_cmds,
    cohort_cmd,
    connect_cmd,
    cost_cmd,
    exit_codes,
    images_cmd,
    lab_cmds,
    lease_cmd,
    local_cmds,
    logs_cmd,
    plan_cmd,
    power_cmds,
    redeploy_cmd,
    sweep_cmd,
)
from ads.errors import AdsError, InvalidInputError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ads",
        description="ADS, the Auto Deployment Service: plan, deploy and destroy labs.",
    )
    parser.add_argument("--version", action="version", version=f"ads {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (
        plan_cmd,
        lab_cmds,
        lease_cmd,
        power_cmds,
        action_cmds,
        logs_cmd,
        redeploy_cmd,
        cost_cmd,
        sweep_cmd,
        images_cmd,
        cohort_cmd,
        connect_cmd,
        local_cmds,
    ):
        module.register(subparsers)
    return parser


def _discard_stdout() -> None:
    # Whoever read our output is gone (`ads list | head -1`): without this, the flush
    # at interpreter exit fails again and prints a traceback after all.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives until the process exits


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return exit_codes.INVALID_INPUT
    try:
        code = int(args.func(args))
        # Flushed here, not at interpreter exit, so a reader gone early is seen below.
        sys.stdout.flush()
        return code
    except exit_codes.CommandError as exc:
        exit_codes.report_error(exc.message, exc.problems, exc.cause)
        return exc.exit_code
    except KeyboardInterrupt:
        print("ads: interrupted", file=sys.stderr)
        return exit_codes.INTERRUPTED
    except BrokenPipeError:
        _discard_stdout()
        return exit_codes.BROKEN_PIPE
    except AdsError as exc:
        print(f"ads: error: {exc.message}", file=sys.stderr)
        invalid = isinstance(exc, InvalidInputError)
        return exit_codes.INVALID_INPUT if invalid else exit_codes.FAILED


if __name__ == "__main__":
    sys.exit(main())
