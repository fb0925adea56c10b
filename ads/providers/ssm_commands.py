"""A shell script on an ``ec2`` lab's instance through SSM Run Command, and its end.

``send_shell_script`` sends it with the ``AWS-RunShellScript`` document: an
``executionTimeout`` so a hung script ends on the VM too, and a delivery timeout for the
instance's SSM agent to pick it up. ``read_invocation`` reads ``GetCommandInvocation``:
right after SendCommand the invocation may not be visible yet (InvocationDoesNotExist),
then Pending/InProgress/Delayed; once ended, its standard output and error (SSM keeps the
last 24,000 characters of each) and ResponseCode (-1 when the script did not run to an
exit: timed out, cancelled). Each caller words its own statuses from the result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from ads.providers.base import InitFailed, output_tail
from ads.providers.throttling import error_code, error_message

IN_PROGRESS = frozenset({"Pending", "InProgress", "Delayed"})
# SSM's ResponseCode when the command did not run to an exit (timed out, cancelled).
NO_EXIT_CODE = -1
NOT_VISIBLE = "invocation not visible yet"

Call = Callable[..., Any]


def send_shell_script(
    call: Call,
    ssm: Any,
    *,
    vm_id: str,
    what: str,
    script: str,
    comment: str,
    execution_timeout_s: int,
    delivery_timeout_s: int,
    refused: Callable[[str], Exception] = InitFailed,
) -> str:
    """Send ``script`` to ``vm_id``; the command id to follow. A refusal raises
    ``refused("SendCommand (<what>) to <vm_id> refused: <code>: <message>")``."""
    try:
        response = call(
            ssm,
            "send_command",
            InstanceIds=[vm_id],
            DocumentName="AWS-RunShellScript",
            Comment=comment[:100],
            Parameters={"commands": [script], "executionTimeout": [str(execution_timeout_s)]},
            TimeoutSeconds=delivery_timeout_s,
        )
    except ClientError as exc:
        raise refused(
            f"SendCommand ({what}) to {vm_id} refused: {error_code(exc)}: {error_message(exc)}"
        ) from exc
    return str(response["Command"]["CommandId"])


@dataclass(frozen=True)
class Invocation:
    """One command invocation as GetCommandInvocation reports it."""

    # Why it has not ended ("invocation not visible yet" or SSM's status); None once ended.
    progress: str | None
    status: str = ""
    stdout: str = ""
    stderr: str = ""
    response_code: Any = None
    status_details: str = ""

    @property
    def exit_code(self) -> int | None:
        """The script's exit code; None when it did not run to an exit."""
        code = self.response_code
        return int(code) if isinstance(code, int) and code != NO_EXIT_CODE else None

    @property
    def output_tail(self) -> str:
        """The tail of standard output then standard error (the non-blank ones)."""
        return output_tail("\n".join(part for part in (self.stdout, self.stderr) if part.strip()))

    @property
    def detail(self) -> str:
        return self.status_details or self.status


def read_invocation(call: Call, ssm: Any, vm_id: str, command_id: str) -> Invocation:
    try:
        response = call(ssm, "get_command_invocation", CommandId=command_id, InstanceId=vm_id)
    except ClientError as exc:
        if error_code(exc) == "InvocationDoesNotExist":
            return Invocation(progress=NOT_VISIBLE)
        raise
    status = str(response.get("Status", ""))
    if status in IN_PROGRESS:
        return Invocation(progress=status, status=status)
    return Invocation(
        progress=None,
        status=status,
        stdout=str(response.get("StandardOutputContent") or ""),
        stderr=str(response.get("StandardErrorContent") or ""),
        response_code=response.get("ResponseCode"),
        status_details=str(response.get("StatusDetails") or ""),
    )
