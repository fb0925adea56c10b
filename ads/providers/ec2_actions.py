"""Lab actions for the ``ec2`` provider: SSM Run Command runs the agent's ``action NAME``.

The command is the installed agent (``python3 -m ads_agent action NAME``) through the
``AWS-RunShellScript`` document, with an ``executionTimeout`` so a hung action ends on
the VM too; ``GetCommandInvocation`` reports its end. The agent prints its output tail
on success and on failure, so the invocation's standard output is the action's answer.
"""

from __future__ import annotations

import shlex
from typing import Any

from ads.providers.base import InitStatus
from ads.providers.ssm_commands import Call, read_invocation, send_shell_script

# How long SSM may take to deliver the command to the instance's agent.
ACTION_DELIVERY_TIMEOUT_S = 600


def action_script(prefix: str, name: str) -> str:
    quoted = shlex.quote(prefix)
    return (
        "set -e\n"
        f"cd {quoted}/agent\n"
        f"exec python3 -m ads_agent action {shlex.quote(name)} "
        f"--state-dir {quoted}/state --lab-dir {quoted}/lab\n"
    )


def send_action(
    call: Call, ssm: Any, *, lab_id: str, vm_id: str, name: str, prefix: str, timeout_s: int
) -> str:
    """Send action ``name`` to the instance; the command id to follow."""
    return send_shell_script(
        call,
        ssm,
        vm_id=vm_id,
        what=f"action {name}",
        script=action_script(prefix, name),
        comment=f"ADS action {name} {lab_id}",
        execution_timeout_s=timeout_s,
        delivery_timeout_s=ACTION_DELIVERY_TIMEOUT_S,
    )


def action_status(call: Call, ssm: Any, vm_id: str, command_id: str) -> InitStatus:
    invocation = read_invocation(call, ssm, vm_id, command_id)
    if invocation.progress is not None:
        return InitStatus(state="in_progress", detail=invocation.progress)
    tail = invocation.output_tail
    if invocation.status == "Success":
        return InitStatus(state="success", exit_code=0, output_tail=tail, detail="Success")
    return InitStatus(
        state="failed",
        exit_code=invocation.exit_code,
        output_tail=tail,
        detail=invocation.detail,
    )
