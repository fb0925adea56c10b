"""The one error every ADS API call raises: what failed, the HTTP status and answer, and
the exit code scripts rely on."""

from __future__ import annotations

from typing import Any

from ads.cli import exit_codes
from ads.cli.exit_codes import CommandError
from ads.cli.retries import is_transient
from ads.errors import FieldProblem


class ApiError(CommandError):
    """A failed call to the ADS API (or no way to make one): HTTP status and answer kept."""

    code = "api_error"

    def __init__(
        self,
        message: str,
        *,
        exit_code: int,
        http_status: int | None = None,
        problems: list[FieldProblem] | None = None,
        body: Any = None,
        failure: str | None = None,
    ) -> None:
        super().__init__(message, exit_code=exit_code, problems=problems)
        self.status = http_status
        self.body = body
        # Without an answer: "timeout", "reset" or "refused" (nothing listens).
        self.failure = failure

    @property
    def transient(self) -> bool:
        error = self.body.get("error") if isinstance(self.body, dict) else None
        return is_transient(self.status, error, self.failure)


# The API's error codes of a quota's refusal (ads.quotas).
QUOTA_ERRORS = frozenset({"quota_exceeded", "instance_type_not_allowed", "quota_unpriced"})


# A lease beyond the maximum, or no expiry asked by a non-admin (ads.lease_terms): the
# request is wrong, not the credentials.
LEASE_ERRORS = frozenset({"lease_refused"})


def exit_code_for_status(status: int, error: str | None = None) -> int:
    if error in QUOTA_ERRORS:
        return exit_codes.QUOTA
    if error in LEASE_ERRORS:
        return exit_codes.INVALID_INPUT
    if status == 400:
        return exit_codes.INVALID_INPUT
    if status == 404:
        return exit_codes.NOT_FOUND
    if status == 409:
        return exit_codes.CONFLICT
    if status in (401, 403):
        return exit_codes.UNREACHABLE
    return exit_codes.FAILED
