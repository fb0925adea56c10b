"""Errors a person can act on.

Every error ADS shows to a user derives from :class:`AdsError`. It carries a stable
``code`` (used by the API and the CLI to pick an HTTP status or an exit code) and a
message written for the person who has to fix the problem. No traceback reaches a user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class AdsError(Exception):
    """Base of every user-facing ADS error."""

    code = "ads_error"
    http_status = 500

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


@dataclass(frozen=True)
class FieldProblem:
    """One problem in an input document: where, what was found, what is allowed."""

    path: str
    found: str
    allowed: str

    def __str__(self) -> str:
        return f"{self.path}: found {self.found}; allowed: {self.allowed}"

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "found": self.found, "allowed": self.allowed}


@dataclass
class _Problems:
    items: list[FieldProblem] = field(default_factory=list)


class InvalidInputError(AdsError):
    """A request or document is wrong; ``problems`` says where and how to fix it."""

    code = "invalid_input"
    http_status = 400

    def __init__(self, problems: list[FieldProblem] | FieldProblem, *, subject: str = "input"):
        if isinstance(problems, FieldProblem):
            problems = [problems]
        self.problems = list(problems)
        self.subject = subject
        first = str(self.problems[0]) if self.problems else "invalid"
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(f"invalid {subject}: {first}{more}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "error": self.code,
            "message": self.message,
            "problems": [p.to_dict() for p in self.problems],
        }


class ConfigError(InvalidInputError):
    """An ADS_* environment variable (or another configuration value) cannot be used."""

    code = "invalid_configuration"
    http_status = 500  # the operator's mistake, not the caller's

    def __init__(self, problems: list[FieldProblem] | FieldProblem):
        super().__init__(problems, subject="ADS configuration")
        # An operator fixes every variable at once: name them all.
        self.message = "invalid ADS configuration: " + " | ".join(map(str, self.problems))
        self.args = (self.message,)


class LabspecError(InvalidInputError):
    """A labspec cannot be used. Raised by the labspec parser and the planner."""

    code = "invalid_labspec"

    def __init__(self, problems: list[FieldProblem] | FieldProblem):
        super().__init__(problems, subject="labspec")


class LabNotFoundError(AdsError):
    code = "lab_not_found"
    http_status = 404

    def __init__(self, lab_id: str):
        super().__init__(f"no lab with id {lab_id!r}", lab_id=lab_id)


class IllegalTransitionError(AdsError):
    """A lab status change that the lifecycle does not allow (e.g. destroying twice)."""

    code = "illegal_state_change"
    http_status = 409

    def __init__(self, lab_id: str, current: str | None, wanted: str, allowed_from: list[str]):
        super().__init__(
            f"lab {lab_id!r} is {current or 'absent'}; it can become {wanted} only from "
            f"{', '.join(allowed_from) or 'no status'}",
            lab_id=lab_id,
            current=current,
            wanted=wanted,
        )
        self.current = current
        self.wanted = wanted
