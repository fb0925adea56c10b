"""EventBridge Scheduler's real answers, which moto does not give, pinned with Stubber: a
create that meets an existing schedule (a retried request) updates it; a delete of a
schedule already gone (fired and deleted by Scheduler) is done; a throttle botocore gave
up on is a 503 the caller can retry, naming the schedule."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import ANY, Stubber

from ads.lab_schedules import LabSchedules, SchedulerUnavailableError


@pytest.fixture
def stubbed():
    client = boto3.client(
        "scheduler",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with Stubber(client) as stubber:
        yield LabSchedules(client, "ads-labs", "arn:aws:lambda:::function:t", "arn:r"), stubber
        stubber.assert_no_pending_responses()


AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ARN = "arn:aws:scheduler:us-east-1:123456789012:schedule/ads-labs/lab-1-expire"


def test_given_the_schedule_exists_when_created_again_then_it_is_updated(stubbed):
    schedules, stubber = stubbed
    stubber.add_client_error(
        "create_schedule", "ConflictException", "Schedule lab-1-expire already exists.", 409
    )
    stubber.add_response(
        "update_schedule",
        {"ScheduleArn": ARN},
        {
            "Name": "lab-1-expire",
            "GroupName": "ads-labs",
            "ScheduleExpression": "at(2026-12-01T12:00:00)",
            "ScheduleExpressionTimezone": "UTC",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "State": "ENABLED",
            "Description": ANY,
            "Target": ANY,
            "ActionAfterCompletion": "DELETE",
        },
    )

    schedules.put_one_time("lab-1", "expire", AT, {"expires_at": "x"})


def test_given_schedules_already_gone_when_deleted_then_it_is_fine(stubbed):
    schedules, stubber = stubbed
    stubber.add_client_error(
        "delete_schedule", "ResourceNotFoundException", "Schedule not found.", 404
    )
    stubber.add_response("delete_schedule", {})
    stubber.add_client_error(
        "delete_schedule", "ResourceNotFoundException", "Schedule not found.", 404
    )
    stubber.add_client_error(
        "delete_schedule", "ResourceNotFoundException", "Schedule not found.", 404
    )

    assert schedules.delete("lab-1") == ["lab-1-warn"]


def test_given_scheduler_throttles_when_created_then_a_503_naming_the_schedule(stubbed):
    schedules, stubber = stubbed
    stubber.add_client_error("create_schedule", "ThrottlingException", "Rate exceeded", 400)

    with pytest.raises(SchedulerUnavailableError) as raised:
        schedules.put_one_time("lab-1", "expire", AT)

    assert raised.value.http_status == 503
    assert "lab-1-expire" in raised.value.message and "ThrottlingException" in raised.value.message


def test_given_scheduler_throttles_when_deleted_then_a_503(stubbed):
    schedules, stubber = stubbed
    stubber.add_client_error("delete_schedule", "ThrottlingException", "Rate exceeded", 400)

    with pytest.raises(SchedulerUnavailableError):
        schedules.delete("lab-1", ("expire",))
