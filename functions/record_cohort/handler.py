"""Record Cohort Deployed: DeployCohort's last step puts ``Cohort Deployed``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ads import steps
from ads.cohort_events import record_cohort_deployed
from functions.step_handler import step_handler
from functions.step_input import StepInput


class RecordCohortInput(StepInput):
    """DeployCohort passes the cohort's id as ``lab_id`` too: the key every step's log
    lines carry (a cohort id has a lab id's shape)."""

    model_config = ConfigDict(extra="ignore")

    cohort_id: str = Field(min_length=1, max_length=64)


class RecordCohortResult(BaseModel):
    cohort_id: str
    counts: dict[str, int]
    event_published: bool


def record_cohort(request: RecordCohortInput, deps: steps.StepDependencies) -> RecordCohortResult:
    return RecordCohortResult.model_validate(
        record_cohort_deployed(
            deps.repository, deps.publisher, request.cohort_id, request.execution_id
        )
    )


handler = step_handler(record_cohort, model=RecordCohortInput)
