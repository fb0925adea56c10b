"""A lab action's run as the lab record keeps it (``action_in_progress``, ``action_runs``).

The record keeps the last :data:`RUNS_KEPT` runs, each with an output tail bounded by
:data:`OUTPUT_TAIL_LIMIT` characters: a DynamoDB item holds at most 400 KB, and the
record also carries the plan, the labspec and the status history.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

RUNS_KEPT = 20
OUTPUT_TAIL_LIMIT = 2000


class RunningAction(BaseModel):
    """What the ActionLab steps share while the lab is ACTING."""

    model_config = ConfigDict(extra="ignore")

    name: str
    requester: str
    started_at: str
    started_epoch: float
    execution_id: str | None = None
    command_id: str | None = None


class ActionRun(BaseModel):
    """One finished run: ``exit_code`` is None when the action never reported one
    (it could not be sent, or the VM went away); ``cause`` then says why."""

    model_config = ConfigDict(extra="ignore")

    name: str
    requester: str
    started_at: str
    duration_s: float
    exit_code: int | None = None
    succeeded: bool
    output_tail: str = ""
    cause: str | None = None
    execution_id: str | None = None
    command_id: str | None = None


def with_run(runs: list[dict[str, Any]], run: ActionRun) -> list[dict[str, Any]]:
    """``runs`` with ``run`` appended, the oldest dropped beyond :data:`RUNS_KEPT`."""
    entry = run.model_dump(mode="json")
    entry["output_tail"] = entry["output_tail"][-OUTPUT_TAIL_LIMIT:]
    return [*runs, entry][-RUNS_KEPT:]
