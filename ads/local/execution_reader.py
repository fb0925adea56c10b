"""Reading a Step Functions execution of the local plane: waiting for its end, its event
history, the transitions it cost and the states it entered (tests and benchmarks)."""

from __future__ import annotations

import time
from typing import Any

from ads.local.usage import TransitionCount

FINISHED = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


def wait_for_execution(sfn: Any, execution_arn: str, timeout: float = 120.0) -> dict[str, Any]:
    """``describe_execution`` once the execution is no longer RUNNING."""
    deadline = time.monotonic() + timeout
    while True:
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] in FINISHED:
            return dict(described)
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"execution {execution_arn} still {described['status']} after {timeout}s"
            )
        time.sleep(0.05)


def execution_history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        events.extend(page["events"])
    return events


def state_transitions(events: list[dict[str, Any]]) -> TransitionCount:
    entered = sum(1 for e in events if e["type"].endswith("StateEntered"))
    task_entries = sum(1 for e in events if e["type"] == "TaskStateEntered")
    scheduled = sum(1 for e in events if e["type"] == "TaskScheduled")
    return TransitionCount(states_entered=entered, retries=max(0, scheduled - task_entries))


def states_entered(events: list[dict[str, Any]]) -> list[str]:
    """Names of the states an execution entered, in order."""
    return [
        e["stateEnteredEventDetails"]["name"] for e in events if e["type"].endswith("StateEntered")
    ]
