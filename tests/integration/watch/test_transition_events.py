"""The lifecycle events of the transitions that had none: a lab action's start and end
(its name, exit code and a bounded output tail), and READY again after a restart
(``Lab Restarted``, told apart from a start's ``Lab Started``). The records are moto's;
the events are what the publisher is asked to put."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ads import action_steps, power_steps
from ads.action_steps import EVENT_OUTPUT_TAIL
from ads.lab_record import LabRecord, LabStatus
from ads.labs_table import create_table
from ads.records import LabRepository

REGION = "us-east-1"
TABLE = "ads-labs-events"
OWNER = "arn:aws:iam::123456789012:user/alice"
LAB = "hello-web-01jd5k3q8v2m6x9t4r7p0wz1ac"


class RecordingPublisher:
    def __init__(self) -> None:
        self.events: list[tuple[str, LabRecord, dict[str, Any]]] = []

    def publish(self, record: LabRecord, detail_type: str | None = None, extra=None) -> bool:
        self.events.append((detail_type or record.status.value, record, extra or {}))
        return True


class ActionProvider:
    def run_action(self, lab_id: str, vm: Any, name: str) -> str:
        return "cmd-1"


@pytest.fixture
def repository(monkeypatch) -> Iterator[LabRepository]:
    with mock_aws():
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            monkeypatch.setenv(name, "testing")
        create_table(boto3.client("dynamodb", region_name=REGION), TABLE)
        repository = LabRepository.from_name(TABLE, REGION)
        record = repository.new_record(LAB, OWNER, endpoint="http://127.0.0.1:9")
        repository.create(record)
        for status in ("PROVISIONING", "HEALTH_CHECKING", "READY"):
            repository.transition(LAB, status, vm_id="local-1", agent_port=9)
        yield repository


def _acting(repository: LabRepository) -> None:
    repository.transition(
        LAB,
        LabStatus.ACTING,
        action_in_progress={
            "name": "selftest",
            "requester": OWNER,
            "started_at": "2026-12-01T10:00:00.000Z",
            "started_epoch": time.time() - 1,
        },
    )


def test_given_an_action_sent_when_run_then_lab_action_started_names_it_once(repository):
    _acting(repository)
    publisher = RecordingPublisher()

    action_steps.run_action(
        LAB, repository, ActionProvider(), execution_id="exec-1", publisher=publisher
    )
    # A retried Run Action follows the command it sent: no second event.
    action_steps.run_action(
        LAB, repository, ActionProvider(), execution_id="exec-1", publisher=publisher
    )

    [(detail_type, record, extra)] = publisher.events
    assert detail_type == "Lab Action Started" and record.status == LabStatus.ACTING
    assert extra == {"action": {"name": "selftest", "requester": OWNER}}


def test_given_an_action_that_exited_non_zero_when_recorded_then_lab_action_failed_with_its_exit_and_a_bounded_tail(
    repository,
):
    _acting(repository)
    publisher = RecordingPublisher()
    tail = "x" * 3000 + "the end\n"

    action_steps.record_action(
        LAB,
        repository,
        outcome={"exit_code": 5, "succeeded": False, "output_tail": tail, "cause": "exited 5"},
        publisher=publisher,
    )

    [(detail_type, record, extra)] = publisher.events
    assert detail_type == "Lab Action Failed" and record.status == LabStatus.READY
    action = extra["action"]
    assert action["name"] == "selftest" and action["exit_code"] == 5
    assert action["succeeded"] is False
    assert len(action["output_tail"]) <= EVENT_OUTPUT_TAIL
    assert action["output_tail"].endswith("the end\n")


def test_given_an_action_that_exited_zero_when_recorded_then_lab_action_succeeded(repository):
    _acting(repository)
    publisher = RecordingPublisher()

    action_steps.record_action(
        LAB,
        repository,
        outcome={"exit_code": 0, "succeeded": True, "output_tail": "ok\n"},
        publisher=publisher,
    )

    [(detail_type, _, extra)] = publisher.events
    assert detail_type == "Lab Action Succeeded"
    assert extra["action"]["exit_code"] == 0 and extra["action"]["output_tail"] == "ok\n"


@pytest.mark.parametrize(
    ("operation", "detail_type", "note"),
    [
        (LabStatus.RESTARTING, "Lab Restarted", "restarted"),
        (LabStatus.STARTING, "Lab Started", "started"),
    ],
)
def test_given_a_power_operation_when_marked_started_then_the_event_names_it(
    repository, operation, detail_type, note
):
    if operation == LabStatus.STARTING:
        repository.transition(LAB, LabStatus.STOPPING)
        repository.transition(LAB, LabStatus.STOPPED)
    repository.transition(LAB, operation)
    repository.transition(LAB, LabStatus.HEALTH_CHECKING)
    publisher = RecordingPublisher()

    power_steps.mark_started(LAB, repository, publisher)  # type: ignore[arg-type]

    [(published, record, _)] = publisher.events
    assert published == detail_type
    assert record.status == LabStatus.READY and record.status_history[-1].note == note
