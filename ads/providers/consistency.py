"""EC2's eventual consistency, as the workflow steps read a provider's "absent".

``DescribeInstances`` (and ``TerminateInstances``) may answer
``InvalidInstanceID.NotFound`` for seconds after ``RunInstances`` returned the instance:
the instance exists, the API has not caught up. So an "absent" VM launched less than the
grace window ago is not absent yet: Wait Until Running keeps waiting and Destroy VM
keeps trying. After the window a NotFound is believed: EC2 lists a terminated instance
for about an hour, so an instance it no longer knows was never launched or is long gone.

The launch time is EC2's own ``LaunchTime``, kept in the VM's details (and so in the lab
record) by the provider; a VM without one (the local provider) gets no grace.

A lab may also have no VM recorded at all while one exists: Create VM died (its Lambda
timed out, the record write failed, a destroy overtook it) after RunInstances returned
but before the instance id was stored. Destroy VM then finds the instance only by its
tag, which EC2 may not list yet either. So Create VM keeps when each attempt started
(:data:`LAUNCH_ATTEMPTED_AT`), for a provider whose cloud lists new VMs late
(``lists_launches_late``), and a tag search that finds nothing is not believed until the
attempt could have launched (the create Lambda's timeout) plus the grace has passed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

LAUNCHED_AT = "launched_at"
LAUNCH_ATTEMPTED_AT = "launch_attempted_at"
# The create_vm Lambda's timeout (cdk_app/workflow_construct.py): an attempt that started
# at t may still have its RunInstances answered until t + this.
CREATE_VM_TIMEOUT_S = 60


def launch_time_detail(value: Any) -> str | None:
    """A LaunchTime as botocore answers it (datetime) in the form the details keep."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat()
    return str(value) if value else None


def launched_at(details: Mapping[str, Any]) -> datetime | None:
    return _moment(details, LAUNCHED_AT)


def _moment(details: Mapping[str, Any], key: str) -> datetime | None:
    raw = details.get(key)
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(str(raw))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def within_launch_grace(
    details: Mapping[str, Any], grace_s: float, now: datetime | None = None
) -> bool:
    """Whether a NotFound for this VM may still be EC2 catching up with its launch."""
    launched = launched_at(details)
    if launched is None:
        return False
    elapsed = ((now or datetime.now(UTC)) - launched).total_seconds()
    return elapsed < grace_s


def launch_attempt_details(provider: object, now: datetime | None = None) -> dict[str, str]:
    """What Create VM keeps before asking ``provider`` for a VM: when it asked, if the
    provider's cloud may list a new VM late; nothing otherwise (the local provider)."""
    if not getattr(provider, "lists_launches_late", False):
        return {}
    return {LAUNCH_ATTEMPTED_AT: (now or datetime.now(UTC)).isoformat()}


def within_launch_attempt_grace(
    details: Mapping[str, Any], grace_s: float, now: datetime | None = None
) -> bool:
    """Whether a lab with no VM recorded may still have one EC2 does not list by its tag."""
    attempted = _moment(details, LAUNCH_ATTEMPTED_AT)
    if attempted is None:
        return False
    elapsed = ((now or datetime.now(UTC)) - attempted).total_seconds()
    return elapsed < CREATE_VM_TIMEOUT_S + grace_s
