"""``GET /labs/{lab_id}/logs``: the output of a lab's deploy steps and actions, from its VM.

The provider runs the agent's ``logs`` command on the VM (:mod:`ads.providers.vm_logs`);
this module checks what is asked against the lab's plan, pages by ``next_token`` (the
byte offset in the run's output, opaque to the caller) and bounds each answer.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ads.deployment_context import DeploymentContext, readable_record
from ads.errors import AdsError, FieldProblem, InvalidInputError
from ads.lab_actions import defined_actions
from ads.lab_record import LabRecord, LabStatus

# Statuses in which the lab has no VM to read from.
NO_VM = (LabStatus.REQUESTED, LabStatus.DESTROYING, LabStatus.DESTROYED, LabStatus.FAILED)
MAX_PAGE_BYTES = 16_000
NAME_PATTERN = r"^[A-Za-z0-9_.-]+$"


class LogsQuery(BaseModel):
    step: str | None = Field(default=None, min_length=1, max_length=64, pattern=NAME_PATTERN)
    action: str | None = Field(default=None, min_length=1, max_length=64, pattern=NAME_PATTERN)
    limit: int = Field(default=MAX_PAGE_BYTES, ge=1, le=MAX_PAGE_BYTES)
    next_token: str | None = Field(default=None, max_length=64)


class LogStep(BaseModel):
    step: str | None
    exit_code: int | None


class LabLogs(BaseModel):
    """One page of a run's output: ``limit`` bytes at most, whole lines."""

    model_config = ConfigDict(extra="ignore")

    lab_id: str
    kind: str = Field(description="deploy or action")
    name: str = Field(description="'deploy', or the action's name")
    step: str | None = Field(default=None, description="the step asked for; null: every step")
    status: str | None = Field(description="running, succeeded or failed (the run's)")
    exit_code: int | None
    started: str | None = None
    ended: str | None = None
    steps: list[LogStep] = Field(default_factory=list)
    lines: list[str] = Field(default_factory=list)
    next_token: str | None = Field(
        default=None, description="more output (or the run goes on): ask again with it"
    )


class NoVmError(AdsError):
    code = "lab_has_no_vm"
    http_status = 409

    def __init__(self, lab_id: str, status: str) -> None:
        super().__init__(
            f"lab {lab_id!r} is {status}: it has no VM to read logs from", lab_id=lab_id,
            current=status,
        )  # fmt: skip


class UnknownRunError(AdsError):
    code = "logs_not_found"
    http_status = 404

    def __init__(self, lab_id: str, message: str, known: list[str]) -> None:
        super().__init__(
            f"lab {lab_id!r}: {message}; known: {', '.join(known) or 'none'}",
            lab_id=lab_id,
            known=known,
        )


class LogsUnavailableError(AdsError):
    code = "logs_unavailable"
    http_status = 503


def _offset(token: str | None) -> int:
    if token is None:
        return 0
    try:
        text = base64.urlsafe_b64decode(token.encode() + b"==").decode()
        if text.startswith("o:") and text[2:].isdigit():
            return int(text[2:])
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise InvalidInputError(
        [FieldProblem("next_token", token[:64], "a next_token from a previous answer")],
        subject="request",
    )


def _token(offset: int | None) -> str | None:
    if offset is None:
        return None
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def _check_names(record: LabRecord, query: LogsQuery) -> None:
    if query.action is not None:
        defined = defined_actions(record)
        if query.action not in defined:
            raise UnknownRunError(record.lab_id, f"defines no action {query.action!r}", defined)
    elif query.step is not None:
        steps = [str(s.get("name")) for s in record.plan.get("steps", []) if isinstance(s, dict)]
        if query.step not in steps:
            raise UnknownRunError(record.lab_id, f"its deploy has no step {query.step!r}", steps)


def read_lab_logs(
    ctx: DeploymentContext, lab_id: str, query: LogsQuery, *, caller: str, provider: Any = None
) -> dict[str, Any]:
    """One page of the output of ``query``'s step or action (every deploy step when neither)."""
    from ads.providers import get_provider
    from ads.providers.base import StepError
    from ads.providers.vm_logs import LogsRequest, UnknownLogs
    from ads.step_records import vm_of

    if query.step is not None and query.action is not None:
        raise InvalidInputError(
            [FieldProblem("step", query.step, "either step or action, not both")],
            subject="request",
        )
    record = readable_record(ctx, lab_id, caller, assigned=True)
    if record.status in NO_VM or not record.vm_id:
        raise NoVmError(lab_id, record.status.value)
    _check_names(record, query)
    request = LogsRequest(
        step=query.step, action=query.action, offset=_offset(query.next_token),
        max_bytes=query.limit,
    )  # fmt: skip
    provider = provider or get_provider(ctx.config)
    try:
        document = provider.read_logs(lab_id, vm_of(record), request)
    except UnknownLogs as exc:
        raise UnknownRunError(lab_id, f"no output kept yet ({exc})", exc.known) from None
    except StepError as exc:
        raise LogsUnavailableError(f"lab {lab_id!r}: logs cannot be read now: {exc}") from None
    answer = {
        **document,
        "lab_id": lab_id,
        "step": query.step,
        "next_token": _token(document.get("next_offset")),
    }
    return LabLogs.model_validate(answer).model_dump(mode="json")
