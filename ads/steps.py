"""The logic of the deploy steps (Create VM, Wait Until Running, Initialise VM, Check
Health), shared by the step Lambdas, and the dependencies every step handler is given.

Each step reads the lab record, asks the provider for one thing, records what it
learnt and returns a small result. It never waits: when the answer is "not yet" it
raises a named exception (:class:`VmNotReady`, :class:`InitInProgress`,
:class:`HealthCheckPending`) and the state machine retries it with backoff. Everything
here is safe to run twice: Step Functions retries tasks. Destroy VM and the final
bookkeeping of a workflow are :mod:`ads.teardown_steps`; what the steps return is
:mod:`ads.step_results`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from ads.built_once import LazyParts, built_once
from ads.config import AdsConfig
from ads.failure_causes import describe_init_failure
from ads.health_probe import probe_health
from ads.image_steps import init_plan, launch_plan, should_keep, source_image
from ads.lab_metrics import LabMetric
from ads.lab_record import LabRecord, LabStatus, iso
from ads.lifecycle_events import LifecyclePublisher
from ads.observability import count, logger
from ads.outcome_metrics import count_ready
from ads.providers.access import access_hooks
from ads.providers.base import (
    ComputeProvider,
    HealthCheckFailed,
    HealthCheckPending,
    InitFailed,
    InitInProgress,
    InitRequest,
    VmCreateFailed,
    VmInfo,
    VmNotReady,
    VmNotRunning,
)
from ads.providers.consistency import launch_attempt_details, within_launch_grace
from ads.record_projection import STEP_READ
from ads.records import LabRepository
from ads.step_records import advance, deploying, move, vm_of
from ads.step_results import CreateVmResult, HealthCheckResult, InitVmResult, WaitRunningResult

__all__ = [
    "StepDependencies",
    "create_vm",
    "dependencies_for",
    "health_check",
    "init_request",
    "init_vm",
    "wait_running",
]

# -- wiring for the handlers -------------------------------------------------------------


class StepDependencies(LazyParts):
    """What the step handlers use: the labs table, the compute provider, the lifecycle
    publisher. Given (tests), or built from ``config`` on first use, each once: a step
    builds only the clients its logic reads (Wait Until Running never builds the events
    client), and concurrent first uses build one."""

    def __init__(
        self,
        *,
        config: AdsConfig,
        repository: LabRepository | None = None,
        provider: ComputeProvider | None = None,
        publisher: LifecyclePublisher | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        for name, given in (
            ("repository", repository),
            ("provider", provider),
            ("publisher", publisher),
        ):
            if given is not None:
                self._parts[name] = given

    @property
    def repository(self) -> LabRepository:
        return self._part(
            "repository",
            lambda: LabRepository.from_name(
                self.config.table_name, self.config.region, self._session()
            ),
        )

    @property
    def provider(self) -> ComputeProvider:
        from ads.providers import get_provider

        return self._part("provider", lambda: get_provider(self.config, self._session()))

    @property
    def publisher(self) -> LifecyclePublisher:
        def build() -> LifecyclePublisher:
            from ads.providers.throttling import client_config

            events = self._session().client(
                "events", region_name=self.config.region, config=client_config()
            )
            return LifecyclePublisher(events, self.config.event_bus_name)

        return self._part("publisher", build)

    def _session(self) -> Any:
        # One session for the clients of this container (a session is not thread-safe:
        # parts are built under the parts' lock).
        import boto3

        return self._part("session", lambda: boto3.session.Session(region_name=self.config.region))


@built_once(maxsize=4)
def dependencies_for(config: AdsConfig) -> StepDependencies:
    """The dependencies of ``config``, one object per configuration and container, its
    clients built on first use (importing a handler creates no AWS client)."""
    return StepDependencies(config=config)


def init_request(record: LabRecord) -> InitRequest:
    source = record.source or {}
    return InitRequest(
        # A VM started from a lab image runs only the per-VM steps (ads.image_steps).
        plan=init_plan(record),
        source_git=source.get("git"),
        source_ref=source.get("ref"),
        source_archive=source.get("s3") or source.get("archive"),
        requester_uid=record.requester_uid,
    )


# -- the steps ---------------------------------------------------------------------------


def create_vm(lab_id: str, repository: LabRepository, provider: ComputeProvider) -> CreateVmResult:
    record = deploying(repository, lab_id)
    fields: dict[str, Any] = {"provider": provider.name}
    attempt = {} if record.vm_id else launch_attempt_details(provider)
    if attempt:
        # Kept before the launch: should this attempt die before the VM's id is stored,
        # Destroy VM knows EC2 may not list the instance by its tag yet.
        fields["vm_details"] = attempt
    move(repository, lab_id, LabStatus.PROVISIONING, "creating the VM", **fields)
    if record.status == LabStatus.REQUESTED:
        # Only the first attempt leaves REQUESTED: a retried Create VM is not a new lab.
        count(LabMetric.LABS_REQUESTED)
    image = source_image(repository.images, record, provider)
    if image and not repository.images.mark_used(image.image_key, lab_id):
        image = None  # taken for removal since it was read: build as usual
    try:
        vm = provider.create_vm(lab_id, launch_plan(record, image))
    except VmCreateFailed:
        if attempt:
            # Every launch was refused: nothing can appear by its tag later, so Destroy VM
            # need not wait out the launch window before the lab is marked FAILED.
            move(repository, lab_id, LabStatus.PROVISIONING, vm_details={})
        raise
    details = {**vm.details, "from_image": image.image_id} if image else vm.details
    move(
        repository,
        lab_id,
        LabStatus.PROVISIONING,
        f"started from lab image {image.image_id}" if image else "",
        vm_id=vm.vm_id,
        provider=vm.provider,
        agent_port=vm.agent_port,
        vm_details=details,
    )
    logger.info("vm created", vm_id=vm.vm_id, provider=vm.provider)
    started_from = image.image_id if image else None
    return CreateVmResult(
        vm_id=vm.vm_id,
        provider=vm.provider,
        agent_port=vm.agent_port,
        from_image=started_from,
        keep_image=should_keep(record, provider, started_from),
    )


def wait_running(
    lab_id: str, repository: LabRepository, provider: ComputeProvider, *, launch_grace_s: float
) -> WaitRunningResult:
    record = deploying(repository, lab_id, STEP_READ)
    vm, fields = running_vm(
        provider, vm_of(record), launch_grace_s=launch_grace_s, named=f"VM {record.vm_id}"
    )
    private_ip, endpoint = vm.private_ip, str(fields["endpoint"])
    hooks = access_hooks(provider)
    access = hooks.access_details(lab_id, vm, record.plan) if hooks else {}
    if access:
        fields["vm_details"] = {**vm.details, **access}
    move(repository, lab_id, LabStatus.PROVISIONING, **fields)
    return WaitRunningResult(state="running", private_ip=private_ip, endpoint=endpoint)


def running_vm(
    provider: ComputeProvider, vm: VmInfo, *, launch_grace_s: float, named: str
) -> tuple[VmInfo, dict[str, Any]]:
    """``vm`` once it runs (and its SSM agent is online), with the fields Wait Until
    Running records: its address, its agent's endpoint, its app's URL. "Not yet" is
    VmNotReady, a VM that will not run VmNotRunning, each message starting ``named``."""
    state = provider.describe_vm(vm.vm_id)
    if state.state == "absent" and within_launch_grace(vm.details, launch_grace_s):
        # EC2 is eventually consistent: right after RunInstances it may not list the VM.
        raise VmNotReady(
            f"{named} was launched moments ago and EC2 does not list it yet", vm_id=vm.vm_id
        )
    if state.state == "pending":
        raise VmNotReady(f"{named} is pending", vm_id=vm.vm_id)
    if state.state != "running":
        raise VmNotRunning(f"{named} is {state.state}; it should be running", vm_id=vm.vm_id)
    if state.ssm_online is False:
        raise VmNotReady(f"{named} runs; its SSM agent is not online yet", vm_id=vm.vm_id)
    vm = vm.model_copy(update={"private_ip": state.private_ip or vm.private_ip})
    fields: dict[str, Any] = {
        "private_ip": vm.private_ip,
        "endpoint": provider.health_url(vm).removesuffix("/health"),
    }
    if vm.details.get("app_url"):
        fields["app_url"] = vm.details["app_url"]
    return vm, fields


def init_vm(lab_id: str, repository: LabRepository, provider: ComputeProvider) -> InitVmResult:
    record = deploying(repository, lab_id)
    vm = vm_of(record)
    if record.status != LabStatus.INITIALIZING:
        record = advance(repository, lab_id, LabStatus.INITIALIZING, "running the install script")
    command_id = record.init_command_id
    if not command_id:
        command_id = provider.start_init(lab_id, vm, init_request(record))
        # Stored before anything else can fail, so a retried step follows this command
        # instead of sending a second one.
        advance(repository, lab_id, LabStatus.INITIALIZING, init_command_id=command_id)
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
    lab_id: str,
    repository: LabRepository,
    provider: ComputeProvider,
    *,
    timeout_s: float,
    mark_ready: bool = False,
) -> HealthCheckResult:
    """GET the agent's /health; HealthCheckPending until it answers 200.

    ``mark_ready`` (DeployLab): a healthy lab of one VM is moved to READY here, its access
    having opened at Initialise VM, so READY follows the agent's answer with no further
    step; Mark Ready then only publishes ``Lab Ready``. A lab of several VMs opens its
    access at Mark Ready, which records its READY."""
    record = deploying(repository, lab_id, STEP_READ)
    marks = mark_ready and not record.vms
    if marks and record.status == LabStatus.READY:
        # A retried step whose first run recorded READY: nothing is left to check.
        url = provider.health_url(vm_of(record))
        return HealthCheckResult(healthy=True, url=url, status_code=200, ready_recorded=True)
    if record.status != LabStatus.HEALTH_CHECKING:
        move(repository, lab_id, LabStatus.HEALTH_CHECKING, "checking the agent")
        record = record.model_copy(update={"status": LabStatus.HEALTH_CHECKING})
    if record.vms:
        # A lab of several VMs is healthy when every VM is; the entry VM is asked below.
        from ads.cluster_steps import check_other_vms

        check_other_vms(record, provider, timeout_s=timeout_s)
    try:
        vm = vm_of(record)
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
    revision, fields = _first_revision(record, document)
    if marks:
        # The write answers nothing: the whole item (labspec, history) is not needed here.
        move(repository, lab_id, LabStatus.READY, "healthy", **fields)
        count_ready(record.created_at, iso(datetime.now(UTC)))
    elif fields:
        move(repository, lab_id, LabStatus.HEALTH_CHECKING, **fields)
    return HealthCheckResult(
        healthy=True,
        url=url,
        status_code=code,
        agent_version=str(version) if version else None,
        revision=revision,
        ready_recorded=marks,
    )


def _first_revision(record: LabRecord, document: Any) -> tuple[str | None, dict[str, Any]]:
    """The commit the agent reports the lab's checkout at, and for a git-sourced lab's
    first deploy the fields that record it as the lab's first revision."""
    reported = document.get("source_revision") if isinstance(document, dict) else None
    sha = str(reported) if reported and reported != "none" else None
    if sha is None or record.revision or not (record.source or {}).get("git"):
        return sha, {}
    from ads.revisions import first_deploy

    history = first_deploy(
        record.revisions,
        ref=(record.source or {}).get("ref"),
        sha=sha,
        requested_by=record.owner,
        at=record.created_at,
    )
    return sha, {"revision": sha, "revisions": history}
