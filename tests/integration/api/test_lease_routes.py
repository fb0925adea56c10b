"""Leases through the api handler against moto (Scheduler included): a request's lease
and working hours become the record's and the lab's schedules in the ADS group; the
maximum and 'none' are refused with 403 naming the maximum, bad durations and working
hours with 400 naming the field; POST /labs/{lab_id}/lease moves the expiry within the
maximum, and a destroyed lab's lease is refused with 409."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from ads.config import reset_config
from ads.lab_record import LabStatus
from tests.integration.api.events import ADMIN_ROLE, load_event

GROUP = "ads-labs"
TIMER_ARN = "arn:aws:lambda:us-east-1:123456789012:function:ads-lab-timer"


@pytest.fixture
def scheduler(control_plane, monkeypatch):
    client = boto3.client("scheduler", region_name="us-east-1")
    client.create_schedule_group(Name=GROUP)
    monkeypatch.setenv("ADS_SCHEDULE_GROUP", GROUP)
    monkeypatch.setenv("ADS_SCHEDULER_ROLE_ARN", "arn:aws:iam::123456789012:role/ads-scheduler")
    monkeypatch.setenv("ADS_LAB_TIMER_FUNCTION_ARN", TIMER_ARN)
    monkeypatch.setenv("ADS_LEASE_MAX", "2d")
    reset_config()
    return client


def _post_lab(call_api, caller: str | None = None, **fields):
    event = load_event("api/post_labs_without_source", caller=caller)
    body = json.loads(event["body"])
    event["body"] = json.dumps({**body, **fields})
    return call_api(event)


def _renew(call_api, lab_id: str, duration: str, caller: str | None = None):
    event = load_event("api/delete_lab", lab_id=lab_id, caller=caller, body={"duration": duration})
    event["httpMethod"] = event["requestContext"]["httpMethod"] = "POST"
    event["resource"] = event["requestContext"]["resourcePath"] = "/labs/{lab_id}/lease"
    event["path"] = event["requestContext"]["path"] = f"/labs/{lab_id}/lease"
    return call_api(event)


def _schedule(scheduler, name: str) -> dict:
    return scheduler.get_schedule(Name=name, GroupName=GROUP)


def _at(schedule: dict) -> datetime:
    text = schedule["ScheduleExpression"][3:-1]
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)


def test_given_a_lease_of_4h_when_posted_then_the_record_and_its_one_time_schedules_say_when(
    call_api, control_plane, scheduler
):
    now = datetime.now(UTC)  # records keep their times to the millisecond
    before = now.replace(microsecond=now.microsecond // 1000 * 1000)
    answer = _post_lab(call_api, lease="4h")

    assert answer.status == 202, answer.body
    lab_id = answer.body["lab_id"]
    record = control_plane.repo.require(lab_id)
    expires = datetime.fromisoformat(record.lease["expires_at"])
    assert timedelta(hours=4) <= expires - before < timedelta(hours=4, minutes=1)
    # The lease is not DynamoDB's TTL: a live lab carries none.
    assert record.expires_at is None
    expire = _schedule(scheduler, f"{lab_id}-expire")
    assert expire["ActionAfterCompletion"] == "DELETE"
    assert expire["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert expire["Target"]["Arn"] == TIMER_ARN
    assert json.loads(expire["Target"]["Input"]) == {
        "lab_id": lab_id,
        "action": "expire",
        "expires_at": record.lease["expires_at"],
    }
    assert 0 <= (_at(expire) - expires).total_seconds() < 1
    warn = _schedule(scheduler, f"{lab_id}-warn")
    assert abs((expires - _at(warn)).total_seconds() - 15 * 60) < 1
    shown = call_api(load_event("api/get_lab", lab_id=lab_id))
    assert shown.body["lease"]["expires_at"] == record.lease["expires_at"]


def test_given_no_lease_when_posted_then_the_default_applies(call_api, control_plane, scheduler):
    lab_id = _post_lab(call_api).body["lab_id"]

    assert control_plane.repo.require(lab_id).lease["requested"] == "8h"


@pytest.mark.parametrize("lease", ["3d", "none"])
def test_given_a_lease_beyond_the_maximum_or_none_from_a_user_when_posted_then_403_naming_the_maximum(
    call_api, control_plane, scheduler, lease
):
    answer = _post_lab(call_api, lease=lease)

    assert answer.status == 403, answer.body
    assert answer.body["error"] == "lease_refused"
    assert "2d" in answer.body["message"]
    assert control_plane.executions(control_plane.deploy_arn) == []


def test_given_an_admin_asking_for_no_expiry_when_posted_then_the_lab_never_expires(
    call_api, control_plane, scheduler
):
    answer = _post_lab(call_api, caller=ADMIN_ROLE, lease="none")

    assert answer.status == 202, answer.body
    lab_id = answer.body["lab_id"]
    assert control_plane.repo.require(lab_id).lease["expires_at"] is None
    names = [s["Name"] for s in scheduler.list_schedules(GroupName=GROUP)["Schedules"]]
    assert names == []


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"lease": "forever"}, "lease"),
        ({"lease": "10s"}, "lease"),
        ({"schedule": "Mon-Fri 20:00-08:00 UTC"}, "schedule"),
        ({"schedule": "Mon-Fri 08:00-20:00 Mars/Olympus"}, "schedule"),
        ({"schedule": "Funday 08:00-20:00 UTC"}, "schedule"),
    ],
)
def test_given_a_bad_lease_or_schedule_when_posted_then_400_naming_the_field(
    call_api, control_plane, scheduler, fields, path
):
    answer = _post_lab(call_api, **fields)

    assert answer.status == 400, answer.body
    assert answer.body["problems"][0]["path"] == path
    assert control_plane.executions(control_plane.deploy_arn) == []


def test_given_working_hours_when_posted_then_two_recurring_schedules_in_the_time_zone(
    call_api, control_plane, scheduler
):
    answer = _post_lab(call_api, schedule="Mon-Fri 08:00-20:00 Asia/Kolkata")

    lab_id = answer.body["lab_id"]
    start = _schedule(scheduler, f"{lab_id}-start")
    stop = _schedule(scheduler, f"{lab_id}-stop")
    assert start["ScheduleExpression"] == "cron(0 8 ? * MON,TUE,WED,THU,FRI *)"
    assert stop["ScheduleExpression"] == "cron(0 20 ? * MON,TUE,WED,THU,FRI *)"
    assert (
        start["ScheduleExpressionTimezone"]
        == stop["ScheduleExpressionTimezone"]
        == ("Asia/Kolkata")
    )
    assert not start.get("ActionAfterCompletion")
    assert control_plane.repo.require(lab_id).working_hours["timezone"] == "Asia/Kolkata"


def test_given_a_lab_when_its_lease_is_renewed_then_the_expiry_moves_from_now(
    call_api, control_plane, scheduler
):
    lab_id = _post_lab(call_api, lease="1h").body["lab_id"]
    now = datetime.now(UTC)  # records keep their times to the millisecond
    before = now.replace(microsecond=now.microsecond // 1000 * 1000)

    answer = _renew(call_api, lab_id, "1d")

    assert answer.status == 200, answer.body
    expires = datetime.fromisoformat(answer.body["lease"]["expires_at"])
    assert timedelta(days=1) <= expires - before < timedelta(days=1, minutes=1)
    expire = _schedule(scheduler, f"{lab_id}-expire")
    assert 0 <= (_at(expire) - expires).total_seconds() < 1
    assert json.loads(expire["Target"]["Input"])["expires_at"] == answer.body["lease"]["expires_at"]
    assert control_plane.repo.require(lab_id).lease["renewed_at"]


def test_given_a_renewal_beyond_the_maximum_when_posted_then_403_and_the_lease_unchanged(
    call_api, control_plane, scheduler
):
    lab_id = _post_lab(call_api, lease="1h").body["lab_id"]
    lease = control_plane.repo.require(lab_id).lease

    answer = _renew(call_api, lab_id, "5d")

    assert answer.status == 403
    assert "maximum lease of 2d" in answer.body["message"]
    assert control_plane.repo.require(lab_id).lease == lease


def test_given_a_destroyed_lab_when_its_lease_is_renewed_then_409(
    call_api, control_plane, scheduler
):
    lab_id = _post_lab(call_api, lease="1h").body["lab_id"]
    control_plane.repo.transition(lab_id, LabStatus.DESTROYING)
    control_plane.repo.transition(lab_id, LabStatus.DESTROYED)

    answer = _renew(call_api, lab_id, "2h")

    assert answer.status == 409
    assert "DESTROYED" in answer.body["message"]


def test_given_a_bad_duration_when_renewed_then_400_naming_duration(
    call_api, control_plane, scheduler
):
    lab_id = _post_lab(call_api, lease="1h").body["lab_id"]

    answer = _renew(call_api, lab_id, "soon")

    assert answer.status == 400
    assert answer.body["problems"][0]["path"] == "duration"


def _throttled(*_args, **_kwargs):
    from ads.lab_schedules import SchedulerUnavailableError

    raise SchedulerUnavailableError(
        "EventBridge Scheduler refused CreateSchedule of x (ThrottlingException: Rate exceeded)"
    )


def test_given_scheduler_throttling_when_a_lab_is_requested_then_it_runs_and_the_record_says_so(
    call_api, control_plane, scheduler, monkeypatch
):
    from ads.lab_schedules import LabSchedules

    monkeypatch.setattr(LabSchedules, "put_one_time", _throttled)

    answer = _post_lab(call_api, lease="1h")

    assert answer.status == 202
    record = control_plane.repo.require(answer.body["lab_id"])
    assert "ThrottlingException" in record.lease["schedule_error"]
    assert record.lease["expires_at"]
    assert len(control_plane.executions(control_plane.deploy_arn)) == 1


def test_given_scheduler_throttling_when_a_lease_is_renewed_then_503_and_the_old_lease_stands(
    call_api, control_plane, scheduler, monkeypatch
):
    from ads.lab_schedules import LabSchedules

    lab_id = _post_lab(call_api, lease="1h").body["lab_id"]
    lease = control_plane.repo.require(lab_id).lease
    monkeypatch.setattr(LabSchedules, "put_one_time", _throttled)

    answer = _renew(call_api, lab_id, "2h")

    assert answer.status == 503
    assert answer.body["error"] == "scheduler_unavailable"
    assert control_plane.repo.require(lab_id).lease == lease
