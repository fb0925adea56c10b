"""A lab's workflow executions, summarised: one row per state visit, causes kept short.

``ads history`` and ``GET /labs/{lab_id}/history`` show these summaries; the full event
history stays in the Step Functions console (each summary links to it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from ads.api_models import (
    ExecutionSummary,
    LabHistory,
    StateError,
    StateSummary,
    StatusChangeView,
)
from ads.deployment_context import DeploymentContext, readable_record
from ads.executions import (
    WorkflowUnavailableError,
    console_url,
    destroy_arns,
    error_code,
    http_status_for,
)
from ads.lab_record import iso

# Step Functions keeps up to 25,000 events per execution; a summary needs far fewer and
# the API answer must stay small.
MAX_HISTORY_EVENTS = 2000
MAX_CAUSE_CHARS = 1000

_ATTEMPT_EVENTS = ("TaskScheduled", "LambdaFunctionScheduled", "ActivityScheduled")
_FAILURE_EVENTS = {
    "TaskFailed": "taskFailedEventDetails",
    "TaskTimedOut": "taskTimedOutEventDetails",
    "TaskStartFailed": "taskStartFailedEventDetails",
    "TaskSubmitFailed": "taskSubmitFailedEventDetails",
    "LambdaFunctionFailed": "lambdaFunctionFailedEventDetails",
    "LambdaFunctionTimedOut": "lambdaFunctionTimedOutEventDetails",
    "LambdaFunctionStartFailed": "lambdaFunctionStartFailedEventDetails",
    "ActivityFailed": "activityFailedEventDetails",
    "ActivityTimedOut": "activityTimedOutEventDetails",
}
_EXECUTION_END = {
    "ExecutionSucceeded": None,
    "ExecutionFailed": "executionFailedEventDetails",
    "ExecutionAborted": "executionAbortedEventDetails",
    "ExecutionTimedOut": "executionTimedOutEventDetails",
}


def _when(value: Any) -> str | None:
    if isinstance(value, datetime):
        return iso(value)
    return str(value) if value else None


def _readable_cause(cause: str | None) -> str | None:
    """A Lambda's cause is a JSON document with a stack trace: keep the message."""
    if not cause:
        return None
    try:
        parsed = json.loads(cause)
        if isinstance(parsed, dict) and parsed.get("errorMessage"):
            cause = str(parsed["errorMessage"])
    except (ValueError, TypeError):
        pass
    return cause if len(cause) <= MAX_CAUSE_CHARS else cause[: MAX_CAUSE_CHARS - 3] + "..."


def _state_error(details: dict[str, Any] | None) -> StateError | None:
    if not details:
        return None
    return StateError(error=details.get("error"), cause=_readable_cause(details.get("cause")))


StateStatus = Literal["SUCCEEDED", "FAILED", "RUNNING", "RETRYING"]
ExecutionKind = Literal["deploy", "destroy"]


@dataclass
class _StateVisit:
    """One visit of a state while the history is read; becomes a StateSummary."""

    name: str
    entered_at: Any
    status: StateStatus = "RUNNING"
    exited_at: Any = None
    attempts: int = 0
    error: StateError | None = None
    last_failed: bool = False

    def close(self, at: Any, status: StateStatus) -> None:
        self.status = status
        self.exited_at = at

    def summary(self) -> StateSummary:
        duration = None
        if isinstance(self.entered_at, datetime) and isinstance(self.exited_at, datetime):
            duration = int((self.exited_at - self.entered_at).total_seconds() * 1000)
        return StateSummary(
            name=self.name,
            status=self.status,
            entered=_when(self.entered_at),
            exited=_when(self.exited_at),
            duration_ms=duration,
            attempts=self.attempts,
            error=self.error,
        )


