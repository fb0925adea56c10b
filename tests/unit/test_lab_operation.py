"""The one-operation lock (ads.lab_operation) against botocore's Stubber: the claimed lab's
execution is named by its history and started with the payload, a start Step Functions
refuses keeps the lab in the operation's status with the cause (asked again, a new name),
and the ARN is stored in the operation's own field."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from ads.executions import WorkflowUnavailableError
from ads.lab_actions import ACTION
from ads.lab_operation import claim_and_start
from ads.lab_updates import UPDATE

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:ActionLab"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:ActionLab:lab-1-action-4"


class FakeRepository:
    def __init__(self) -> None:
        self.transitions: list[tuple[str, Any, str, dict[str, Any]]] = []
        self.stored: list[dict[str, Any]] = []

    def transition(self, lab_id: str, to: Any, *, note: str = "", **fields: Any) -> Any:
        self.transitions.append((lab_id, to, note, fields))
        return SimpleNamespace(status_history=[{}, {}, {}, {}])

    def store_fields(self, lab_id: str, **fields: Any) -> None:
        self.stored.append(fields)


def _context() -> tuple[Any, FakeRepository, Any]:
    stepfunctions = boto3.client(
        "stepfunctions", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    repository = FakeRepository()
    return (
        SimpleNamespace(repository=repository, stepfunctions=stepfunctions),
        repository,
        stepfunctions,
    )


def test_given_a_claimed_lab_then_its_execution_is_named_by_its_history_and_the_arn_kept() -> None:
    ctx, repository, stepfunctions = _context()
    with Stubber(stepfunctions) as stub:
        stub.add_response(
            "start_execution",
            {"executionArn": EXECUTION, "startDate": "2026-01-01T00:00:00Z"},
            {"stateMachineArn": MACHINE, "name": "lab-1-action-4", "input": '{"lab_id": "lab-1"}'},
        )
        arn = claim_and_start(
            ctx,
            ACTION,
            lab_id="lab-1",
            again=False,
            state_machine=MACHINE,
            note="n" * 300,
            fields={"action_in_progress": {"name": "backup"}},
            payload={"lab_id": "lab-1"},
        )
    assert arn == EXECUTION
    assert repository.transitions == [
        ("lab-1", ACTION.status, "n" * 200, {"action_in_progress": {"name": "backup"}})
    ]
    assert repository.stored == [{"action_execution_arn": EXECUTION}]


def test_given_step_functions_refuses_the_start_then_the_cause_is_kept_and_a_retry_is_renamed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("ads.lab_operation.time", SimpleNamespace(time=lambda: 1767225600.5))
    ctx, repository, stepfunctions = _context()
    with Stubber(stepfunctions) as stub:
        stub.add_client_error(
            "start_execution",
            "ExecutionLimitExceeded",
            "too many executions",
            http_status_code=400,
            expected_params={
                "stateMachineArn": MACHINE,
                "name": "lab-1-update-4-1767225600",
                "input": '{"lab_id": "lab-1", "ref": "main"}',
            },
        )
        with pytest.raises(WorkflowUnavailableError) as raised:
            claim_and_start(
                ctx,
                UPDATE,
                lab_id="lab-1",
                again=True,
                state_machine=MACHINE,
                note="update",
                fields={},
                payload={"lab_id": "lab-1", "ref": "main"},
            )
    assert raised.value.message == (
        "could not start the RedeployLab workflow: Step Functions answered "
        "ExecutionLimitExceeded: too many executions"
    )
    assert repository.stored == [{"cause": raised.value.message}]
    assert "update_execution_arn" not in str(repository.stored)
