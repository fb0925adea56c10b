"""Power for the ``ec2`` provider: Stop/Start/RebootInstances, and the lab's start action.

Each call answers at once with the state EC2 reports; the power steps raise a named
exception while it is not the one they wait for, and the state machine retries. A
Start or Stop that EC2 refuses because the instance is between states
(``IncorrectInstanceState``: still stopping, still pending) is not an error here: the
state it reports is what the step weighs, and the retried step asks again.

After a start the agent (a systemd service) comes back by itself; the lab's own
application does not, so its ``start`` action is run through SSM Run Command like the
install script, and followed the same way (``get_init_status``).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from ads.providers.base import VmNotRunning, VmState
from ads.providers.ssm_commands import send_shell_script
from ads.providers.throttling import error_code, error_message

BETWEEN_STATES_ERRORS = frozenset({"IncorrectInstanceState"})
NOT_FOUND_ERRORS = frozenset({"InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"})
START_ACTION = "start"
START_DELIVERY_TIMEOUT_S = 600

Describe = Callable[[str], VmState]
Call = Callable[..., Any]


def change_power(call: Call, ec2: Any, operation: str, vm_id: str, describe: Describe) -> VmState:
    """``operation`` (stop_instances, start_instances, reboot_instances) on ``vm_id``,
    then the state EC2 reports."""
    try:
        call(ec2, operation, InstanceIds=[vm_id])
    except ClientError as exc:
        code = error_code(exc)
        if code in NOT_FOUND_ERRORS:
            return VmState(vm_id=vm_id, state="absent")
        if code not in BETWEEN_STATES_ERRORS:
            raise VmNotRunning(
                f"{_api_name(operation)} {vm_id} refused: {code}: {error_message(exc)}",
                vm_id=vm_id,
            ) from exc
    return describe(vm_id)


def start_action_script(prefix: str) -> str:
    """The shell script that runs the lab's ``start`` action with the installed agent."""
    quoted = shlex.quote(prefix)
    return (
        "set -e\n"
        f"cd {quoted}/agent\n"
        f"exec python3 -m ads_agent action {START_ACTION} "
        f"--state-dir {quoted}/state --lab-dir {quoted}/lab\n"
    )


def start_lab(
    call: Call,
    ssm: Any,
    *,
    lab_id: str,
    vm_id: str,
    plan: Mapping[str, Any],
    prefix: str,
    timeout_s: int,
) -> str | None:
    """Send the lab's start action to the instance; None when it defines none."""
    if not (plan.get("actions") or {}).get(START_ACTION):
        return None
    return send_shell_script(
        call,
        ssm,
        vm_id=vm_id,
        what="start action",
        script=start_action_script(prefix),
        comment=f"ADS start {lab_id}",
        execution_timeout_s=timeout_s,
        delivery_timeout_s=START_DELIVERY_TIMEOUT_S,
    )


def _api_name(operation: str) -> str:
    return "".join(part.capitalize() for part in operation.split("_"))
