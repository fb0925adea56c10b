"""A lab's EventBridge Scheduler schedules: the only module that calls Scheduler.

Per lab, in the ADS schedule group, each named ``<lab_id>-<kind>``:

* ``expire`` and ``warn``: one-time (``at(...)`` in UTC), deleted by Scheduler after they
  fire (ActionAfterCompletion DELETE), moved by a renewal;
* ``stop`` and ``start``: recurring (``cron(...)`` in the lab's time zone), its working hours.

Every target is the ``lab_timer`` Lambda with ``{"lab_id", "action", ...}`` as input,
invoked through the Scheduler role (which may invoke that function only). The flexible
time window is off: a lease ends when it says. Writes are idempotent, keyed on the lab
id: a create that meets an existing schedule (a retried request) updates it, a delete of
a schedule already gone (fired, or deleted before) is done. What Scheduler still
throttles after botocore's retries is :class:`SchedulerUnavailableError` (503).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ads.built_once import built_once
from ads.errors import AdsError
from ads.observability import logger
from ads.providers.throttling import client_config, error_code, error_message

ONE_TIME = ("expire", "warn")
RECURRING = ("stop", "start")
KINDS = (*ONE_TIME, *RECURRING)
# A schedule that cannot run its target for this long is dropped (the sweep re-creates
# a missing lease schedule); Scheduler retries within it.
RETRY_POLICY = {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 20}


class SchedulerUnavailableError(AdsError):
    """EventBridge Scheduler did not take the change (throttled or failing): retry later."""

    code = "scheduler_unavailable"
    http_status = 503


def schedule_name(lab_id: str, kind: str) -> str:
    return f"{lab_id}-{kind}"


def at_expression(moment: datetime) -> str:
    # Whole seconds, rounded up: a lease never ends before its expires_at.
    if moment.microsecond:
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    return "at(" + moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") + ")"


def parse_at(expression: str) -> datetime | None:
    if not (expression.startswith("at(") and expression.endswith(")")):
        return None
    return datetime.strptime(expression[3:-1], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)


@dataclass(frozen=True)
class LabSchedules:
    """Data access for the schedules of labs. ``client`` is a boto3 ``scheduler`` client."""

    client: Any
    group: str
    target_arn: str
    role_arn: str

    @property
    def can_create(self) -> bool:
        return bool(self.target_arn and self.role_arn)

    def _spec(
        self, lab_id: str, kind: str, expression: str, timezone: str, extra: dict[str, Any]
    ) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "Name": schedule_name(lab_id, kind),
            "GroupName": self.group,
            "ScheduleExpression": expression,
            "ScheduleExpressionTimezone": timezone,
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "State": "ENABLED",
            "Description": f"ADS: {kind} lab {lab_id}",
            "Target": {
                "Arn": self.target_arn,
                "RoleArn": self.role_arn,
                "Input": json.dumps({"lab_id": lab_id, "action": kind, **extra}),
                "RetryPolicy": dict(RETRY_POLICY),
            },
        }
        if kind in ONE_TIME:
            spec["ActionAfterCompletion"] = "DELETE"
        return spec

    def put_one_time(
        self, lab_id: str, kind: str, moment: datetime, extra: dict[str, Any] | None = None
    ) -> None:
        """Create (or move) the lab's ``expire``/``warn`` schedule to fire at ``moment``."""
        self._put(self._spec(lab_id, kind, at_expression(moment), "UTC", extra or {}))

    def put_recurring(self, lab_id: str, kind: str, cron: str, timezone: str) -> None:
        self._put(self._spec(lab_id, kind, cron, timezone, {}))

    def _put(self, spec: dict[str, Any]) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client.create_schedule(**spec)
            return
        except ClientError as exc:
            if error_code(exc) != "ConflictException":
                raise self._unavailable(exc, "CreateSchedule", spec["Name"]) from exc
        # It exists (a retry, or a renewal): UpdateSchedule replaces it whole.
        try:
            self.client.update_schedule(**spec)
        except ClientError as exc:
            raise self._unavailable(exc, "UpdateSchedule", spec["Name"]) from exc

    def delete(self, lab_id: str, kinds: tuple[str, ...] = KINDS) -> list[str]:
        """Delete the lab's schedules of ``kinds``; those already gone are fine. Returns
        the names deleted now."""
        from botocore.exceptions import ClientError

        deleted = []
        for kind in kinds:
            name = schedule_name(lab_id, kind)
            try:
                self.client.delete_schedule(Name=name, GroupName=self.group)
                deleted.append(name)
            except ClientError as exc:
                if error_code(exc) != "ResourceNotFoundException":
                    raise self._unavailable(exc, "DeleteSchedule", name) from exc
        return deleted

    def exists(self, lab_id: str, kind: str) -> bool:
        """Whether the schedule is there (the sweep re-creates a missing lease schedule)."""
        from botocore.exceptions import ClientError

        try:
            self.client.get_schedule(Name=schedule_name(lab_id, kind), GroupName=self.group)
            return True
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return False
            raise self._unavailable(exc, "GetSchedule", schedule_name(lab_id, kind)) from exc

    @staticmethod
    def _unavailable(exc: Any, operation: str, name: str) -> SchedulerUnavailableError:
        logger.warning("scheduler call failed", operation=operation, schedule=name)
        return SchedulerUnavailableError(
            f"EventBridge Scheduler refused {operation} of {name} "
            f"({error_code(exc)}: {error_message(exc)}); retry in a moment",
            schedule=name,
        )


@built_once(maxsize=4)
def _client(region: str, config_id: int) -> Any:  # noqa: ARG001 - a cache key
    # Keyed on the configuration too: the local plane's next start is a new emulation.
    import boto3

    return boto3.client("scheduler", region_name=region, config=client_config())


def schedules_for(config: Any) -> LabSchedules | None:
    """The schedules of this control plane, or None when it has no schedule group
    configured (ADS_SCHEDULE_GROUP): leases are then recorded but nothing fires. Without
    a target and role (DestroyLab's bookkeeping, the lab_timer itself) they may only be
    deleted (:attr:`LabSchedules.can_create`)."""
    if not config.schedule_group:
        return None
    return LabSchedules(
        client=_client(config.region, id(config)),
        group=config.schedule_group,
        target_arn=config.lab_timer_function_arn,
        role_arn=config.scheduler_role_arn,
    )


def forget_clients() -> None:
    """Drop cached clients (the local plane enters and leaves moto)."""
    _client.cache_clear()
