"""Wait Until Running within its deadline.

No AWS event says that an instance's SSM agent is online (EC2's "EC2 Instance
State-change Notification" says ``running``, tens of seconds before the agent registers),
so the step is still polled by the state machine's Retry. What changes is the budget:
every "not yet" is weighed against ``boot_deadline_s`` (ADS_BOOT_DEADLINE_S), counted from
the lab's entry into PROVISIONING, and past it the step fails with "timed out after N s
in Wait Until Running" instead of when a retry count runs out.

The result also carries ``init_poll_s``, the safety-net interval of Await Init (its
``TimeoutSecondsPath``): a value of the configuration, read at run time, so the local
plane can scale it like its other waits.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ads import steps
from ads.lab_record import LabStatus
from ads.providers.base import ComputeProvider, VmNotReady
from ads.records import LabRepository
from ads.step_results import WaitRunningResult
from ads.step_waits import check_deadline, deadline_for

STEP = "Wait Until Running"


class WaitRunningOutput(WaitRunningResult):
    init_poll_s: int


def wait_running_within(
    lab_id: str,
    repository: LabRepository,
    provider: ComputeProvider,
    *,
    launch_grace_s: float,
    boot_deadline_s: int,
    init_poll_s: int,
    clock: Callable[[], float] = time.time,
) -> WaitRunningOutput:
    try:
        result = steps.wait_running(lab_id, repository, provider, launch_grace_s=launch_grace_s)
    except VmNotReady as exc:
        # Only a VM that is not ready yet costs this second read of the record.
        record = repository.require(lab_id)
        deadline_s = deadline_for(record, "boot", boot_deadline_s)
        check_deadline(record, LabStatus.PROVISIONING, deadline_s, STEP, clock(), str(exc))
        raise
    return WaitRunningOutput(**result.model_dump(), init_poll_s=init_poll_s)
