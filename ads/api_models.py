"""Request and response models of the ADS REST API (and of the CI events that reuse them).

These models are the API's contract: the handler validates requests with them, the
OpenAPI document in ``functions/api/openapi.json`` is generated from them, and the CLI
reads the answers they describe. Checks that need the configuration (which git URL
schemes the provider accepts) live in :mod:`ads.deployments`, so they apply to every
front door alike.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ads.cluster_model import VmStatus
from ads.lab import os_catalogue
from ads.lab.accrual import Accrual
from ads.lab.cost import LabCost
from ads.lab.os_catalogue import OsPolicy

# DynamoDB refuses items over 400 KB. The lab record keeps the labspec, and its plan
# repeats every command, next to the status history and the workflow's fields: a
# labspec of at most 128 KiB (as compact JSON) leaves that room. Real ones are a few KiB.
MAX_API_LABSPEC_BYTES = 128 * 1024
DYNAMODB_ITEM_LIMIT_BYTES = 400 * 1024
# A lab of several VMs keeps the plan of every VM: the labspec and the whole plan together
# may take what a largest labspec and its one-VM plan take.
MAX_RECORD_PLAN_BYTES = 2 * MAX_API_LABSPEC_BYTES


# A lab VM holds no SSH key (ADS provisions none, and a lab's commands could read one), so
# an SSH remote can never be cloned: refuse it when asked, not minutes later on the VM.
SSH_GIT_SOURCE = re.compile(r"^(ssh://|git\+ssh://|ssh\+git://|[A-Za-z0-9._-]+@[^\s/:]+:)")
SSH_NOT_SUPPORTED = (
    "ssh:// and git@host:path are not supported: a lab VM has no SSH key to clone with"
)
GIT_SOURCES_ALLOWED = (
    "an https:// git URL (a private repository: https://user:token@host/path), or an "
    f"archive as source.s3 (s3://bucket/key of a .tar.gz or .zip); {SSH_NOT_SUPPORTED}"
)


def is_ssh_remote(url: str) -> bool:
    return bool(SSH_GIT_SOURCE.match(url.strip()))


class LabSource(BaseModel):
    """Where the lab's sources come from: ``{git, ref?}`` or ``{s3}``."""

    model_config = ConfigDict(extra="forbid")

    git: str | None = Field(
        default=None,
        description="git URL: https:// (file:// and absolute paths only with the local "
        "provider); ssh:// and git@host:path are refused, a lab VM has no SSH key",
    )
    ref: str | None = Field(default=None, description="branch, tag or commit (git only)")
    s3: str | None = Field(default=None, description="s3://bucket/key of a .tar.gz or .zip")

    @field_validator("git")
    @classmethod
    def _no_ssh_remote(cls, value: str | None) -> str | None:
        if value is not None and is_ssh_remote(value):
            raise ValueError(GIT_SOURCES_ALLOWED)
        return value


class DeploymentOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    os_policy: OsPolicy | None = Field(
        default=None, description="how to treat an unsupported OS; default from configuration"
    )
    arch: str | None = Field(
        default=None, description="override the labspec's architecture (x86_64, arm64, x64, ...)"
    )
    region: str | None = Field(
        default=None,
        pattern=r"^[a-z]{2}(-[a-z]+)+-\d+$",
        description="AWS region to deploy in; default the control plane's region",
    )

    @field_validator("arch")
    @classmethod
    def _known_arch(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                os_catalogue.normalise_arch(value)
            except ValueError:
                raise ValueError(f"one of {os_catalogue.arch_spellings()}") from None
        return value


class DeploymentRequest(BaseModel):
    """Body of ``POST /labs`` (and the core of a CI ``Lab Deployment Requested`` event)."""

    model_config = ConfigDict(extra="forbid")

    labspec: dict[str, Any] = Field(
        description=f"the labspec document (template 1.0), at most {MAX_API_LABSPEC_BYTES} "
        "bytes as compact JSON"
    )
    source: LabSource | None = None
    options: DeploymentOptions = Field(default_factory=DeploymentOptions)
    course: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        pattern=r"^[\w\s.:/=+\-@]*$",
        description="the course or cohort the lab belongs to: its resources carry it as the "
        "ads:course cost-allocation tag (letters, digits, spaces and _ . : / = + - @)",
    )
    lease: str | None = Field(
        default=None,
        max_length=16,
        description="how long the lab may live before ADS destroys it: 30m, 4h, 2d (within "
        "the configured maximum; the configured default when absent); 'none' (admins only) "
        "for no expiry",
    )
    schedule: str | None = Field(
        default=None,
        max_length=128,
        description="working hours: the lab is started at the first time and stopped at the "
        "second on the given days, in the IANA time zone, e.g. 'Mon-Fri 08:00-20:00 "
        "Asia/Kolkata'",
    )
    reuse_image: bool = Field(
        default=False,
        description="keep an image of the lab's VM once it is READY, and start from the "
        "image of the same labspec, revision, base image and owner when one is available: "
        "only the init and start steps run (the labspec can ask the same with "
        "lab.build_requirements.platform.reuse_image)",
    )

    @field_validator("labspec")
    @classmethod
    def _fits_a_lab_record(cls, value: dict[str, Any]) -> dict[str, Any]:
        size = labspec_size(value)
        if size > MAX_API_LABSPEC_BYTES:
            raise ValueError(
                f"a labspec of at most {MAX_API_LABSPEC_BYTES} bytes (128 KiB) as compact "
                f"JSON, found {size} bytes: the lab record that keeps it must stay under "
                f"DynamoDB's {DYNAMODB_ITEM_LIMIT_BYTES // 1024} KB item limit"
            )
        return value


