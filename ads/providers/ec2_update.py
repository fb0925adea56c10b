"""Updating an ``ec2`` lab in place: SSM Run Command runs the agent's ``update``.

The command is the installed agent (``python3 -m ads_agent update``) through the
``AWS-RunShellScript`` document, with an ``executionTimeout`` so a hung update ends on
the VM too. A new plan travels inside the command, base64-encoded, and is written to
the agent's state directory first. ``GetCommandInvocation`` reports the end; the
invocation's standard output ends with the agent's ``ADS-UPDATE-RESULT`` line (SSM keeps
the last 24,000 characters of it, and the line is the last one printed).
"""

from __future__ import annotations

import base64
import json
import shlex
from typing import Any

from ads.providers.ec2_actions import ACTION_DELIVERY_TIMEOUT_S
from ads.providers.ssm_commands import Call, read_invocation, send_shell_script
from ads.providers.vm_update import UpdateStatus, VmUpdateRequest, parse_update_result


def update_script(prefix: str, request: VmUpdateRequest) -> str:
    quoted = shlex.quote(prefix)
    lines = ["set -e"]
    arguments = f"--source-git {shlex.quote(request.source_git)}"
    if request.source_ref:
        arguments += f" --source-ref {shlex.quote(request.source_ref)}"
    if request.plan is not None:
        encoded = base64.b64encode(json.dumps(request.plan).encode()).decode()
        lines.append(f"printf '%s' '{encoded}' | base64 -d > {quoted}/state/update-plan.json")
        arguments += f" --plan {quoted}/state/update-plan.json"
    lines += [
        f"cd {quoted}/agent",
        f"exec python3 -m ads_agent update {arguments} "
        f"--state-dir {quoted}/state --lab-dir {quoted}/lab",
    ]
    return "\n".join(lines) + "\n"


def send_update(
    call: Call,
    ssm: Any,
    *,
    lab_id: str,
    vm_id: str,
    request: VmUpdateRequest,
    prefix: str,
    timeout_s: int,
) -> str:
    """Send the update to the instance; the command id to follow."""
    return send_shell_script(
        call,
        ssm,
        vm_id=vm_id,
        what="update",
        script=update_script(prefix, request),
        comment=f"ADS update {lab_id}",
        execution_timeout_s=timeout_s,
        delivery_timeout_s=ACTION_DELIVERY_TIMEOUT_S,
    )


def update_status(call: Call, ssm: Any, vm_id: str, command_id: str) -> UpdateStatus:
    invocation = read_invocation(call, ssm, vm_id, command_id)
    if invocation.progress is not None:
        return UpdateStatus(state="in_progress", detail=invocation.progress)
    return UpdateStatus(
        state="success" if invocation.status == "Success" else "failed",
        exit_code=invocation.exit_code,
        output_tail=invocation.output_tail,
        detail=invocation.detail,
        result=parse_update_result(invocation.stdout),
    )
