"""A lab's workflow executions, summarised: one row per state visit, causes kept short.

``ads history`` and ``GET /labs/{lab_id}/history`` show these summaries; the full event
history stays in the Step Functions console (each summary links to it).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from ads.api_models import ExecutionSummary, LabHistory, StateError, StateSummary
from ads.deployment_context import DeploymentContext, readable_record
from ads.executions import (
    WorkflowUnavailableError,
    console_url,
    destroy_arns,
    error_code,
    http_status_for,
)
from ads.records import iso

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


def summarise_states(events: list[dict[str, Any]]) -> tuple[list[StateSummary], StateError | None]:
    """Turn Step Functions history events into one row per state visit.

    A state is RUNNING until it exits, RETRYING while its last attempt failed and the
    Retry waits, FAILED when it exits (caught) or the execution ends after a failed
    attempt, SUCCEEDED otherwise.
    """
    rows: list[dict[str, Any]] = []
    execution_error: StateError | None = None

    def close(row: dict[str, Any], at: Any, status: str) -> None:
        row["status"] = status
        row["exited_at"] = at

    for event in events:
        kind = event.get("type", "")
        at = event.get("timestamp")
        if kind.endswith("StateEntered"):
            name = (event.get("stateEnteredEventDetails") or {}).get("name", "?")
            row = {
                "name": name,
                "status": "RUNNING",
                "entered_at": at,
                "exited_at": None,
                "attempts": 0,
                "error": None,
                "last_failed": False,
            }
            rows.append(row)
            if kind == "FailStateEntered":
                close(row, at, "FAILED")
        elif kind.endswith("StateExited"):
            name = (event.get("stateExitedEventDetails") or {}).get("name", "?")
            open_rows = [r for r in rows if r["name"] == name and r["exited_at"] is None]
            if open_rows:
                row = open_rows[-1]
                close(row, at, "FAILED" if row["last_failed"] else "SUCCEEDED")
        elif kind in _ATTEMPT_EVENTS and rows:
            rows[-1]["attempts"] += 1
            rows[-1]["last_failed"] = False
            rows[-1]["status"] = "RUNNING"
        elif kind in _FAILURE_EVENTS and rows:
            rows[-1]["error"] = _state_error(event.get(_FAILURE_EVENTS[kind]))
            rows[-1]["last_failed"] = True
            rows[-1]["status"] = "RETRYING"
        elif kind in _EXECUTION_END:
            details_key = _EXECUTION_END[kind]
            if details_key:
                execution_error = _state_error(event.get(details_key)) or StateError(error=kind)
            for row in rows:
                if row["exited_at"] is None:
                    ended_badly = details_key is not None
                    close(row, at, "FAILED" if ended_badly else "SUCCEEDED")
            if (
                rows
                and execution_error
                and rows[-1]["error"] is None
                and rows[-1]["status"] == "FAILED"
            ):
                rows[-1]["error"] = execution_error

    summaries = []
    for row in rows:
        entered, exited = row["entered_at"], row["exited_at"]
        duration = None
        if isinstance(entered, datetime) and isinstance(exited, datetime):
            duration = int((exited - entered).total_seconds() * 1000)
        summaries.append(
            StateSummary(
                name=row["name"],
                status=row["status"],
                entered=_when(entered),
                exited=_when(exited),
                duration_ms=duration,
                attempts=row["attempts"],
                error=row["error"],
            )
        )
    return summaries, execution_error


def _history_events(ctx: DeploymentContext, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    paginator = ctx.stepfunctions.get_paginator("get_execution_history")
    for page in paginator.paginate(executionArn=execution_arn, includeExecutionData=False):
        events.extend(page.get("events", []))
        if len(events) >= MAX_HISTORY_EVENTS:
            break
    return events[:MAX_HISTORY_EVENTS]


def summarise_execution(ctx: DeploymentContext, kind: str, execution_arn: str) -> ExecutionSummary:
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
    record = readable_record(ctx, lab_id, caller)
    executions: list[ExecutionSummary] = []
    if record.execution_arn:
        executions.append(summarise_execution(ctx, "deploy", record.execution_arn))
    if record.destroy_execution_arn:
        for arn in destroy_arns(lab_id, record.destroy_execution_arn):
            executions.append(summarise_execution(ctx, "destroy", arn))
    history = LabHistory(
        lab_id=lab_id,
        status_history=[c.model_dump(mode="json") for c in record.status_history],
        executions=executions,
    )
    return history.model_dump(mode="json")