@dataclass
class _HistoryReader:
    """Reads history events in order, one handler per kind of event that matters."""

    visits: list[_StateVisit] = field(default_factory=list)
    execution_error: StateError | None = None

    def read(self, event: dict[str, Any]) -> None:
        kind = event.get("type", "")
        at = event.get("timestamp")
        if kind.endswith("StateEntered"):
            self._entered(kind, event, at)
        elif kind.endswith("StateExited"):
            self._exited(event, at)
        elif kind in _ATTEMPT_EVENTS and self.visits:
            self._attempted()
        elif kind in _FAILURE_EVENTS and self.visits:
            self._attempt_failed(event.get(_FAILURE_EVENTS[kind]))
        elif kind in _EXECUTION_END:
            self._execution_ended(kind, event, at)

    def _entered(self, kind: str, event: dict[str, Any], at: Any) -> None:
        name = (event.get("stateEnteredEventDetails") or {}).get("name", "?")
        visit = _StateVisit(name=name, entered_at=at)
        self.visits.append(visit)
        if kind == "FailStateEntered":
            visit.close(at, "FAILED")

    def _exited(self, event: dict[str, Any], at: Any) -> None:
        name = (event.get("stateExitedEventDetails") or {}).get("name", "?")
        open_visits = [v for v in self.visits if v.name == name and v.exited_at is None]
        if open_visits:
            visit = open_visits[-1]
            visit.close(at, "FAILED" if visit.last_failed else "SUCCEEDED")

    def _attempted(self) -> None:
        visit = self.visits[-1]
        visit.attempts += 1
        visit.last_failed = False
        visit.status = "RUNNING"

    def _attempt_failed(self, details: dict[str, Any] | None) -> None:
        visit = self.visits[-1]
        visit.error = _state_error(details)
        visit.last_failed = True
        visit.status = "RETRYING"

    def _execution_ended(self, kind: str, event: dict[str, Any], at: Any) -> None:
        details_key = _EXECUTION_END[kind]
        if details_key:
            self.execution_error = _state_error(event.get(details_key)) or StateError(error=kind)
        for visit in self.visits:
            if visit.exited_at is None:
                visit.close(at, "FAILED" if details_key is not None else "SUCCEEDED")
        last = self.visits[-1] if self.visits else None
        if last and self.execution_error and last.error is None and last.status == "FAILED":
            last.error = self.execution_error


def summarise_states(events: list[dict[str, Any]]) -> tuple[list[StateSummary], StateError | None]:
    """Turn Step Functions history events into one row per state visit.

    A state is RUNNING until it exits, RETRYING while its last attempt failed and the
    Retry waits, FAILED when it exits (caught) or the execution ends after a failed
    attempt, SUCCEEDED otherwise.
    """
    reader = _HistoryReader()
    for event in events:
        reader.read(event)
    return [visit.summary() for visit in reader.visits], reader.execution_error


def _history_events(ctx: DeploymentContext, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    paginator = ctx.stepfunctions.get_paginator("get_execution_history")
    for page in paginator.paginate(executionArn=execution_arn, includeExecutionData=False):
        events.extend(page.get("events", []))
        if len(events) >= MAX_HISTORY_EVENTS:
            break
    return events[:MAX_HISTORY_EVENTS]


def summarise_execution(
    ctx: DeploymentContext, kind: ExecutionKind, execution_arn: str
) -> ExecutionSummary:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        described = ctx.stepfunctions.describe_execution(executionArn=execution_arn)
        events = _history_events(ctx, execution_arn)
    except ClientError as exc:
        code = error_code(exc)
        if code == "ExecutionDoesNotExist":
            return ExecutionSummary(
                kind=kind,
                execution_arn=execution_arn,
                status="UNKNOWN",
                console_url=console_url(execution_arn),
            )
        raise WorkflowUnavailableError(
            f"could not read the execution history of {execution_arn}: "
            f"Step Functions answered {code}",
            http_status=http_status_for(code),
        ) from exc
    except BotoCoreError as exc:
        raise WorkflowUnavailableError(
            f"could not read the execution history: Step Functions is unreachable ({exc})",
            http_status=503,
        ) from exc
    states, error = summarise_states(events)
    if error is None and (described.get("error") or described.get("cause")):
        error = _state_error(described)
    return ExecutionSummary(
        kind=kind,
        execution_arn=execution_arn,
        status=described.get("status", "UNKNOWN"),
        started=_when(described.get("startDate")),
        stopped=_when(described.get("stopDate")),
        console_url=console_url(execution_arn),
        error=error,
        states=states,
    )


def lab_history(ctx: DeploymentContext, lab_id: str, *, caller: str) -> dict[str, Any]:
    """The lab's status changes and a summary of each of its workflow executions."""
    record = readable_record(ctx, lab_id, caller, assigned=True)
    executions: list[ExecutionSummary] = []
    if record.execution_arn:
        executions.append(summarise_execution(ctx, "deploy", record.execution_arn))
    if record.destroy_execution_arn:
        for arn in destroy_arns(lab_id, record.destroy_execution_arn):
            executions.append(summarise_execution(ctx, "destroy", arn))
    history = LabHistory(
        lab_id=lab_id,
        status_history=[
            StatusChangeView.model_validate(c.model_dump(mode="json"))
            for c in record.status_history
        ],
        executions=executions,
    )
    return history.model_dump(mode="json")
