"""The compute provider interface shared by the workflow steps.

A provider turns a deployment plan into a running machine, initialises it with the
agent's install script, and removes it. The workflow steps only speak to this
interface; the provider is chosen by ``AdsConfig.provider`` (see ``get_provider``).

Mapping from the original ADS adapter interface (one adapter per platform) onto this one:

=======================================  ==========================================
original ADS adapter                     ComputeProvider
=======================================  ==========================================
``create_vm(lab_spec, vm_id)``           ``create_vm(lab_id, plan, vm_name=)`` (idempotent on the
                                         lab id, or on (lab id, VM name) for a lab of several VMs)
``start_vm(vm_id)``                      ``start_vm(vm_id)``
``stop_vm(vm_id)``                       ``stop_vm(vm_id)``
``restart_vm(vm_id)``                    ``restart_vm(vm_id)``
``destroy_vm(vm_id)``                    ``destroy_vm(lab_id, vm_id, vm_name=)`` (absent/terminated
                                         is success)
``init_vm(vm_id, lab_repo_name)`` and    ``start_init(lab_id, vm, request)`` + ``get_init_status(vm,
``start_vm_manager(vm_id)``              command_id)``: the install script also starts the agent
``is_running_vm(vm_id)``                 ``describe_vm(vm_id).state == "running"``
``dry_run``                              the plan itself (``ads plan``): nothing is created
(agent on port 9089)                     ``health_url(vm)``
=======================================  ==========================================

A lab of several VMs (``plan.cluster``) names each VM (``vm_name``, e.g. ``web-2``); a
provider that can host one also implements :class:`ClusterHooks` (the cluster facts every
VM reads, the lab's shared network), found with :func:`cluster_hooks`.

The original adapters blocked until a VM answered; here every call returns at once and
the state machine does the waiting (a step raises a named exception and is retried).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from ads.errors import AdsError

if TYPE_CHECKING:
    from ads.lab.plan import DeploymentPlan

VmStateName = Literal[
    "pending", "running", "stopping", "stopped", "shutting-down", "terminated", "absent"
]
GONE_STATES: tuple[str, ...] = ("shutting-down", "terminated", "absent")
InitState = Literal["in_progress", "success", "failed"]


# -- named exceptions: the state machines match on the class name (errorType) ----------


class StepError(AdsError):
    """A workflow step could not do its job (yet)."""

    code = "step_failed"


class VmNotReady(StepError):
    """The VM exists but does not run (or its SSM agent is not online) yet. Retried."""


class InitInProgress(StepError):
    """The init command was sent and has not finished. Retried."""


class HealthCheckPending(StepError):
    """The agent does not answer healthy yet. Retried."""


class ProviderThrottled(StepError):
    """The cloud API still throttled after botocore's retries. Retried by the state machine."""


class VmCreateFailed(StepError):
    """The VM cannot be created (bad image, no capacity in any allowed type, refused call)."""


class VmNotRunning(StepError):
    """The VM stopped, terminated or vanished while the lab was being deployed."""


class InitFailed(StepError):
    """The install script failed; the message names the failing command and its output."""


class HealthCheckFailed(StepError):
    """There is nothing that could ever answer a health check (no VM, no endpoint)."""


class DestroyFailed(StepError):
    """The VM could not be removed; it may still be running and cost money."""


class DestroyInProgress(StepError):
    """The VM was told to terminate and EC2 does not report it terminated yet. Retried."""


class LabBeingDestroyed(StepError):
    """A deploy step ran for a lab that is already being destroyed: the destroy wins."""


RETRIED_ERRORS = (
    VmNotReady,
    InitInProgress,
    HealthCheckPending,
    ProviderThrottled,
    DestroyInProgress,
)
TERMINAL_ERRORS = (VmCreateFailed, VmNotRunning, InitFailed, HealthCheckFailed, DestroyFailed)


# -- models ----------------------------------------------------------------------------


class VmInfo(BaseModel):
    """What the workflow keeps about a VM (stored in the lab record)."""

    model_config = ConfigDict(extra="ignore")

    vm_id: str
    provider: str
    private_ip: str | None = None
    agent_port: int
    details: dict[str, Any] = Field(default_factory=dict)


class VmState(BaseModel):
    model_config = ConfigDict(extra="ignore")

    vm_id: str | None = None
    state: VmStateName
    private_ip: str | None = None
    # None: the provider has no SSM agent to wait for (local) or nothing to ask about.
    ssm_online: bool | None = None

    @property
    def gone(self) -> bool:
        return self.state in GONE_STATES


