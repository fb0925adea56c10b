"""EC2's eventual consistency, as the workflow steps read a provider's "absent".

``DescribeInstances`` (and ``TerminateInstances``) may answer
``InvalidInstanceID.NotFound`` for seconds after ``RunInstances`` returned the instance:
the instance exists, the API has not caught up. So an "absent" VM launched less than the
grace window ago is not absent yet: Wait Until Running keeps waiting and Destroy VM
keeps trying. After the window a NotFound is believed: EC2 lists a terminated instance
for about an hour, so an instance it no longer knows was never launched or is long gone.

The launch time is EC2's own ``LaunchTime``, kept in the VM's details (and so in the lab
record) by the provider; a VM without one (the local provider) gets no grace.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

LAUNCHED_AT = "launched_at"


def launch_time_detail(value: Any) -> str | None:
    """A LaunchTime as botocore answers it (datetime) in the form the details keep."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat()
    return str(value) if value else None


def launched_at(details: Mapping[str, Any]) -> datetime | None:
    raw = details.get(LAUNCHED_AT)
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
