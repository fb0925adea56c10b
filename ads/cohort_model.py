"""Cohorts' request, record and answers: the contract of ``/cohorts`` (:mod:`ads.cohorts`).

A cohort is one request for a lab per member of a class: the same labspec and source for
everyone, each lab owned by the requester and assigned to its member. The cohort's own
record keeps who the members are and which lab each one got; each lab's status is read
from the lab's record, so the cohort never disagrees with its labs.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ads.api_models import DeploymentOptions, LabSource, labspec_size

COHORT_PREFIX = "cohort#"
COURSE_PATTERN = r"^[\w\s.:/=+\-@]*$"
# What a member line or entry may name: an IAM user, role, or an STS session of a role.
MEMBER_ALLOWED = (
    "an IAM principal ARN: arn:<partition>:iam::<account>:user/<name>, "
    "arn:<partition>:iam::<account>:role/<name> or "
    "arn:<partition>:sts::<account>:assumed-role/<role>/<session>"
)


class CohortMember(BaseModel):
    """One member of the class: who the lab is assigned to."""

    model_config = ConfigDict(extra="forbid")

    principal: str = Field(min_length=1, max_length=2048, description=MEMBER_ALLOWED)
    name: str | None = Field(
        default=None, min_length=1, max_length=128, description="a display name (optional)"
    )


class CohortRequest(BaseModel):
    """Body of ``POST /cohorts``: what ``POST /labs`` takes, for every member."""

    model_config = ConfigDict(extra="forbid")

    labspec: dict[str, Any] = Field(description="the labspec document, as for POST /labs")
    source: LabSource | None = None
    options: DeploymentOptions = Field(default_factory=DeploymentOptions)
    members: list[CohortMember] = Field(
        min_length=1, description="one lab per member (at most the configured cohort size)"
    )
    lease: str | None = Field(
        default=None, max_length=16, description="each lab's lease, as for POST /labs"
    )
    course: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        pattern=COURSE_PATTERN,
        description="the course: every lab's resources carry it as the ads:course tag",
    )
    reuse_image: bool = Field(
        default=False,
        description="each lab as POST /labs' reuse_image: the first labs built are kept as "
        "the image the later ones start from",
    )
    dry_run: bool = Field(
        default=False,
        description="only the cohort's plan (cost, quotas): nothing is created (200)",
    )

    def labspec_bytes(self) -> int:
        return labspec_size(self.labspec)


class MemberLab(BaseModel):
    """One member as the cohort's record keeps it."""

    model_config = ConfigDict(extra="ignore")

    principal: str
    name: str | None = None
    lab_id: str | None = None
    # "created": the lab exists; "refused": it could not be created (cause says why).
    state: str = "created"
    cause: str | None = None
    round: int = 1


class CohortRecord(BaseModel):
    """The cohort's item in the labs table (key ``cohort#<cohort_id>``, no ``owner``
    attribute, so the lab listings never see it)."""

    model_config = ConfigDict(extra="ignore")

    cohort_id: str
    cohort_owner: str
    created_at: str
    updated_at: str
    lab_name: str = ""
    course: str | None = None
    lease: str | None = None
    labspec: dict[str, Any] = Field(default_factory=dict)
    source: dict[str, Any] | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    hourly_usd_per_lab: float | None = None
    members: list[MemberLab] = Field(default_factory=list)
    # One DeployCohort execution per round (the first request, then each retry that added
    # members); ``version`` guards concurrent retries.
    execution_arns: list[str] = Field(default_factory=list)
    version: int = 1


class MemberView(BaseModel):
    principal: str
    name: str | None = None
    lab_id: str | None = None
    status: str = Field(description="the lab's status; REFUSED when it was never created")
    endpoint: str | None = None
    app_url: str | None = None
    failed_step: str | None = None
    cause: str | None = None


class CohortView(BaseModel):
    """Answer of ``GET /cohorts/{cohort_id}`` and (202) ``POST /cohorts``."""

    cohort_id: str
    owner: str
    lab_name: str = ""
    course: str | None = None
    lease: str | None = None
    created_at: str
    members: list[MemberView]
    counts: dict[str, int] = Field(description="how many members' labs are in each status")
    hourly_usd_per_lab: float | None = None
    total_hourly_usd: float | None = None
    execution_arns: list[str] = Field(default_factory=list)
    added: list[str] = Field(
        default_factory=list, description="the members this request added (POST only)"
    )
    idempotent_replay: bool = Field(
        default=False, description="true when the same request made this cohort before"
    )


class CohortSummary(BaseModel):
    cohort_id: str
    owner: str
    lab_name: str = ""
    course: str | None = None
    created_at: str
    members: int


class CohortPage(BaseModel):
    """Answer of ``GET /cohorts``."""

    cohorts: list[CohortSummary]
    next_token: str | None = None


class CohortPlan(BaseModel):
    """Answer of ``POST /cohorts`` with ``dry_run``: the plan, before anything is created."""

    members: int
    plan: dict[str, Any] = Field(description="each lab's plan, as POST /plans answers it")
    hourly_usd_per_lab: float | None = None
    total_hourly_usd: float | None = Field(
        default=None, description="what the whole cohort costs per hour while it runs"
    )
    quota: dict[str, Any] | None = Field(
        default=None, description="whether the whole cohort fits the owner's quotas now"
    )


class CohortRenewal(BaseModel):
    """Body of ``POST /cohorts/{cohort_id}/lease``."""

    model_config = ConfigDict(extra="forbid")

    duration: str = Field(min_length=1, max_length=16, description="30m, 4h, 2d (each lab)")


class MemberOutcome(BaseModel):
    principal: str
    lab_id: str | None = None
    status: str | None = None
    error: str | None = Field(default=None, description="why this member's lab was not changed")


class CohortOperation(BaseModel):
    """Answer of ``DELETE /cohorts/{cohort_id}`` (202) and its lease renewal (200)."""

    cohort_id: str
    operation: str = Field(description="destroy or renew")
    members: list[MemberOutcome]