class ClusterInit(BaseModel):
    """Which VM of a lab of several VMs an init is for; its steps and actions run with
    ``ADS_VM_NAME``, ``ADS_VM_ROLE`` and ``ADS_CLUSTER_FACTS`` (the facts file's path)."""

    model_config = ConfigDict(extra="forbid")

    vm_name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,19}-[0-9]{1,2}$")
    role: str = Field(pattern=r"^[a-z][a-z0-9-]{0,19}$")
    facts_path: str | None = None

    def install_arguments(self, facts_path: str | None = None) -> list[str]:
        """install.sh's options for this VM (kept in the agent's lab.json); ``facts_path``
        is the provider's path of the facts file when the request names none."""
        path = self.facts_path or facts_path
        return [
            "--vm-name",
            self.vm_name,
            "--vm-role",
            self.role,
            *(["--cluster-facts", path] if path else []),
        ]


class InitRequest(BaseModel):
    """Everything the install script needs besides the VM itself."""

    model_config = ConfigDict(extra="forbid")

    plan: dict[str, Any]
    source_git: str | None = None
    source_ref: str | None = None
    # A local path (local provider) or an s3://bucket/key URI (ec2 provider).
    source_archive: str | None = None
    # The OS uid that asked for the lab, as the local API's kernel saw it: a local source
    # is read with its rights (None: not known, read as nobody outside allowed roots).
    requester_uid: int | None = Field(default=None, ge=0)
    # Set for a VM of a lab of several VMs (None: a single-VM lab, nothing changes).
    cluster: ClusterInit | None = None


class InitStatus(BaseModel):
    model_config = ConfigDict(extra="ignore")

    state: InitState
    exit_code: int | None = None
    failing_command: str | None = None
    output_tail: str = ""
    detail: str = ""


class ComputeNeeds(BaseModel):
    """The part of a deployment plan a provider reads to create a VM."""

    model_config = ConfigDict(extra="ignore")

    image_parameter: str
    instance_type: str
    fallback_instance_types: list[str] = Field(default_factory=list)
    root_volume_gib: int = Field(default=8, ge=1)
    # The release the image belongs to (the OS catalogue says how its SSM agent arrives).
    os_family: str = ""
    os_version: str = ""
    arch: str = "x86_64"

    @classmethod
    def from_plan(cls, plan: DeploymentPlan | Mapping[str, Any]) -> ComputeNeeds:
        data = plan if isinstance(plan, Mapping) else plan.model_dump(mode="json")
        image = data.get("image") or {}
        return cls(
            image_parameter=str(image.get("ssm_parameter") or ""),
            instance_type=str(data.get("instance_type") or ""),
            fallback_instance_types=list(data.get("fallback_instance_types") or []),
            root_volume_gib=int(data.get("root_volume_gib") or 8),
            os_family=str((data.get("os") or {}).get("family") or ""),
            os_version=str((data.get("os") or {}).get("version") or ""),
            arch=str(data.get("arch") or "x86_64"),
        )


@runtime_checkable
class ComputeProvider(Protocol):
    name: str

    def create_vm(
        self,
        lab_id: str,
        plan: DeploymentPlan | Mapping[str, Any],
        *,
        vm_name: str | None = None,
    ) -> VmInfo: ...

    def describe_vm(self, vm_id: str) -> VmState: ...

    def start_init(self, lab_id: str, vm: VmInfo, request: InitRequest) -> str: ...

    def get_init_status(self, vm: VmInfo, command_id: str) -> InitStatus: ...

    def health_url(self, vm: VmInfo) -> str: ...

    def destroy_vm(
        self, lab_id: str, vm_id: str | None, *, vm_name: str | None = None
    ) -> VmState: ...

    def start_vm(self, vm_id: str) -> VmState: ...

    def stop_vm(self, vm_id: str) -> VmState: ...

    def restart_vm(self, vm_id: str) -> VmState: ...


@runtime_checkable
class ClusterHooks(Protocol):
    """What a provider offers to host a lab of several VMs (both providers implement it)."""

    def share_cluster_facts(
        self, lab_id: str, vms: list[VmInfo], facts: dict[str, Any]
    ) -> str | None:
        """Write the same facts file to every VM (idempotent). The id of the command that
        delivers it, to follow with :meth:`cluster_facts_status`; None: written already."""
        ...

    def cluster_facts_status(self, vms: list[VmInfo], command_id: str) -> InitStatus:
        """Whether the facts reached every VM: success when all did; failed names the VM."""
        ...

    def facts_path(self, vm: VmInfo) -> str:
        """The path of the facts file as the VM's steps read it (``ADS_CLUSTER_FACTS``)."""
        ...

    def release_cluster(self, lab_id: str) -> None:
        """Remove the lab's shared network once no VM uses it (idempotent; absent is fine).
        Raises DestroyInProgress while VMs still hold it (retried)."""
        ...


def cluster_hooks(provider: object) -> ClusterHooks | None:
    return provider if isinstance(provider, ClusterHooks) else None


def output_tail(text: str, lines: int = 20, limit: int = 2000) -> str:
    """The last lines of a command's output, bounded so it fits a record and an event."""
    tail = "\n".join(text.rstrip().splitlines()[-lines:])
    return tail[-limit:]
