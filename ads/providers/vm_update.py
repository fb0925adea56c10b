"""Updating a lab in place on its VM: what a provider is asked and what it answers.

Both providers run the agent's ``update`` command (:mod:`ads_agent.update`) on the VM:
the ``ec2`` provider through SSM Run Command (:mod:`ads.providers.ec2_update`), the
``local`` provider in the lab's sandbox (:mod:`ads.providers.local_update`). The agent
ends its standard output with ``ADS-UPDATE-RESULT {json}``: the outcome, the revision
it deployed or tried and the previous one, the failed step and the causes.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ads.providers.base import InitState, StepError

# The agent's marker (ads_agent.update.RESULT_PREFIX; a test ties the two).
RESULT_PREFIX = "ADS-UPDATE-RESULT "


class UpdateInProgress(StepError):
    """The update was sent to the VM and has not ended. Retried by the state machine."""


class VmUpdateRequest(BaseModel):
    """What the agent's update needs: the repository, the ref, and a new plan if any."""

    model_config = ConfigDict(extra="forbid")

    source_git: str
    source_ref: str | None = None
    plan: dict[str, Any] | None = None
    requester_uid: int | None = Field(default=None, ge=0)


class UpdateStatus(BaseModel):
    model_config = ConfigDict(extra="ignore")

    state: InitState
    exit_code: int | None = None
    output_tail: str = ""
    detail: str = ""
    # The agent's outcome document; None when it never reported one (killed, not run).
    result: dict[str, Any] | None = None


def parse_update_result(text: str) -> dict[str, Any] | None:
    """The agent's outcome document: the last ``ADS-UPDATE-RESULT`` line of ``text``."""
    for line in reversed(text.splitlines()):
        if line.startswith(RESULT_PREFIX):
            try:
                document = json.loads(line[len(RESULT_PREFIX) :])
            except ValueError:
                return None
            return document if isinstance(document, dict) else None
    return None