def labspec_size(labspec: dict[str, Any]) -> int:
    """Bytes of the labspec as compact UTF-8 JSON (how it is kept in the lab record)."""
    text = json.dumps(labspec, separators=(",", ":"), ensure_ascii=False)
    return len(text.encode("utf-8", "surrogatepass"))


class CiDeploymentRequest(DeploymentRequest):
    """Detail of an ``ads.ci`` / ``Lab Deployment Requested`` event: a POST /labs body plus
    who asked (a pipeline's ARN or URL) and an optional idempotency key."""

    requested_by: str = Field(min_length=1, max_length=2048)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=128)


class PlanRequest(BaseModel):
    """Body of ``POST /plans``: a dry run, nothing is created."""

    model_config = ConfigDict(extra="forbid")

    labspec: dict[str, Any]
    options: DeploymentOptions = Field(default_factory=DeploymentOptions)


class DeploymentAccepted(BaseModel):
    """Answer of ``POST /labs`` (202)."""

    lab_id: str
    status: str = Field(description="the status the request produced: REQUESTED")
    execution_arn: str | None
    console_url: str | None
    plan: dict[str, Any]
    warnings: list[str] = Field(default_factory=list)
    idempotent_replay: bool = Field(
        default=False, description="true when an earlier request with the same key made this lab"
    )


class DestroyAccepted(BaseModel):
    """Answer of ``DELETE /labs/{lab_id}`` (202)."""

    lab_id: str
    status: str
    execution_arn: str | None
    console_url: str | None


class StatusChangeView(BaseModel):
    status: str
    at: str
    note: str = ""


class LeaseView(BaseModel):
    """A lab's lease as the API shows it."""

    model_config = ConfigDict(extra="allow")

    requested: str = Field(description="the lease asked for (4h, 2d, none)")
    expires_at: str | None = Field(default=None, description="when ADS destroys the lab")
    warn_at: str | None = Field(default=None, description="when 'Lab Expiring' is sent")
    warned_at: str | None = None
    renewed_at: str | None = None


class LabSummary(BaseModel):
    lab_id: str
    lab_name: str = ""
    status: str
    owner: str
    requested_by: str = ""
    created_at: str
    updated_at: str
    endpoint: str | None = None
    app_url: str | None = None
    access: str | None = None
    failed_step: str | None = None
    cause: str | None = None
    lease: LeaseView | None = None
    cohort_id: str | None = Field(default=None, description="the cohort the lab was made for")
    assignee: str | None = Field(
        default=None, description="the cohort member the lab is assigned to (an IAM principal)"
    )


class LabPage(BaseModel):
    """Answer of ``GET /labs``."""

    labs: list[LabSummary]
    next_token: str | None = None


class LeaseRenewal(BaseModel):
    """Body of ``POST /labs/{lab_id}/lease``."""

    model_config = ConfigDict(extra="forbid")

    duration: str = Field(
        min_length=1,
        max_length=16,
        description="the new lease, counted from now: 30m, 4h, 2d (within the configured "
        "maximum); 'none' (admins only) for no expiry",
    )


class LeaseRenewed(BaseModel):
    """Answer of ``POST /labs/{lab_id}/lease``."""

    model_config = ConfigDict(extra="forbid")

    lab_id: str
    status: str
    lease: LeaseView


