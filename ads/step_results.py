"""What each workflow step returns: the small, strict documents the state machine passes on.

A step's result becomes its task state's output (``ResultPath`` in the ASL), so a field
here is part of the contract with ``statemachine/*.asl.json``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class StepResult(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateVmResult(StepResult):
    vm_id: str
    provider: str
    agent_port: int
    # Lab images (ads.image_steps): the image the VM started from, and whether the
    # workflow keeps one once the lab is READY.
    from_image: str | None = None
    keep_image: bool = False


class WaitRunningResult(StepResult):
    state: str
    private_ip: str | None
    endpoint: str


class InitVmResult(StepResult):
    command_id: str
    state: Literal["success"] = "success"


class ShareFactsResult(StepResult):
    """Share Cluster Facts: the facts reached every VM of the cluster (``command_id``: the
    delivery command, None when the provider wrote them at once)."""

    command_id: str | None
    vms: int
    state: Literal["delivered"] = "delivered"


class HealthCheckResult(StepResult):
    healthy: bool
    url: str
    status_code: int
    agent_version: str | None = None
    # The commit the agent reports the lab's checkout at (git sources), recorded as the
    # lab's first revision.
    revision: str | None = None
    # Check Health of DeployLab moved the lab to READY (Mark Ready then only publishes).
    ready_recorded: bool = False


class DestroyVmResult(StepResult):
    vm_id: str | None
    state: str


class RecordStatusResult(StepResult):
    lab_id: str
    status: str
    changed: bool
    event_published: bool = False
    # FAILED / DESTROYING: the cause as a person reads it, for the workflow's Fail state
    # (the caught error's own Cause is a Lambda's raw JSON error document).
    cause: str | None = None


class KeepImageResult(StepResult):
    """Keep Lab Image / Wait For Lab Image / Lab Image Not Kept: the image and its state
    (``pending``: the workflow waits for it; anything else ends the execution)."""

    image_id: str | None = None
    state: Literal["skipped", "exists", "creating", "pending", "available", "failed"]
    reason: str | None = None
