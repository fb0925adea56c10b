"""The part of the workflow state every step handler reads.

The state machines pass their whole state; a step only needs the lab id (everything
durable lives in the lab record). ``execution_id`` is optional and only feeds the logs.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class StepInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    lab_id: str = Field(min_length=1, max_length=64)
    execution_id: str | None = None