class LabVmView(BaseModel):
    """One VM of a lab of several VMs (``lab.roles``), as the lab's record keeps it."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(description="the VM's name, <role>-<n>: web-2")
    role: str
    status: VmStatus
    vm_id: str | None = None
    provider: str | None = None
    private_ip: str | None = None
    agent_port: int | None = None
    endpoint: str | None = None
    app_url: str | None = None
    vm_details: dict[str, Any] = Field(default_factory=dict)
    failed_step: str | None = None
    cause: str | None = None
    updated_at: str | None = None


class LabView(BaseModel):
    """Answer of ``GET /labs/{lab_id}``: the lab record's public view."""

    model_config = ConfigDict(extra="allow")

    lab_id: str
    owner: str
    status: str
    lab_name: str = ""
    created_at: str
    updated_at: str
    plan: dict[str, Any] = Field(default_factory=dict)
    source: dict[str, Any] | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    requested_by: str = ""
    endpoint: str | None = None
    app_url: str | None = None
    access: str | None = None
    lab_ports: list[int] = Field(default_factory=list)
    vms: dict[str, LabVmView] = Field(
        default_factory=dict,
        description="a lab of several VMs: each VM by name (the lab's own VM fields show "
        "its entry VM); empty for a lab of one VM",
    )
    execution_arn: str | None = None
    destroy_execution_arn: str | None = None
    failed_step: str | None = None
    cause: str | None = None
    status_history: list[StatusChangeView] = Field(default_factory=list)
    console_url: str | None = None
    destroy_console_url: str | None = None
    cost: LabCost | None = Field(
        default=None, description="what the lab costs in its status (a STOPPED lab: storage only)"
    )
    accrued_cost: Accrual | None = Field(
        default=None,
        description="what the lab has cost so far: running hours x its hourly price, plus "
        "its root volume's storage while it exists (stopped time costs storage only)",
    )
    course: str | None = None
    lease: LeaseView | None = Field(
        default=None, description="when the lab expires (expires_at null: never)"
    )
    working_hours: dict[str, Any] | None = Field(
        default=None, description="the working hours the lab is started and stopped by"
    )


class StateError(BaseModel):
    error: str | None = None
    cause: str | None = None


class StateSummary(BaseModel):
    """One visit of a state of the workflow."""

    name: str
    status: Literal["SUCCEEDED", "FAILED", "RUNNING", "RETRYING"]
    entered: str | None = None
    exited: str | None = None
    duration_ms: int | None = None
    attempts: int = 0
    error: StateError | None = None


class ExecutionSummary(BaseModel):
    kind: Literal["deploy", "destroy"]
    execution_arn: str
    status: str = Field(description="RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED or UNKNOWN")
    started: str | None = None
    stopped: str | None = None
    console_url: str | None = None
    error: StateError | None = None
    states: list[StateSummary] = Field(default_factory=list)


class LabHistory(BaseModel):
    """Answer of ``GET /labs/{lab_id}/history``."""

    lab_id: str
    status_history: list[StatusChangeView]
    executions: list[ExecutionSummary]


class Problem(BaseModel):
    path: str
    found: str
    allowed: str


class ErrorBody(BaseModel):
    """Every error answer: a stable code, a message for a person, and where it went wrong."""

    model_config = ConfigDict(extra="allow")

    error: str
    message: str
    problems: list[Problem] | None = None
    details: dict[str, Any] | None = None


# -- pydantic errors as problems a person can act on ---------------------------------

_LOCATIONS = ("body", "query", "path", "header", "cookie")


def _dotted(loc: tuple[Any, ...] | list[Any]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += ("." if path else "") + str(part)
    return path


def _shown(value: Any) -> str:
    try:
        text = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def field_problems(errors: Sequence[Mapping[str, Any]], *, root: str = "") -> list[Problem]:
    """Turn pydantic (or Powertools request validation) errors into field problems.

    The request part (``body``, ``query``...) is dropped from the path so that a problem
    reads ``source.git``, the way the request document spells it.
    """
    problems: list[Problem] = []
    for error in errors:
        loc = list(error.get("loc") or ())
        if loc and loc[0] in _LOCATIONS:
            loc = loc[1:]
        kind = error.get("type", "")
        message = str(error.get("msg", "invalid"))
        if kind == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", "not JSON")
            at = f" at character {loc[0]}" if loc and isinstance(loc[0], int) else ""
            problems.append(
                Problem(
                    path=root or "body",
                    found=f"malformed JSON ({reason}{at})",
                    allowed="a JSON object",
                )
            )
            continue
        path = _dotted([root, *loc] if root else loc) or root or "body"
        if kind == "missing":
            found, allowed = "nothing", "a value: this field is required"
        elif kind == "extra_forbidden":
            found, allowed = _shown(error.get("input")), "no such field here"
        else:
            found = _shown(error.get("input"))
            allowed = message
            for prefix in ("Input should be ", "Value error, "):
                if allowed.startswith(prefix):
                    allowed = allowed[len(prefix) :]
        problems.append(Problem(path=path, found=found, allowed=allowed))
    return problems
