"""Record Cohort Deployed: DeployCohort's last step puts ``Cohort Deployed``."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from ads import steps
from ads.cohort_events import record_cohort_deployed
from ads.config import get_config
from ads.observability import logger, publish_metrics


class RecordCohortInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    cohort_id: str = Field(min_length=1, max_length=64)
    execution_id: str | None = None


def run(event: dict[str, Any], _context: LambdaContext) -> dict[str, Any]:
    request = RecordCohortInput.model_validate(event)
    deps = steps.dependencies_for(get_config())
    logger.append_keys(cohort_id=request.cohort_id, execution_id=request.execution_id)
    return record_cohort_deployed(
        deps.repository, deps.publisher, request.cohort_id, request.execution_id
    )


handler = logger.inject_lambda_context(publish_metrics(run), clear_state=True)
