"""Await Init and its callback against Step Functions' and DynamoDB's real answers
(botocore Stubber): a token already spent, throttling, a wait item another lab owns,
and the races between the event and the token's registration."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber

from ads.init_wait import InitWaitDependencies, await_init, complete_from_event
from ads.lab_record import LabRecord, LabStatus, StatusChange, iso
from ads.providers.base import InitInProgress, InitStatus
from ads.step_waits import (
    StepDeadlineExceeded,
    StepWaits,
    TaskTokens,
    WaitRegistrationRefused,
    wait_key,
)

LAB = "hello-web-01jd5k3q8v2m6x9t4r7p0wz1ab"
VM = "i-0123456789abcdef0"
COMMAND = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAeXampleToken"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _sfn() -> Any:
    return boto3.client(
        "stepfunctions", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


class FakeTable:
    """The three item calls StepWaits makes, with DynamoDB's condition semantics for them."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}

    def update_item(
        self, *, Key: dict[str, str], ExpressionAttributeValues: dict[str, Any], **_: Any
    ) -> None:
        current = self.items.get(Key["lab_id"])
        if current is not None and current["waiting_lab"] != ExpressionAttributeValues[":lab"]:
            raise _error("ConditionalCheckFailedException", "UpdateItem")
        self.items[Key["lab_id"]] = {
            "lab_id": Key["lab_id"],
            "waiting_lab": ExpressionAttributeValues[":lab"],
            "task_token": ExpressionAttributeValues[":token"],
        }

    def get_item(self, *, Key: dict[str, str], **_: Any) -> dict[str, Any]:
        item = self.items.get(Key["lab_id"])
        return {"Item": dict(item)} if item else {}

    def delete_item(
        self, *, Key: dict[str, str], ExpressionAttributeValues: dict[str, Any], **_: Any
    ) -> None:
        item = self.items.get(Key["lab_id"])
        if item is None or item["task_token"] != ExpressionAttributeValues[":token"]:
            raise _error("ConditionalCheckFailedException", "DeleteItem")
        del self.items[Key["lab_id"]]


def _error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, operation)


class FakeRepository:
    def __init__(self, record: LabRecord) -> None:
        self.record = record

    def require(self, lab_id: str) -> LabRecord:
        assert lab_id == self.record.lab_id
        return self.record

    def get(self, lab_id: str) -> LabRecord | None:
        return self.record if lab_id == self.record.lab_id else None


class FakeProvider:
    name = "ec2"

    def __init__(self, *states: InitStatus) -> None:
        self.states = list(states)
        self.asked: list[str] = []

    def get_init_status(self, vm: Any, command_id: str) -> InitStatus:
        self.asked.append(command_id)
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]


def _record(initializing_for_s: float = 10) -> LabRecord:
    entered = iso(NOW - timedelta(seconds=initializing_for_s))
    return LabRecord(
        lab_id=LAB,
        owner="arn:aws:iam::123456789012:user/alice",
        status=LabStatus.INITIALIZING,
        created_at=entered,
        updated_at=entered,
        provider="ec2",
        vm_id=VM,
        private_ip="10.0.1.5",
        agent_port=9089,
        init_command_id=COMMAND,
        status_history=[StatusChange(status=LabStatus.INITIALIZING, at=entered)],
    )


def _deps(
    provider: FakeProvider, sfn: Any, table: FakeTable, record: LabRecord | None = None
) -> InitWaitDependencies:
    return InitWaitDependencies(
        repository=FakeRepository(record or _record()),  # type: ignore[arg-type]
        provider=provider,  # type: ignore[arg-type]
        waits=StepWaits(table, clock=NOW.timestamp),
        tokens=TaskTokens(sfn),
        clock=NOW.timestamp,
    )


SUCCESS = InitStatus(state="success", exit_code=0)
RUNNING = InitStatus(state="in_progress", detail="InProgress")
FAILED = InitStatus(
    state="failed",
    exit_code=3,
    failing_command="make",
    output_tail="error: no rule",
    detail="Failed",
)


# -- the tokens: Step Functions' answers ----------------------------------------------------


@pytest.mark.parametrize("code", ["TaskTimedOut", "InvalidToken", "TaskDoesNotExist"])
def test_given_a_spent_token_when_answered_again_then_it_is_reported_not_raised(code: str) -> None:
    sfn = _sfn()
    with Stubber(sfn) as stub:
        stub.add_client_error("send_task_success", service_error_code=code, http_status_code=400)
        stub.add_client_error("send_task_failure", service_error_code=code, http_status_code=400)

        assert TaskTokens(sfn).succeed(TOKEN, "{}") is False
        assert TaskTokens(sfn).fail(TOKEN, "InitFailed", "cause") is False


