"""The event-driven waits of DeployLab: task tokens kept in the labs table, completed
once, and the deadlines of the waits.

Initialise VM is a ``.waitForTaskToken`` task: its Lambda sends the install command,
registers the task token under that command (:meth:`StepWaits.register`), and checks
the command once, completing its own token when the command has already ended (the
event may come before the token is stored). The command's status-change event (SSM's
"EC2 Command Invocation Status-change Notification" on AWS, the local provider's on the
local plane) reaches ``functions/step_callback``, which finds the token by the event's
instance and command (:meth:`StepWaits.find`), reads the command's outcome from the
provider (an event body proves nothing about its sender) and completes the token.

Completing a token twice is harmless: Step Functions refuses the second call
(``TaskTimedOut``, ``InvalidToken`` or ``TaskDoesNotExist``), which :class:`TaskTokens`
reports as "not completed" instead of raising.

The items live under the ``wait#`` key prefix with a TTL and no ``owner``, like the
idempotency keys, so the owner and status indexes never list them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ads.lab_record import LabRecord, LabStatus
from ads.labs_table import TTL_ATTRIBUTE, WAIT_PREFIX
from ads.observability import logger
from ads.providers.base import StepError

# SendTask* answers for a token whose task already ended (completed, timed out, or its
# execution gone): the event came late, or twice. Nothing is left to do.
SPENT_TOKEN_ERRORS = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})
# A wait item outlives its wait by this long, then DynamoDB's TTL removes it.
WAIT_RETENTION_S = 24 * 3600


class StepDeadlineExceeded(StepError):
    """A wait of the workflow passed its deadline: the lab fails and its VM is destroyed."""


class WaitRegistrationRefused(StepError):
    """The command's wait item belongs to another lab (it never should)."""


@dataclass(frozen=True)
class Wait:
    key: str
    lab_id: str
    task_token: str


def wait_key(vm_id: str, command_id: str) -> str:
    # The event names the instance and the command; a local command id is unique per VM only.
    return f"{WAIT_PREFIX}{vm_id}#{command_id}"


class StepWaits:
    """Wait items in the labs table (``table``: a boto3 DynamoDB Table resource)."""

    def __init__(self, table: Any, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._clock = clock

    def register(self, *, lab_id: str, vm_id: str, command_id: str, task_token: str) -> Wait:
        """Store ``task_token`` as the one that waits for the command (a retried wait
        replaces the token of the attempt before it, which Step Functions has closed)."""
        from botocore.exceptions import ClientError

        key = wait_key(vm_id, command_id)
        try:
            self._table.update_item(
                Key={"lab_id": key},
                UpdateExpression="SET waiting_lab = :lab, task_token = :token, #ttl = :ttl",
                # Only the lab that sent the command may wait for it.
                ConditionExpression="attribute_not_exists(lab_id) OR waiting_lab = :lab",
                ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues={
                    ":lab": lab_id,
                    ":token": task_token,
                    ":ttl": int(self._clock()) + WAIT_RETENTION_S,
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            raise WaitRegistrationRefused(
                f"command {command_id} on {vm_id} is awaited by another lab, not {lab_id}",
                lab_id=lab_id,
                command_id=command_id,
            ) from None
        return Wait(key=key, lab_id=lab_id, task_token=task_token)

    def find(self, vm_id: str, command_id: str) -> Wait | None:
        key = wait_key(vm_id, command_id)
        item = self._table.get_item(Key={"lab_id": key}, ConsistentRead=True).get("Item")
        if not item or not item.get("task_token") or not item.get("waiting_lab"):
            return None
        return Wait(key=key, lab_id=str(item["waiting_lab"]), task_token=str(item["task_token"]))

    def release(self, wait: Wait) -> None:
        """Forget the wait, unless a newer attempt has registered its own token since."""
        from botocore.exceptions import ClientError

        try:
            self._table.delete_item(
                Key={"lab_id": wait.key},
                ConditionExpression="task_token = :token",
                ExpressionAttributeValues={":token": wait.task_token},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise


class TaskTokens:
    """SendTaskSuccess / SendTaskFailure on a Step Functions client (``sfn``)."""

    def __init__(self, sfn: Any) -> None:
        self._sfn = sfn

    def succeed(self, token: str, output: str) -> bool:
        """True when this call completed the task; False when it had ended already."""
        return self._send("send_task_success", taskToken=token, output=output)

    def fail(self, token: str, error: str, cause: str) -> bool:
        # SendTaskFailure bounds: error 256 characters, cause 32,768.
        return self._send(
            "send_task_failure", taskToken=token, error=error[:256], cause=cause[:32768]
        )

    def _send(self, operation: str, **kwargs: Any) -> bool:
        from botocore.exceptions import ClientError

        try:
            getattr(self._sfn, operation)(**kwargs)
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code not in SPENT_TOKEN_ERRORS:
                raise
            logger.info("task token already spent", operation=operation, error_code=code)
            return False
        return True


def seconds_in(record: LabRecord, status: LabStatus, now: float) -> float:
    """How long ``record`` has been in ``status`` since it first entered it (0 if never)."""
    for change in record.status_history:
        if change.status == status:
            entered = datetime.fromisoformat(change.at.replace("Z", "+00:00")).timestamp()
            return max(0.0, now - entered)
    return 0.0


def deadline_for(record: LabRecord, name: str, configured: int) -> int:
    """The lab's own deadline for wait ``name`` (its labspec's ``deadlines``, validated
    when it was planned), else the configuration's."""
    given = (record.plan.get("deadlines") or {}).get(name)
    if isinstance(given, int) and not isinstance(given, bool) and given > 0:
        return given
    return configured


def check_deadline(
    record: LabRecord, status: LabStatus, deadline_s: int, step: str, now: float, detail: str
) -> None:
    """Raise :class:`StepDeadlineExceeded` once ``record`` has spent ``deadline_s`` in
    ``status``: "timed out after N s in <step> (<detail>)"."""
    if seconds_in(record, status, now) > deadline_s:
        raise StepDeadlineExceeded(
            f"timed out after {deadline_s} s in {step} ({detail})",
            lab_id=record.lab_id,
            deadline_s=deadline_s,
        )
