"""ActionLab end to end: the real ASL and handlers, the local provider and a real agent
running the hello-web lab's own actions. An action that succeeds records its output; one
that fails records its exit code and output tail (the lab stays READY and serves); an
unknown action is a 404 listing the defined ones; an action and a power operation on one
lab never run at once (409)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ads.errors import IllegalTransitionError
from ads.lab_actions import UnknownActionError, list_actions, request_action
from ads.lab_record import LabStatus
from ads.power import request_power
from ads.providers.local import LocalProvider

from .conftest import CALLER, Outcome, WorkflowDriver, hello_web_labspec

SUCCEEDED_PATH = [
    "Run Action",
    "Wait For Action",
    "Record Action",
    "Action Succeeded?",
    "Action Done",
]
FAILED_PATH = [
    "Run Action",
    "Wait For Action",
    "Record Action",
    "Action Succeeded?",
    "Action Exited Non-Zero",
]


def _with_actions(**actions: list[str]) -> dict[str, Any]:
    labspec = hello_web_labspec()
    lab_actions = labspec["lab"]["runtime_requirements"]["platform"]["lab_actions"]
    lab_actions.update(actions)
    return labspec


@pytest.fixture
def acting_lab(driver: WorkflowDriver, hello_web_repo: Path) -> Outcome:
    labspec = _with_actions(
        backup=["echo backing up the page", "echo saved backup-1"],
        selftest=["echo checking the page", "echo 'the page check failed' >&2; exit 3"],
        slow=["sleep 5"],
    )
    outcome = driver.deploy(labspec, source=hello_web_repo)
    assert outcome.record.status == LabStatus.READY, outcome.record.cause
    return outcome


def _act(driver: WorkflowDriver, lab_id: str, name: str) -> Outcome:
    accepted = request_action(driver.ctx, lab_id, name, caller=CALLER)
    assert accepted["status"] == "ACTING"
    return driver._finish(lab_id, accepted["execution_arn"])


def test_given_a_ready_lab_when_its_backup_action_runs_then_the_run_is_recorded_with_its_output(
    driver: WorkflowDriver, acting_lab: Outcome
) -> None:
    outcome = _act(driver, acting_lab.lab_id, "backup")

    assert outcome.execution["status"] == "SUCCEEDED", outcome.execution
    assert outcome.states == SUCCEEDED_PATH
    assert outcome.record.status == LabStatus.READY
    assert outcome.record.action_in_progress is None
    [run] = outcome.record.action_runs
    assert run["name"] == "backup" and run["succeeded"] is True and run["exit_code"] == 0
    assert run["requester"] == CALLER and run["started_at"] and run["duration_s"] >= 0
    assert "saved backup-1" in run["output_tail"]
    listed = list_actions(driver.ctx, acting_lab.lab_id, caller=CALLER)
    assert {"backup", "selftest", "slow", "start", "stop"} <= set(listed["actions"])
    assert "backup" in listed["actions"] and "pause" not in listed["actions"]  # no commands
    assert listed["runs"][0]["name"] == "backup"


def test_given_a_failing_action_when_it_runs_then_its_exit_code_and_output_are_kept_and_the_lab_is_ready(
    driver: WorkflowDriver, acting_lab: Outcome
) -> None:
    outcome = _act(driver, acting_lab.lab_id, "selftest")

    # The action's failure is its answer, not a fault of ADS: the execution succeeds.
    assert outcome.execution["status"] == "SUCCEEDED", outcome.execution
    assert outcome.states == FAILED_PATH
    assert '"succeeded": false' in outcome.execution.get("output", "")
    assert outcome.record.status == LabStatus.READY
    [run] = outcome.record.action_runs
    assert run["succeeded"] is False and run["exit_code"] == 3
    assert "the page check failed" in run["output_tail"]
    assert run["cause"] == "action selftest failed: exited 3"


def test_given_an_unknown_action_when_asked_then_404_lists_the_defined_ones(
    driver: WorkflowDriver, acting_lab: Outcome
) -> None:
    with pytest.raises(UnknownActionError) as refused:
        request_action(driver.ctx, acting_lab.lab_id, "restore", caller=CALLER)

    assert refused.value.http_status == 404
    assert "defines no action 'restore'" in refused.value.message
    assert "backup" in refused.value.message and "selftest" in refused.value.message
    assert driver.plane.repository().require(acting_lab.lab_id).status == LabStatus.READY


def test_given_an_action_running_when_a_power_operation_or_second_action_is_asked_then_409(
    driver: WorkflowDriver, acting_lab: Outcome
) -> None:
    accepted = request_action(driver.ctx, acting_lab.lab_id, "slow", caller=CALLER)

    with pytest.raises(IllegalTransitionError) as power_refused:
        request_power(driver.ctx, acting_lab.lab_id, "stop", caller=CALLER)
    with pytest.raises(IllegalTransitionError) as action_refused:
        request_action(driver.ctx, acting_lab.lab_id, "backup", caller=CALLER)

    assert power_refused.value.http_status == 409 and "is ACTING" in power_refused.value.message
    assert action_refused.value.http_status == 409 and "is ACTING" in action_refused.value.message
    finished = driver._finish(acting_lab.lab_id, accepted["execution_arn"])
    assert finished.execution["status"] == "SUCCEEDED", finished.execution
    assert [run["name"] for run in finished.record.action_runs] == ["slow"]


def test_given_a_stop_running_when_an_action_is_asked_then_409_names_stopping(
    driver: WorkflowDriver, acting_lab: Outcome
) -> None:
    accepted = request_power(driver.ctx, acting_lab.lab_id, "stop", caller=CALLER)

    with pytest.raises(IllegalTransitionError) as refused:
        request_action(driver.ctx, acting_lab.lab_id, "backup", caller=CALLER)

    assert "is STOPPING" in refused.value.message
    driver._finish(acting_lab.lab_id, accepted["execution_arn"])


def test_given_the_action_cannot_be_sent_then_the_run_records_the_cause_and_the_lab_is_ready(
    driver: WorkflowDriver, acting_lab: Outcome, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: LocalProvider, *args: Any) -> str:
        raise OSError("sandbox unreadable")

    monkeypatch.setattr(LocalProvider, "run_action", refuse)

    outcome = _act(driver, acting_lab.lab_id, "backup")

    assert outcome.execution["status"] == "FAILED"
    assert outcome.execution.get("error") == "LabActionFailed"
    assert "sandbox unreadable" in outcome.execution.get("cause", "")
    assert "Run Action Failed" in outcome.states and "Record Action Failure" in outcome.states
    assert outcome.record.status == LabStatus.READY
    [run] = outcome.record.action_runs
    assert run["exit_code"] is None and run["succeeded"] is False
    assert run["cause"].startswith("Run Action failed: OSError: sandbox unreadable")