def test_given_step_functions_still_throttles_when_a_token_is_answered_then_the_error_reaches_the_caller() -> (
    None
):
    sfn = _sfn()
    with Stubber(sfn) as stub:
        stub.add_client_error(
            "send_task_success", service_error_code="ThrottlingException", http_status_code=400
        )

        with pytest.raises(ClientError, match="ThrottlingException"):
            TaskTokens(sfn).succeed(TOKEN, "{}")


def test_given_a_long_cause_when_a_task_fails_then_it_is_cut_to_step_functions_limits() -> None:
    sfn = _sfn()
    with Stubber(sfn) as stub:
        stub.add_response(
            "send_task_failure",
            {},
            {"taskToken": TOKEN, "error": "E" * 256, "cause": "c" * 32768},
        )

        assert TaskTokens(sfn).fail(TOKEN, "E" * 300, "c" * 40000) is True


# -- the wait items: DynamoDB's answers -----------------------------------------------------------


def test_given_the_command_is_awaited_by_another_lab_when_registered_then_it_is_refused() -> None:
    table = boto3.resource(
        "dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    ).Table("ads-labs")
    with Stubber(table.meta.client) as stub:
        stub.add_client_error(
            "update_item",
            service_error_code="ConditionalCheckFailedException",
            http_status_code=400,
        )

        with pytest.raises(WaitRegistrationRefused, match="awaited by another lab"):
            StepWaits(table).register(lab_id=LAB, vm_id=VM, command_id=COMMAND, task_token=TOKEN)


def test_given_a_newer_attempt_registered_when_an_old_wait_is_released_then_the_new_token_stays() -> (
    None
):
    table = FakeTable()
    waits = StepWaits(table)
    old = waits.register(lab_id=LAB, vm_id=VM, command_id=COMMAND, task_token="old")
    waits.register(lab_id=LAB, vm_id=VM, command_id=COMMAND, task_token="new")

    waits.release(old)

    found = waits.find(VM, COMMAND)
    assert found is not None and found.task_token == "new"
    assert wait_key(VM, COMMAND).startswith("wait#")


# -- the races between the event and the registration ---------------------------------------------


def test_given_the_command_ended_before_the_token_was_stored_when_awaited_then_the_step_answers_its_own_token() -> (
    None
):
    sfn, table = _sfn(), FakeTable()
    with Stubber(sfn) as stub:
        stub.add_response(
            "send_task_success",
            {},
            {
                "taskToken": TOKEN,
                "output": json.dumps(
                    {"command_id": COMMAND, "state": "success"}, separators=(",", ":")
                ),
            },
        )

        result = await_init(LAB, TOKEN, _deps(FakeProvider(SUCCESS), sfn, table), deadline_s=600)

        stub.assert_no_pending_responses()
    assert result.state == "completed"
    assert table.items == {}  # the wait is over: a late event finds nothing


def test_given_the_event_won_the_race_when_the_step_answers_too_then_the_spent_token_is_no_error() -> (
    None
):
    sfn, table = _sfn(), FakeTable()
    with Stubber(sfn) as stub:
        stub.add_client_error(
            "send_task_success", service_error_code="TaskTimedOut", http_status_code=400
        )

        result = await_init(LAB, TOKEN, _deps(FakeProvider(SUCCESS), sfn, table), deadline_s=600)

    assert result.state == "already_completed"


def test_given_the_command_runs_when_awaited_then_the_token_waits_and_the_event_answers_it() -> (
    None
):
    sfn, table = _sfn(), FakeTable()
    provider = FakeProvider(RUNNING, SUCCESS)
    deps = _deps(provider, sfn, table)
    with Stubber(sfn) as stub:
        waiting = await_init(LAB, TOKEN, deps, deadline_s=600)
        assert waiting.state == "waiting" and table.items  # nothing sent yet
        stub.add_response("send_task_success", {}, {"taskToken": TOKEN, "output": ANY})

        answered = complete_from_event(VM, COMMAND, deps)

        stub.assert_no_pending_responses()
    assert answered.outcome == "completed" and answered.lab_id == LAB
    assert table.items == {}


def test_given_an_event_before_any_registration_when_delivered_then_nothing_is_answered() -> None:
    sfn, table = _sfn(), FakeTable()
    with Stubber(sfn):
        answered = complete_from_event(VM, COMMAND, _deps(FakeProvider(SUCCESS), sfn, table))

    assert answered.outcome == "no_wait"


def test_given_ssm_lags_its_event_when_delivered_then_the_delivery_is_retried_and_the_token_kept() -> (
    None
):
    sfn, table = _sfn(), FakeTable()
    StepWaits(table).register(lab_id=LAB, vm_id=VM, command_id=COMMAND, task_token=TOKEN)
    with Stubber(sfn), pytest.raises(InitInProgress, match="still reports it running"):
        complete_from_event(VM, COMMAND, _deps(FakeProvider(RUNNING), sfn, table))

    assert table.items  # the poll or the redelivery still finds the wait


def test_given_a_failed_install_when_its_event_arrives_then_the_task_fails_with_the_readable_cause() -> (
    None
):
    sfn, table = _sfn(), FakeTable()
    StepWaits(table).register(lab_id=LAB, vm_id=VM, command_id=COMMAND, task_token=TOKEN)
    sent: dict[str, Any] = {}
    with Stubber(sfn) as stub:
        stub.add_response(
            "send_task_failure", {}, {"taskToken": TOKEN, "error": "InitFailed", "cause": ANY}
        )
        sfn.meta.events.register(
            "provide-client-params.sfn.SendTaskFailure", lambda params, **_: sent.update(params)
        )

        answered = complete_from_event(VM, COMMAND, _deps(FakeProvider(FAILED), sfn, table))

    assert answered.outcome == "completed"
    cause = json.loads(sent["cause"])
    assert cause["errorType"] == "InitFailed"
    assert (
        "exited with status 3" in cause["errorMessage"]
        and "failing command: make" in cause["errorMessage"]
    )


def test_given_a_throttled_answer_when_the_event_is_handled_then_it_raises_and_keeps_the_wait() -> (
    None
):
    sfn, table = _sfn(), FakeTable()
    StepWaits(table).register(lab_id=LAB, vm_id=VM, command_id=COMMAND, task_token=TOKEN)
    with Stubber(sfn) as stub:
        stub.add_client_error(
            "send_task_success", service_error_code="ThrottlingException", http_status_code=400
        )

        with pytest.raises(ClientError):
            complete_from_event(VM, COMMAND, _deps(FakeProvider(SUCCESS), sfn, table))

    assert table.items  # EventBridge redelivers; the wait's poll is behind it


def test_given_an_install_past_its_deadline_when_awaited_then_it_times_out_naming_the_step() -> (
    None
):
    sfn, table = _sfn(), FakeTable()
    deps = _deps(FakeProvider(RUNNING), sfn, table, _record(initializing_for_s=601))
    with Stubber(sfn), pytest.raises(StepDeadlineExceeded) as raised:
        await_init(LAB, TOKEN, deps, deadline_s=600)

    assert str(raised.value).startswith("timed out after 600 s in Initialise VM")
    assert COMMAND in str(raised.value)
    assert table.items == {}  # a late event finds no wait


def test_given_an_install_within_its_deadline_when_awaited_then_a_slow_one_is_not_cut() -> None:
    sfn, table = _sfn(), FakeTable()
    deps = _deps(FakeProvider(RUNNING), sfn, table, _record(initializing_for_s=599))
    with Stubber(sfn):
        assert await_init(LAB, TOKEN, deps, deadline_s=600).state == "waiting"


def test_given_the_labspec_names_a_shorter_init_deadline_when_awaited_then_the_lab_s_own_applies() -> (
    None
):
    sfn, table = _sfn(), FakeTable()
    record = _record(initializing_for_s=10).model_copy(update={"plan": {"deadlines": {"init": 5}}})
    with (
        Stubber(sfn),
        pytest.raises(StepDeadlineExceeded, match="timed out after 5 s in Initialise VM"),
    ):
        await_init(LAB, TOKEN, _deps(FakeProvider(RUNNING), sfn, table, record), deadline_s=600)


def test_given_the_labspec_names_a_longer_init_deadline_when_awaited_then_a_slow_install_goes_on() -> (
    None
):
    sfn, table = _sfn(), FakeTable()
    record = _record(initializing_for_s=900).model_copy(
        update={"plan": {"deadlines": {"init": 3600}}}
    )
    with Stubber(sfn):
        state = await_init(
            LAB, TOKEN, _deps(FakeProvider(RUNNING), sfn, table, record), deadline_s=600
        )

    assert state.state == "waiting"
