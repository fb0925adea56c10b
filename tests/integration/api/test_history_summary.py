"""How Step Functions history becomes the per-state summary of GET /labs/{lab_id}/history."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import boto3
from moto import mock_aws

from ads.config import AdsConfig
from ads.deployments import DeploymentContext, summarise_execution, summarise_states

T0 = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _entered(name, s, kind="Task"):
    return {
        "type": f"{kind}StateEntered",
        "timestamp": _at(s),
        "stateEnteredEventDetails": {"name": name},
    }


def _exited(name, s, kind="Task"):
    return {
        "type": f"{kind}StateExited",
        "timestamp": _at(s),
        "stateExitedEventDetails": {"name": name},
    }


def _scheduled(s):
    return {"type": "TaskScheduled", "timestamp": _at(s)}


def _failed(s, error, cause):
    return {
        "type": "TaskFailed",
        "timestamp": _at(s),
        "taskFailedEventDetails": {"error": error, "cause": cause},
    }


def test_given_a_step_retried_then_succeeding_when_summarised_then_attempts_count_and_it_succeeded():
    events = [
        {"type": "ExecutionStarted", "timestamp": _at(0)},
        _entered("Create VM", 0),
        _scheduled(0.1),
        {"type": "TaskSucceeded", "timestamp": _at(1)},
        _exited("Create VM", 1),
        _entered("Wait Until Running", 1),
        _scheduled(1.1),
        _failed(
            1.5, "VmNotReady", json.dumps({"errorMessage": "vm i-1 is pending", "stackTrace": []})
        ),
        _scheduled(6),
        {"type": "TaskSucceeded", "timestamp": _at(6.5)},
        _exited("Wait Until Running", 6.5),
    ]

    states, error = summarise_states(events)

    assert [(s.name, s.status, s.attempts) for s in states] == [
        ("Create VM", "SUCCEEDED", 1),
        ("Wait Until Running", "SUCCEEDED", 2),
    ]
    assert states[1].duration_ms == 5500
    assert states[1].error.error == "VmNotReady"
    assert states[1].error.cause == "vm i-1 is pending"
    assert error is None


def test_given_a_step_waiting_on_retry_when_summarised_then_it_is_retrying():
    events = [_entered("Check Health", 0), _scheduled(0), _failed(1, "HealthCheckPending", "503")]

    [state], _ = summarise_states(events)

    assert state.status == "RETRYING"
    assert state.exited is None


def test_given_a_caught_failure_and_a_failed_execution_when_summarised_then_both_are_failed():
    events = [
        _entered("Initialise VM", 0),
        _scheduled(0),
        _failed(3, "InitFailed", "make -C ../src exited 2"),
        _exited("Initialise VM", 3),
        _entered("Destroy VM", 3),
        _scheduled(3),
        _exited("Destroy VM", 4),
        _entered("Fail", 4, kind="Fail"),
        {
            "type": "ExecutionFailed",
            "timestamp": _at(4),
            "executionFailedEventDetails": {"error": "InitFailed", "cause": "make exited 2"},
        },
    ]

    states, error = summarise_states(events)

    assert [(s.name, s.status) for s in states] == [
        ("Initialise VM", "FAILED"),
        ("Destroy VM", "SUCCEEDED"),
        ("Fail", "FAILED"),
    ]
    assert states[0].error.cause == "make -C ../src exited 2"
    assert error.error == "InitFailed"


def test_given_an_aborted_execution_when_summarised_then_the_running_state_is_failed():
    events = [
        _entered("Create VM", 0),
        _scheduled(0),
        {"type": "ExecutionAborted", "timestamp": _at(2)},
    ]

    [state], error = summarise_states(events)

    assert state.status == "FAILED"
    assert error.error == "ExecutionAborted"


def test_given_a_real_execution_in_moto_when_summarised_then_its_states_are_listed_in_order():
    definition = {
        "StartAt": "Plan",
        "States": {
            "Plan": {"Type": "Pass", "Next": "Ready"},
            "Ready": {"Type": "Pass", "End": True},
        },
    }
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        arn = sfn.create_state_machine(
            name="sm", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/r"
        )["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=arn, name="lab-1", input="{}")[
            "executionArn"
        ]
        for _ in range(100):
            if sfn.describe_execution(executionArn=execution)["status"] != "RUNNING":
                break
            time.sleep(0.05)
        ctx = DeploymentContext(repository=None, stepfunctions=sfn, config=AdsConfig())

        summary = summarise_execution(ctx, "deploy", execution)

    assert summary.status == "SUCCEEDED"
    assert [(s.name, s.status) for s in summary.states] == [
        ("Plan", "SUCCEEDED"),
        ("Ready", "SUCCEEDED"),
    ]
    assert summary.started and summary.stopped
