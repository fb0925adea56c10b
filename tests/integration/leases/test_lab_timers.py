"""What a lab's schedule does when it fires (ads.lab_timers) against moto: the expiry
destroys a READY, STOPPED or still-deploying lab with the cause 'lease expired', leaves a
lab already DESTROYING or DESTROYED alone, skips a renewed lease's older expiry; the
warning sends Lab Expiring and notes it; working hours skip a stop of a lab not READY.
Also the local plane's timer: due at() schedules fire once and are deleted, cron ones
fire in their minute in their time zone, with the clock moved instead of waited for."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ads.config import AdsConfig
from ads.deployment_context import DeploymentContext
from ads.lab_record import LabStatus
from ads.lab_schedules import LabSchedules
from ads.lab_timers import LEASE_EXPIRED, TimerEvent, run_timer
from ads.labs_table import create_table
from ads.local.schedule_timer import ScheduleTimer
from ads.records import LabRepository

REGION = "us-east-1"
OWNER = "arn:aws:iam::123456789012:user/alice"
EXPIRES = "2026-12-01T12:00:00.000Z"


class Publisher:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def publish(self, record: Any, detail_type: str | None = None, extra: Any = None) -> bool:
        self.sent.append((detail_type or "", {"lab_id": record.lab_id, **(extra or {})}))
        return True


@pytest.fixture
def plane(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        create_table(boto3.client("dynamodb", region_name=REGION), "labs")
        sfn = boto3.client("stepfunctions", region_name=REGION)
        definition = json.dumps({"StartAt": "D", "States": {"D": {"Type": "Pass", "End": True}}})
        role = "arn:aws:iam::123456789012:role/r"
        arns = {
            name: sfn.create_state_machine(name=name, definition=definition, roleArn=role)[
                "stateMachineArn"
            ]
            for name in ("deploy", "destroy", "power")
        }
        config = AdsConfig(
            region=REGION,
            table_name="labs",
            deploy_state_machine_arn=arns["deploy"],
            destroy_state_machine_arn=arns["destroy"],
            power_state_machine_arn=arns["power"],
        )
        repo = LabRepository.from_name("labs", REGION)
        scheduler = boto3.client("scheduler", region_name=REGION)
        scheduler.create_schedule_group(Name="ads-labs")
        schedules = LabSchedules(scheduler, "ads-labs", "arn:aws:lambda:::function:t", "arn:r")
        yield DeploymentContext(repo, sfn, config), schedules


def _lab(ctx: DeploymentContext, *statuses: str, lab_id: str = "lab-1") -> str:
    ctx.repository.create(
        ctx.repository.new_record(lab_id, OWNER, lease={"requested": "1h", "expires_at": EXPIRES})
    )
    for status in statuses:
        ctx.repository.transition(lab_id, status)
    return lab_id


READY = ("PROVISIONING", "INITIALIZING", "HEALTH_CHECKING", "READY")


@pytest.mark.parametrize(
    "statuses", [READY, (*READY, "STOPPING", "STOPPED"), ("PROVISIONING",), ("FAILED",)]
)
def test_given_a_lab_when_its_lease_expires_then_it_is_destroying_with_the_cause(plane, statuses):
    ctx, schedules = plane
    lab_id = _lab(ctx, *statuses)

    outcome = run_timer(
        ctx, TimerEvent(lab_id=lab_id, action="expire", expires_at=EXPIRES), Publisher(), schedules
    )

    assert outcome.done
    record = ctx.repository.require(lab_id)
    assert record.status == LabStatus.DESTROYING
    assert record.cause == LEASE_EXPIRED
    assert record.status_history[-1].note == LEASE_EXPIRED
    assert record.destroy_execution_arn


@pytest.mark.parametrize("statuses", [("DESTROYING",), ("DESTROYING", "DESTROYED")])
def test_given_a_lab_already_destroying_or_destroyed_when_its_lease_expires_then_nothing_happens(
    plane, statuses
):
    ctx, schedules = plane
    lab_id = _lab(ctx, *statuses)
    before = ctx.repository.require(lab_id)

    outcome = run_timer(
        ctx, TimerEvent(lab_id=lab_id, action="expire", expires_at=EXPIRES), Publisher(), schedules
    )

    assert not outcome.done
    after = ctx.repository.require(lab_id)
    assert after.status == before.status and after.cause is None
    assert (
        ctx.stepfunctions.list_executions(stateMachineArn=ctx.config.destroy_state_machine_arn)[
            "executions"
        ]
        == []
    )


def test_given_a_renewed_lease_when_the_older_expiry_fires_then_it_is_skipped(plane):
    ctx, schedules = plane
    lab_id = _lab(ctx, *READY)

    outcome = run_timer(
        ctx,
        TimerEvent(lab_id=lab_id, action="expire", expires_at="2026-12-01T08:00:00.000Z"),
        Publisher(),
        schedules,
    )

    assert not outcome.done
    assert ctx.repository.require(lab_id).status == LabStatus.READY


def test_given_a_lab_when_its_warning_fires_then_lab_expiring_is_sent_and_noted(plane):
    ctx, schedules = plane
    lab_id = _lab(ctx, *READY)
    publisher = Publisher()

    run_timer(
        ctx, TimerEvent(lab_id=lab_id, action="warn", expires_at=EXPIRES), publisher, schedules
    )

    assert publisher.sent == [("Lab Expiring", {"lab_id": lab_id, "expires_at": EXPIRES})]
    assert ctx.repository.require(lab_id).lease["warned_at"]


def test_given_working_hours_when_stop_fires_for_a_lab_not_ready_then_it_is_skipped(plane):
    ctx, schedules = plane
    lab_id = _lab(ctx, "PROVISIONING")

    outcome = run_timer(ctx, TimerEvent(lab_id=lab_id, action="stop"), Publisher(), schedules)

    assert not outcome.done and "PROVISIONING" in outcome.note
    assert ctx.repository.require(lab_id).status == LabStatus.PROVISIONING


def test_given_working_hours_when_stop_then_start_fire_then_power_operations_are_requested(plane):
    ctx, schedules = plane
    lab_id = _lab(ctx, *READY)

    stopped = run_timer(ctx, TimerEvent(lab_id=lab_id, action="stop"), Publisher(), schedules)

    assert stopped.done
    record = ctx.repository.require(lab_id)
    assert record.status == LabStatus.STOPPING
    assert record.status_history[-1].note == "stop requested by working hours"
    ctx.repository.transition(lab_id, "STOPPED")
    started = run_timer(ctx, TimerEvent(lab_id=lab_id, action="start"), Publisher(), schedules)
    assert started.done
    assert ctx.repository.require(lab_id).status == LabStatus.STARTING


def test_given_a_destroyed_lab_when_a_leftover_schedule_fires_then_its_schedules_are_deleted(plane):
    ctx, schedules = plane
    lab_id = _lab(ctx, "DESTROYING", "DESTROYED")
    schedules.put_recurring(lab_id, "stop", "cron(0 20 ? * MON *)", "UTC")

    run_timer(ctx, TimerEvent(lab_id=lab_id, action="stop"), Publisher(), schedules)

    assert not schedules.exists(lab_id, "stop")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_given_the_local_timer_when_time_passes_then_due_schedules_fire_once(plane):
    _ctx, schedules = plane
    # Monday 2026-11-30 10:00 UTC = 15:30 in Asia/Kolkata.
    clock = Clock(datetime(2026, 11, 30, 10, 0, 0, tzinfo=UTC))
    schedules.put_one_time("lab-1", "expire", clock.now + timedelta(minutes=5), {"expires_at": "x"})
    schedules.put_recurring("lab-1", "stop", "cron(45 15 ? * MON *)", "Asia/Kolkata")
    fired: list[dict[str, Any]] = []
    timer = ScheduleTimer(schedules.client, "ads-labs", fired.append, clock=clock)

    clock.now += timedelta(minutes=4)
    assert timer.run_due() == []
    clock.now += timedelta(minutes=2)
    assert timer.run_due() == ["lab-1-expire"]
    assert not schedules.exists("lab-1", "expire")
    clock.now += timedelta(minutes=10)
    assert timer.run_due() == ["lab-1-stop"]
    clock.now += timedelta(minutes=10)
    assert timer.run_due() == []
    assert [event["action"] for event in fired] == ["expire", "stop"]
    assert schedules.exists("lab-1", "stop")


def test_given_a_lab_whose_expiry_schedule_is_missing_when_the_sweep_hook_applies_then_it_is_recreated(
    plane, monkeypatch
):
    from ads import leases

    ctx, schedules = plane
    lab_id = _lab(ctx, *READY)
    monkeypatch.setattr(leases, "schedules_for", lambda _config: schedules)
    hook = leases.expiry_schedule_hook(ctx.config)
    record = ctx.repository.require(lab_id)

    assert hook(record, False) == f"{lab_id}-expire"
    assert not schedules.exists(lab_id, "expire")
    assert hook(record, True) == f"{lab_id}-expire"
    assert schedules.exists(lab_id, "expire")
    assert hook(record, True) is None


def test_given_live_labs_without_their_schedules_when_restored_then_they_are_recreated(plane):
    from ads.leases import restore_schedules

    ctx, schedules = plane
    leased = _lab(ctx, *READY, lab_id="lab-leased")
    ctx.repository.create(
        ctx.repository.new_record(
            "lab-hours",
            OWNER,
            lease={"requested": "none", "expires_at": None},
            working_hours={"spec": "Mon-Fri 08:00-20:00 UTC"},
        )
    )
    _lab(ctx, "DESTROYING", "DESTROYED", lab_id="lab-gone")

    assert sorted(restore_schedules(ctx.repository, schedules)) == ["lab-hours", "lab-leased"]
    assert schedules.exists(leased, "expire")
    assert schedules.exists("lab-hours", "stop") and schedules.exists("lab-hours", "start")
    assert not schedules.exists("lab-gone", "expire")
    assert restore_schedules(ctx.repository, schedules) == ["lab-hours"]


def test_given_the_local_timer_when_a_schedule_is_moved_then_it_fires_at_its_new_time_and_unchanged_ones_are_read_once(
    plane,
):
    _ctx, schedules = plane
    clock = Clock(datetime(2026, 11, 30, 10, 0, 0, tzinfo=UTC))
    schedules.put_one_time("lab-1", "expire", clock.now + timedelta(minutes=5), {"expires_at": "x"})
    schedules.put_one_time("lab-2", "expire", clock.now + timedelta(hours=2), {"expires_at": "y"})
    reads: list[str] = []
    real_get = schedules.client.get_schedule

    def counted_get(**kwargs: Any) -> Any:
        reads.append(kwargs["Name"])
        return real_get(**kwargs)

    schedules.client.get_schedule = counted_get
    fired: list[dict[str, Any]] = []
    timer = ScheduleTimer(schedules.client, "ads-labs", fired.append, clock=clock)

    for _ in range(3):
        clock.now += timedelta(minutes=1)
        assert timer.run_due() == []
    assert sorted(reads) == ["lab-1-expire", "lab-2-expire"]
    # A renewal moves lab-1's expiry later: the timer reads it again and keeps to it.
    schedules.put_one_time("lab-1", "expire", clock.now + timedelta(hours=1), {"expires_at": "z"})
    clock.now += timedelta(minutes=5)
    assert timer.run_due() == []
    assert reads.count("lab-1-expire") == 2 and reads.count("lab-2-expire") == 1
    clock.now += timedelta(hours=1)
    assert timer.run_due() == ["lab-1-expire"]
    assert [event["expires_at"] for event in fired] == ["z"]
    clock.now += timedelta(hours=1)
    assert timer.run_due() == ["lab-2-expire"]
