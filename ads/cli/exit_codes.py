"""Exit codes of the `ads` command, and the one error that ends a command with one.

Scripts may rely on the codes; docs/cli.md lists them. A command that fails raises
:class:`CommandError`; ``ads.cli.main.main`` prints it (one ``ads: error: ...`` line on
stderr, the field problems and a cause below it) and returns its code.
"""

from __future__ import annotations

import sys

from ads.errors import AdsError, FieldProblem

OK = 0
FAILED = 1  # the operation ran and the lab ended FAILED (or the demo did not complete)
INVALID_INPUT = 2  # bad arguments or an invalid labspec / request (HTTP 400)
NOT_FOUND = 3  # unknown lab (HTTP 404)
CONFLICT = 4  # illegal state change, e.g. destroying a lab twice (HTTP 409)
UNREACHABLE = 5  # no endpoint configured, endpoint unreachable, or credentials refused
TIMEOUT = 6  # --wait gave up before the lab reached a final status
# a quota refused the request (HTTP 429 quota_exceeded; 403 instance_type_not_allowed or
# quota_unpriced): nothing was created
QUOTA = 7
INTERRUPTED = 130  # Ctrl-C
# the reader of the output went away (`ads list | head -1`), as a shell reports SIGPIPE
BROKEN_PIPE = 141


class CommandError(AdsError):
    """A failure of an `ads` command, with the exit code it ends with.

    ``problems`` are listed below the message; ``cause`` (a failed lab's cause, possibly
    several lines) is shown after them, indented."""

    code = "command_error"

    def __init__(
        self,
        message: str,
        *,
        exit_code: int,
        problems: list[FieldProblem] | None = None,
        cause: str | None = None,
    ) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.problems = list(problems or [])
        self.cause = (cause or "").strip() or None


def report_error(
    message: str, problems: list[FieldProblem] | None = None, cause: str | None = None
) -> None:
    """Print an error as every command does: one line, then what details it has."""
    print(f"ads: error: {message}", file=sys.stderr)
    problems = list(problems or [])
    # A lone problem the message already spells out would only be printed twice.
    if not all(str(problem) in message for problem in problems):
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
    if cause:
        print("cause:", file=sys.stderr)
        for line in cause.splitlines():
            print(f"  {line}", file=sys.stderr)
