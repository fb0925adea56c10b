"""The part of the workflow state every step handler reads.

The state machines pass their whole state; a step only needs the lab id (everything
durable lives in the lab record). ``execution_id`` is optional and only feeds the logs.
``vm_name`` names one VM of a lab of several VMs (the cluster path's Map states): the
step then works on that VM's entry (:mod:`ads.cluster_steps`).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ads.cluster_model import VM_NAME_PATTERN


class StepInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    lab_id: str = Field(min_length=1, max_length=64)
    execution_id: str | None = None
    vm_name: str | None = Field(default=None, pattern=VM_NAME_PATTERN)
