"""The lab record: what ADS knows about one lab, and the lifecycle its status follows.

Shared by everything that reads or reasons about a lab (the repository in
:mod:`ads.records`, the API, the steps, the local plane's recovery, metrics), so a
change to the lifecycle or a new field is made here, once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class LabStatus(StrEnum):
    REQUESTED = "REQUESTED"
    PROVISIONING = "PROVISIONING"
    INITIALIZING = "INITIALIZING"
    HEALTH_CHECKING = "HEALTH_CHECKING"
    READY = "READY"
    FAILED = "FAILED"
    DESTROYING = "DESTROYING"
    DESTROYED = "DESTROYED"
    # Power (ads.power_steps): READY -> STOPPING -> STOPPED -> STARTING -> HEALTH_CHECKING
    # -> READY, and READY -> RESTARTING -> HEALTH_CHECKING -> READY.
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"
    STARTING = "STARTING"
    RESTARTING = "RESTARTING"
    # A lab action (ads.action_steps): READY -> ACTING -> READY, whatever the action's exit.
    ACTING = "ACTING"
    # The health watch (ads.health_watch): READY -> DEGRADED after K failed checks ->
    # READY (recovered) | FAILED (unhealthy past the deadline); restart, actions and destroy
    # stay allowed while DEGRADED, stop does not.
    DEGRADED = "DEGRADED"
    # Update in place (ads.update_steps): READY -> UPDATING -> READY on the new revision,
    # or on the previous one restored; FAILED (VM destroyed) only when both fail.
    UPDATING = "UPDATING"


IN_PROGRESS = (
    LabStatus.REQUESTED,
    LabStatus.PROVISIONING,
    LabStatus.INITIALIZING,
    LabStatus.HEALTH_CHECKING,
)
FINAL = (LabStatus.READY, LabStatus.FAILED, LabStatus.DESTROYED)
# A power operation in flight (its workflow moves on from these; HEALTH_CHECKING is shared).
POWER_IN_PROGRESS = (LabStatus.STOPPING, LabStatus.STARTING, LabStatus.RESTARTING)

# For each status, the statuses a lab may move to it from (never backwards).
ALLOWED_FROM: dict[LabStatus, tuple[LabStatus, ...]] = {
    LabStatus.REQUESTED: (),
    LabStatus.PROVISIONING: (LabStatus.REQUESTED,),
    LabStatus.INITIALIZING: (LabStatus.REQUESTED, LabStatus.PROVISIONING),
    LabStatus.HEALTH_CHECKING: (
        LabStatus.PROVISIONING,
        LabStatus.INITIALIZING,
        LabStatus.STARTING,
        LabStatus.RESTARTING,
    ),
    LabStatus.READY: (
        LabStatus.HEALTH_CHECKING,
        LabStatus.ACTING,
        LabStatus.DEGRADED,
        LabStatus.UPDATING,
    ),
    LabStatus.FAILED: (
        *IN_PROGRESS,
        *POWER_IN_PROGRESS,
        LabStatus.DEGRADED,
        LabStatus.UPDATING,
    ),
    LabStatus.DESTROYING: (
        *IN_PROGRESS,
        *POWER_IN_PROGRESS,
        LabStatus.READY,
        LabStatus.FAILED,
        LabStatus.STOPPED,
        LabStatus.ACTING,
        LabStatus.DEGRADED,
        LabStatus.UPDATING,
    ),
    LabStatus.STOPPING: (LabStatus.READY,),
    LabStatus.STOPPED: (LabStatus.STOPPING,),
    LabStatus.STARTING: (LabStatus.STOPPED,),
    LabStatus.RESTARTING: (LabStatus.READY, LabStatus.DEGRADED),
    LabStatus.DESTROYED: (LabStatus.DESTROYING,),
    LabStatus.ACTING: (LabStatus.READY, LabStatus.DEGRADED),
    LabStatus.DEGRADED: (LabStatus.READY,),
    LabStatus.UPDATING: (LabStatus.READY,),
}


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


# A VM entry's SSM command ids: bookkeeping of the steps, kept out of the public view as
# the lab's own init_command_id is.
VM_BOOKKEEPING = frozenset({"init_command_id", "facts_command_id"})


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: LabStatus
    at: str
    note: str = ""


class LabRecord(BaseModel):
    """Everything ADS knows about one lab."""

    model_config = ConfigDict(extra="ignore")

    lab_id: str
    owner: str
    owner_group: str | None = None
    status: LabStatus = LabStatus.REQUESTED
    created_at: str
    updated_at: str
    lab_name: str = ""
    plan: dict[str, Any] = Field(default_factory=dict)
    labspec: dict[str, Any] = Field(default_factory=dict)
    source: dict[str, Any] | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    requested_by: str = "api"  # api | ci | cli
    # The OS uid of the local client that asked (kernel-asserted; local plane only).
    requester_uid: int | None = None
    provider: str = ""
    vm_id: str | None = None
    private_ip: str | None = None
    agent_port: int | None = None
    endpoint: str | None = None  # the agent's base URL once known
    app_url: str | None = None  # where the lab's own application answers, when known
    # How students reach the lab and the ports its application listens on (from the plan).
    access: str | None = None
    lab_ports: list[int] = Field(default_factory=list)
    vm_details: dict[str, Any] = Field(default_factory=dict)  # provider-specific facts
    # A lab of several VMs (plan["cluster"]): one entry per VM, keyed by its name
    # ({name, role, status, vm_id, provider, private_ip, agent_port, endpoint, app_url,
    # vm_details, init_command_id, failed_step, cause, updated_at}); the top-level VM
    # fields above mirror the entry VM. Empty for a lab of one VM.
    vms: dict[str, dict[str, Any]] = Field(default_factory=dict)
    init_command_id: str | None = None
    execution_arn: str | None = None
    destroy_execution_arn: str | None = None
    # The last stop/start/restart execution (ads.power).
    power_execution_arn: str | None = None
    # The lab action under way while ACTING, and the recent runs (ads.action_runs).
    action_in_progress: dict[str, Any] | None = None
    action_execution_arn: str | None = None
    action_runs: list[dict[str, Any]] = Field(default_factory=list)
    # Update in place (ads.revisions): the update under way while UPDATING, the deployed
    # revision (commit sha) and the history of revisions deployed, newest last.
    update_in_progress: dict[str, Any] | None = None
    update_execution_arn: str | None = None
    revision: str | None = None
    revisions: list[dict[str, Any]] = Field(default_factory=list)
    # What the health watch knows (ads.health_watch.HealthState); absent until a check fails.
    health: dict[str, Any] | None = None
    # What the lab holds against its owner's quotas until DESTROYED/FAILED (ads.quota_usage):
    # {"owner": ..., "hourly_usd": ...}; absent for a lab that was not counted.
    quota_hold: dict[str, Any] | None = None
    # The course or cohort the request named (a cost-allocation tag on its resources).
    course: str | None = None
    # A cohort's lab (ads.cohorts): the cohort, and the member it is assigned to (an IAM
    # principal ARN, with a display name): the member may read it, run its actions, stop,
    # start and renew it; the owner and admins keep every right.
    cohort_id: str | None = None
    assignee: str | None = None
    # The assignee's listing group (ads.identity.owner_group): a role's sessions list the
    # labs assigned to the role through the assignee-group index.
    assignee_group: str | None = None
    assignee_name: str | None = None
    # The DeployCohort execution that starts this lab's DeployLab when its turn comes: a
    # cohort lab waits REQUESTED meanwhile, and the sweep must not take it for stuck.
    cohort_execution_arn: str | None = None
    # The lease (ads.leases): {"requested", "expires_at" (ISO, None: never), "warn_at",
    # "warned_at", "renewed_at"}. Not ``expires_at`` below, which is DynamoDB's TTL of a
    # DESTROYED record and never set on a live lab.
    lease: dict[str, Any] | None = None
    # Working hours (ads.working_hours): {"spec", "days", "start", "end", "timezone"}.
    working_hours: dict[str, Any] | None = None
    failed_step: str | None = None
    cause: str | None = None
    status_history: list[StatusChange] = Field(default_factory=list)
    expires_at: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _access_from_plan(cls, data: Any) -> Any:
        # One source: the plan decided both; records written before they existed derive them.
        if isinstance(data, dict) and isinstance(data.get("plan"), dict):
            plan = data["plan"]
            if data.get("access") is None and plan.get("access"):
                data = {**data, "access": plan["access"]}
            if not data.get("lab_ports") and plan.get("lab_ports"):
                data = {**data, "lab_ports": list(plan["lab_ports"])}
        return data

    def public_view(self) -> dict[str, Any]:
        """The record as the API shows it (no internal bookkeeping)."""
        data = self.model_dump(
            mode="json", exclude={"labspec", "expires_at", "init_command_id", "quota_hold"}
        )
        data["vms"] = {
            name: {k: v for k, v in entry.items() if k not in VM_BOOKKEEPING}
            for name, entry in self.vms.items()
        }
        return data
