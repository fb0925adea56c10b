"""The VMs of a lab of several VMs (a cluster): their statuses and names.

A cluster lab's record keeps one entry per VM under ``vms`` (keyed by VM name, written
PENDING when the lab is requested); the workflow's per-VM steps (:mod:`ads.cluster_steps`)
move each entry through the statuses below while the lab's own status follows the
lifecycle of :mod:`ads.lab_record`. One source for both: the names a step input accepts
and the way a failed step names its VM.
"""

from __future__ import annotations

import re
from enum import StrEnum


class VmStatus(StrEnum):
    PENDING = "PENDING"
    CREATING = "CREATING"
    RUNNING = "RUNNING"
    INITIALIZING = "INITIALIZING"
    HEALTHY = "HEALTHY"
    FAILED = "FAILED"
    DESTROYED = "DESTROYED"


# "<role>-<n>": a role name (^[a-z][a-z0-9-]{0,19}$) and its 1-based index.
VM_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,19}-[0-9]{1,2}$"
# The fields of an entry a step may write (besides ``updated_at``, which every write sets).
ENTRY_FIELDS = frozenset(
    {
        "name",
        "role",
        "status",
        "vm_id",
        "provider",
        "private_ip",
        "agent_port",
        "endpoint",
        "app_url",
        "vm_details",
        "init_command_id",
        # When the VM's install command was sent: its init deadline counts from here.
        "init_started_at",
        # The cluster facts' delivery command (SSM on EC2), kept on every entry it targets.
        "facts_command_id",
        "failed_step",
        "cause",
    }
)
_NAMED_STEP = re.compile(r"^(?P<step>.+) \((?P<vm>[a-z][a-z0-9-]{0,19}-[0-9]{1,2})\)$")


def vm_step(step: str, vm_name: str) -> str:
    """The failed_step of a per-VM step: "Initialise VM (web-2)"."""
    return f"{step} ({vm_name})"


def vm_of_step(failed_step: str | None) -> str | None:
    """The VM a failed_step names ("Initialise VM (web-2)" -> "web-2"), if it names one."""
    match = _NAMED_STEP.match(failed_step or "")
    return match.group("vm") if match else None
