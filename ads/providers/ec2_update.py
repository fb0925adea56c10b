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

from botocore.exceptions import ClientError

from ads.providers.base import InitFailed, output_tail
from ads.providers.ec2_actions import ACTION_DELIVERY_TIMEOUT_S, IN_PROGRESS, NO_EXIT_CODE, Call
from ads.providers.throttling import error_code, error_message
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
    try:
        response = call(
            ssm,
            "send_command",
            InstanceIds=[vm_id],
            DocumentName="AWS-RunShellScript",
            Comment=f"ADS update {lab_id}"[:100],
            Parameters={
                "commands": [update_script(prefix, request)],
                "executionTimeout": [str(timeout_s)],
            },
            TimeoutSeconds=ACTION_DELIVERY_TIMEOUT_S,
        )
    except ClientError as exc:
        raise InitFailed(
            f"SendCommand (update) to {vm_id} refused: {error_code(exc)}: {error_message(exc)}"
        ) from exc
    return str(response["Command"]["CommandId"])


def update_status(call: Call, ssm: Any, vm_id: str, command_id: str) -> UpdateStatus:
    try:
        response = call(ssm, "get_command_invocation", CommandId=command_id, InstanceId=vm_id)
    except ClientError as exc:
        # Right after SendCommand the invocation may not be visible yet.
        if error_code(exc) == "InvocationDoesNotExist":
            return UpdateStatus(state="in_progress", detail="invocation not visible yet")
        raise
    status = str(response.get("Status", ""))
    if status in IN_PROGRESS:
        return UpdateStatus(state="in_progress", detail=status)
    stdout = str(response.get("StandardOutputContent") or "")
    stderr = str(response.get("StandardErrorContent") or "")
    tail = output_tail("\n".join(part for part in (stdout, stderr) if part.strip()))
    code = response.get("ResponseCode")
    return UpdateStatus(
        state="success" if status == "Success" else "failed",
        exit_code=int(code) if isinstance(code, int) and code != NO_EXIT_CODE else None,
        output_tail=tail,
        detail=str(response.get("StatusDetails") or status),
        result=parse_update_result(stdout),
    )
