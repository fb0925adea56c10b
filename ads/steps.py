"""The logic of the workflow steps, shared by the step Lambdas.

Each step reads the lab record, asks the provider for one thing, records what it
learnt and returns a small result. It never waits: when the answer is "not yet" it
raises a named exception (:class:`VmNotReady`, :class:`InitInProgress`,
:class:`HealthCheckPending`) and the state machine retries it with backoff. Everything
here is safe to run twice: Step Functions retries tasks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ads.config import AdsConfig
from ads.errors import IllegalTransitionError
from ads.lab_metrics import LabMetric
from ads.lab_record import LabRecord, LabStatus
from ads.lifecycle_events import LifecyclePublisher
from ads.observability import count, logger
from ads.outcome_metrics import count_outcome
from ads.providers.access import access_hooks
from ads.providers.base import (
    ComputeProvider,
    DestroyFailed,
    DestroyInProgress,
    HealthCheckFailed,
    HealthCheckPending,
    InitFailed,
    InitInProgress,
    InitRequest,
    InitStatus,
    LabBeingDestroyed,
    ProviderThrottled,
    StepError,
    VmCreateFailed,
    VmInfo,
    VmNotReady,
    VmNotRunning,
)
from ads.providers.consistency import (
    launch_attempt_details,
    within_launch_attempt_grace,
    within_launch_grace,
)
from ads.records import LabRepository

__all__ = [
    "DestroyFailed",
    "DestroyInProgress",
    "HealthCheckFailed",
    "HealthCheckPending",
    "InitFailed",
    "InitInProgress",
    "LabBeingDestroyed",
    "ProviderThrottled",
    "StepError",
    "VmCreateFailed",
    "VmNotReady",
    "VmNotRunning",
    "create_vm",
    "destroy_vm",
    "health_check",
    "init_vm",
    "record_status",
    "wait_running",
]

DESTROY_STATES = (LabStatus.DESTROYING, LabStatus.DESTROYED)
HEALTH_BODY_LIMIT = 4096
# Step Functions refuses a Fail state Cause longer than this.
FAIL_CAUSE_LIMIT = 32768


# -- results ---------------------------------------------------------------------------


class StepResult(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateVmResult(StepResult):
    vm_id: str
    provider: str
    agent_port: int


class WaitRunningResult(StepResult):
    state: str
    private_ip: str | None
    endpoint: str


class InitVmResult(StepResult):
    command_id: str
    state: Literal["success"] = "success"


class HealthCheckResult(StepResult):
    healthy: bool
    url: str
    status_code: int
    agent_version: str | None = None


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


# -- wiring for the handlers -------------------------------------------------------------


@dataclass(frozen=True)
class StepDependencies:
    repository: LabRepository
    provider: ComputeProvider
    publisher: LifecyclePublisher
    config: AdsConfig


@lru_cache(maxsize=4)
def dependencies_for(config: AdsConfig) -> StepDependencies:
    """Clients and repository for ``config``, built on first use and then reused by every
    warm invocation (importing a handler creates no AWS client)."""
    import boto3

    from ads.providers import get_provider
    from ads.providers.throttling import client_config

    session = boto3.session.Session(region_name=config.region)
    events = session.client("events", region_name=config.region, config=client_config())
    return StepDependencies(
        repository=LabRepository.from_name(config.table_name, config.region, session),
        provider=get_provider(config, session),
        publisher=LifecyclePublisher(events, config.event_bus_name),
        config=config,
    )


# -- helpers -----------------------------------------------------------------------------


def _deploying(repository: LabRepository, lab_id: str) -> LabRecord:
    record = repository.require(lab_id)
    if record.status in DESTROY_STATES:
        raise LabBeingDestroyed(
            f"lab {lab_id} is {record.status.value}: the deployment stops here",
            lab_id=lab_id,
            status=record.status.value,
        )
    return record


def _advance(
    repository: LabRepository, lab_id: str, status: LabStatus, note: str = "", **fields: Any
) -> LabRecord:
    """A forward transition that reports a concurrent destroy as such."""
    try:
        return repository.transition(lab_id, status, note=note, **fields)
    except IllegalTransitionError as exc:
        if exc.current in {s.value for s in DESTROY_STATES}:
            raise LabBeingDestroyed(
                f"lab {lab_id} is {exc.current}: the deployment stops here", lab_id=lab_id
            ) from exc
        raise


def _vm_of(record: LabRecord) -> VmInfo:
    if not record.vm_id or record.agent_port is None:
        raise VmNotRunning(
            f"lab {record.lab_id} has no VM recorded (vm_id={record.vm_id!r}); create_vm must run first",
            lab_id=record.lab_id,
        )
    return VmInfo(
        vm_id=record.vm_id,
        provider=record.provider,
        private_ip=record.private_ip,
        agent_port=record.agent_port,
        details=record.vm_details,
    )


def init_request(record: LabRecord) -> InitRequest:
    source = record.source or {}
    return InitRequest(
        plan=record.plan,
        source_git=source.get("git"),
        source_ref=source.get("ref"),
        source_archive=source.get("s3") or source.get("archive"),
        requester_uid=record.requester_uid,
    )


def describe_init_failure(status: InitStatus) -> str:
    parts = [
        "install script "
        + (f"exited with status {status.exit_code}" if status.exit_code is not None else "failed")
    ]
    if status.failing_command:
        parts.append(f"failing command: {status.failing_command}")
    if status.detail and status.detail not in parts[0]:
        parts.append(status.detail)
    message = "; ".join(parts)
    if status.output_tail:
        message += f"\noutput tail:\n{status.output_tail}"
    return message


def _lambda_error_at(text: str, index: int) -> tuple[dict[str, Any] | None, int]:
    """The Lambda error document starting at ``index`` and where it ends, if there is one."""
    try:
        parsed, end = json.JSONDecoder().raw_decode(text, index)
    except ValueError:
        return None, index
    if isinstance(parsed, dict) and parsed.get("errorMessage") is not None:
        return parsed, end
    return None, index


def _plain_messages(text: str) -> str:
    """``text`` with every embedded Lambda error document replaced by its message (the
    workflow appends a failed destroy's raw error after the step's own)."""
    parts: list[str] = []
    position = 0
    index = text.find("{")
    while index != -1:
        parsed, end = _lambda_error_at(text, index)
        if parsed is None:
            index = text.find("{", index + 1)
            continue
        parts.append(text[position:index] + str(parsed["errorMessage"]))
        position = end
        index = text.find("{", end)
    parts.append(text[position:])
    return "".join(parts)


def failure_cause(failed_step: str, error: dict[str, Any] | None) -> str:
    """ "<failed_step> failed: <error type>: <cause>" from a Step Functions error object."""
    error = error or {}
    error_type = str(error.get("Error") or "Error")
    raw = error.get("Cause")
    cause = "" if raw is None else str(raw)
    # A Lambda's error arrives as a JSON document; its message is what a person reads.
    parsed, _ = _lambda_error_at(cause, 0) if cause.startswith("{") else (None, 0)
    if parsed is not None:
        error_type = str(parsed.get("errorType") or error_type)
    cause = _plain_messages(cause)
    return f"{failed_step} failed: {error_type}: {cause or 'no cause given'}"


def probe_health(url: str, timeout_s: float) -> tuple[int | None, str]:
    """GET ``url``: (status code or None when nothing answered, body or reason)."""
    # Imported here: only Check Health makes HTTP requests, the other steps never load it.
    import urllib.error
    import urllib.request

    # Health endpoints are private addresses: never route them through a proxy.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout_s) as response:
            return response.status, response.read(HEALTH_BODY_LIMIT).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(HEALTH_BODY_LIMIT).decode("utf-8", "replace")
    except urllib.error.URLError as exc:
        return None, str(exc.reason)
    except (TimeoutError, OSError) as exc:
        return None, str(exc) or type(exc).__name__


def _open_access(record: LabRecord, provider: ComputeProvider | None) -> dict[str, Any]:
    hooks = access_hooks(provider)
    if hooks is None or not record.vm_id or record.agent_port is None:
        return {}
    url = hooks.open_lab_access(record.lab_id, _vm_of(record), record.plan)
    return {"app_url": url} if url else {}


# -- the steps ---------------------------------------------------------------------------


def create_vm(lab_id: str, repository: LabRepository, provider: ComputeProvider) -> CreateVmResult:
    record = _deploying(repository, lab_id)
    fields: dict[str, Any] = {"provider": provider.name}
    attempt = {} if record.vm_id else launch_attempt_details(provider)
    if attempt:
        # Kept before the launch: should this attempt die before the VM's id is stored,
        # Destroy VM knows EC2 may not list the instance by its tag yet.
        fields["vm_details"] = attempt
    _advance(repository, lab_id, LabStatus.PROVISIONING, "creating the VM", **fields)
    if record.status == LabStatus.REQUESTED:
        # Only the first attempt leaves REQUESTED: a retried Create VM is not a new lab.
        count(LabMetric.LABS_REQUESTED)
    try:
        vm = provider.create_vm(lab_id, record.plan)
    except VmCreateFailed:
        if attempt:
            # Every launch was refused: nothing can appear by its tag later, so Destroy VM
            # need not wait out the launch window before the lab is marked FAILED.
            _advance(repository, lab_id, LabStatus.PROVISIONING, vm_details={})
        raise
    _advance(
        repository,
        lab_id,
        LabStatus.PROVISIONING,
        vm_id=vm.vm_id,
        provider=vm.provider,
        agent_port=vm.agent_port,
        vm_details=vm.details,
    )
    logger.info("vm created", vm_id=vm.vm_id, provider=vm.provider)
    return CreateVmResult(vm_id=vm.vm_id, provider=vm.provider, agent_port=vm.agent_port)


def wait_running(
    lab_id: str, repository: LabRepository, provider: ComputeProvider, *, launch_grace_s: float
) -> WaitRunningResult:
    record = _deploying(repository, lab_id)
    vm = _vm_of(record)
    state = provider.describe_vm(vm.vm_id)
    if state.state == "absent" and within_launch_grace(vm.details, launch_grace_s):
        # EC2 is eventually consistent: right after RunInstances it may not list the VM.
        raise VmNotReady(
            f"VM {vm.vm_id} was launched moments ago and EC2 does not list it yet",
            vm_id=vm.vm_id,
        )
    if state.state == "pending":
        raise VmNotReady(f"VM {vm.vm_id} is pending", vm_id=vm.vm_id)
    if state.state != "running":
        raise VmNotRunning(f"VM {vm.vm_id} is {state.state}; it should be running", vm_id=vm.vm_id)
    if state.ssm_online is False:
        raise VmNotReady(f"VM {vm.vm_id} runs; its SSM agent is not online yet", vm_id=vm.vm_id)
    private_ip = state.private_ip or vm.private_ip
    vm = vm.model_copy(update={"private_ip": private_ip})
    endpoint = provider.health_url(vm).removesuffix("/health")
    fields: dict[str, Any] = {"private_ip": private_ip, "endpoint": endpoint}
    if vm.details.get("app_url"):
        fields["app_url"] = vm.details["app_url"]
    hooks = access_hooks(provider)
    access = hooks.access_details(lab_id, vm, record.plan) if hooks else {}
    if access:
        fields["vm_details"] = {**vm.details, **access}
    _advance(repository, lab_id, LabStatus.PROVISIONING, **fields)
    return WaitRunningResult(state=state.state, private_ip=private_ip, endpoint=endpoint)


def init_vm(lab_id: str, repository: LabRepository, provider: ComputeProvider) -> InitVmResult:
    record = _deploying(repository, lab_id)
    vm = _vm_of(record)
    if record.status != LabStatus.INITIALIZING:
        record = _advance(repository, lab_id, LabStatus.INITIALIZING, "running the install script")
    command_id = record.init_command_id
    if not command_id:
        command_id = provider.start_init(lab_id, vm, init_request(record))
        # Stored before anything else can fail, so a retried step follows this command
        # instead of sending a second one.
        _advance(repository, lab_id, LabStatus.INITIALIZING, init_command_id=command_id)
        logger.info("init command sent", command_id=command_id)
    status = provider.get_init_status(vm, command_id)
    if status.state == "in_progress":
        raise InitInProgress(
            f"init command {command_id} on {vm.vm_id} is still running ({status.detail or 'no detail'})",
            command_id=command_id,
        )
    if status.state == "failed":
        raise InitFailed(describe_init_failure(status), command_id=command_id)
    return InitVmResult(command_id=command_id)


def health_check(
    lab_id: str, repository: LabRepository, provider: ComputeProvider, *, timeout_s: float
) -> HealthCheckResult:
    record = _deploying(repository, lab_id)
    if record.status != LabStatus.HEALTH_CHECKING:
        record = _advance(repository, lab_id, LabStatus.HEALTH_CHECKING, "checking the agent")
    try:
        vm = _vm_of(record)
    except VmNotRunning as exc:
        raise HealthCheckFailed(str(exc), lab_id=lab_id) from exc
    if not vm.private_ip:
        raise HealthCheckFailed(
            f"lab {lab_id} has no private ip recorded; wait_running must run first", lab_id=lab_id
        )
    url = provider.health_url(vm)
    code, body = probe_health(url, timeout_s)
    if code != 200:
        reason = f"answered {code}" if code is not None else "did not answer"
        raise HealthCheckPending(f"GET {url} {reason}: {body[:500]}", url=url, status_code=code)
    try:
        document = json.loads(body)
    except json.JSONDecodeError:
        document = {}
    version = document.get("agent_version") if isinstance(document, dict) else None
    return HealthCheckResult(
        healthy=True, url=url, status_code=code, agent_version=str(version) if version else None
    )


def destroy_vm(
    lab_id: str, repository: LabRepository, provider: ComputeProvider, *, launch_grace_s: float
) -> DestroyVmResult:
    record = repository.get(lab_id)
    vm_id = record.vm_id if record else None
    details = record.vm_details if record else {}
    try:
        state = provider.destroy_vm(lab_id, vm_id)
    except (StepError, ProviderThrottled):
        raise
    except Exception as exc:
        # Anything else the cloud answers is terminal here: the cause must reach the record.
        raise DestroyFailed(
            f"destroying the VM of {lab_id} failed: {type(exc).__name__}: {exc}", lab_id=lab_id
        ) from exc
    # Only "terminated" (or "absent", believed once the launch grace is over) ends a VM:
    # a shutting-down instance still exists, and a NotFound right after launch is EC2
    # not listing it yet, so the destroy is retried (and terminates it again) until then.
    if state.state == "shutting-down":
        raise DestroyInProgress(
            f"VM {state.vm_id} of {lab_id} is shutting down; waiting until it is terminated",
            vm_id=state.vm_id,
        )
    if state.state == "absent" and vm_id and within_launch_grace(details, launch_grace_s):
        raise DestroyInProgress(
            f"VM {vm_id} of {lab_id} was launched moments ago and EC2 does not list it yet; "
            "terminating it again",
            vm_id=vm_id,
        )
    if (
        state.state == "absent"
        and not vm_id
        and within_launch_attempt_grace(details, launch_grace_s)
    ):
        raise DestroyInProgress(
            f"lab {lab_id} has no VM recorded and its Create VM started moments ago: EC2 may "
            "not list an instance it launched by its tag yet; looking again",
            lab_id=lab_id,
        )
    if not state.gone:
        raise DestroyFailed(
            f"VM {state.vm_id} of {lab_id} is still {state.state} after destroy", lab_id=lab_id
        )
    hooks = access_hooks(provider)
    if hooks:
        # After the VM is gone: a lab's security group cannot go while an instance wears it.
        hooks.close_lab_access(lab_id, record.plan if record else {})
    logger.info("vm destroyed", vm_id=state.vm_id, state=state.state)
    return DestroyVmResult(vm_id=state.vm_id, state=state.state)


def record_status(
    lab_id: str,
    status: LabStatus | str,
    repository: LabRepository,
    publisher: LifecyclePublisher,
    *,
    failed_step: str | None = None,
    error: dict[str, Any] | None = None,
    destroy_error: dict[str, Any] | None = None,
    provider: ComputeProvider | None = None,
) -> RecordStatusResult:
    """Final bookkeeping of a workflow: READY, FAILED, DESTROYED (with their event), or
    DESTROYING with the cause of a destroy that failed (no event: nothing finished)."""
    status = LabStatus(status)
    record = repository.require(lab_id)
    earlier = record
    before = record.status
    cause: str | None = None
    if status == LabStatus.FAILED:
        cause = failure_cause(failed_step or "deployment", error)
        if destroy_error:
            # The VM may still exist: say so next to the original cause.
            cause += "; then " + failure_cause("Destroy VM", destroy_error)
        if before in DESTROY_STATES:
            # A destroy overtook the deployment; its outcome is the one that counts.
            return RecordStatusResult(
                lab_id=lab_id,
                status=before.value,
                changed=False,
                cause=cause[:FAIL_CAUSE_LIMIT],
            )
        record = _advance(
            repository, lab_id, LabStatus.FAILED, cause[:200], failed_step=failed_step, cause=cause
        )
    elif status == LabStatus.READY:
        # The access opens before READY is written, so READY means a student can get in.
        fields = _open_access(record, provider)
        record = _advance(repository, lab_id, LabStatus.READY, "healthy", **fields)
    elif status == LabStatus.DESTROYING:
        cause = failure_cause(failed_step or "destroy", error)
        record = repository.transition(
            lab_id, LabStatus.DESTROYING, failed_step=failed_step, cause=cause
        )
        count_outcome(earlier, record)
        return RecordStatusResult(
            lab_id=lab_id,
            status=record.status.value,
            changed=False,
            cause=cause[:FAIL_CAUSE_LIMIT],
        )
    elif status == LabStatus.DESTROYED:
        if before not in DESTROY_STATES:
            repository.transition(lab_id, LabStatus.DESTROYING, note="destroying")
        record = repository.transition(lab_id, LabStatus.DESTROYED, note="destroyed")
    else:
        raise ValueError(
            f"status: found {status.value}; allowed: READY, FAILED, DESTROYING, DESTROYED"
        )
    count_outcome(earlier, record, vm_left=bool(destroy_error))
    changed = record.status != before
    published = publisher.publish(record) if changed else False
    logger.info("status recorded", status=record.status.value, changed=changed)
    return RecordStatusResult(
        lab_id=lab_id,
        status=record.status.value,
        changed=changed,
        event_published=published,
        cause=cause[:FAIL_CAUSE_LIMIT] if cause else None,
    )
