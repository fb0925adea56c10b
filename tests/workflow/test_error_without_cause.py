"""A caught error without a Cause (Step Functions gives States.Timeout none) still ends the
workflow with a readable cause: no States.Format in the ASL may read a Cause that is not
there (that fails the execution with States.Runtime instead).

The step timeouts of the real ASL are minutes long; these tests shorten the one of the
step they make time out (and nothing else) so a timeout takes a second."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from ads.lab_record import LabStatus
from ads.local.runtime import LocalControlPlane
from ads.providers.base import VmCreateFailed
from ads.providers.local import LocalProvider

from .conftest import WorkflowDriver, hello_web_labspec

SHORT_TIMEOUT_S = 1
NO_CAUSE = "no cause given"


def _shorten_timeouts(plane: LocalControlPlane, machine_arn: str, *states: str) -> None:
    sfn = plane.stepfunctions()
    definition = json.loads(sfn.describe_state_machine(stateMachineArn=machine_arn)["definition"])
    for name in states:
        definition["States"][name]["TimeoutSeconds"] = SHORT_TIMEOUT_S
    sfn.update_state_machine(stateMachineArn=machine_arn, definition=json.dumps(definition))


def _hanging(result: Any = None) -> Any:
    """A handler that answers after the shortened timeout (Step Functions stopped waiting)."""

    def wrap(real: Any) -> Any:
        def handler(event: dict[str, Any], context: Any) -> Any:
            time.sleep(SHORT_TIMEOUT_S + 1)
            if result is None:
                raise RuntimeError("answered too late")
            return result

        return handler

    return wrap


def _failing_for(status: str) -> Any:
    def wrap(real: Any) -> Any:
        def handler(event: dict[str, Any], context: Any) -> Any:
            if event.get("status") == status:
                raise RuntimeError("the table is unavailable")
            return real(event, context)

        return handler

    return wrap


def test_given_create_vm_and_its_destroy_time_out_when_deployed_then_the_recorded_cause_says_so(
    plane: LocalControlPlane, driver: WorkflowDriver
) -> None:
    _shorten_timeouts(plane, plane.deploy_state_machine_arn, "Create VM", "Destroy VM")
    plane.override_handler("create_vm", _hanging())
    plane.override_handler("destroy_vm", _hanging({"vm_id": None, "state": "absent"}))

    outcome = driver.deploy(hello_web_labspec())

    assert outcome.execution["status"] == "FAILED"
    assert outcome.execution["error"] == "LabDeploymentFailed", outcome.execution.get("cause")
    assert "Error Without Cause" in outcome.states
    assert "Destroy Error Without Cause" in outcome.states
    assert outcome.states[-3:] == ["Mark Failed", "Cause Recorded", "Deployment Failed"]
    assert outcome.record.status == LabStatus.FAILED
    assert outcome.record.cause == (
        f"Create VM failed: States.Timeout: {NO_CAUSE} "
        f"(destroying the VM afterwards failed too: States.Timeout: {NO_CAUSE})"
    )


def test_given_a_timeout_and_mark_failed_failing_when_deployed_then_the_unrecorded_cause_is_formatted(
    plane: LocalControlPlane, driver: WorkflowDriver
) -> None:
    _shorten_timeouts(plane, plane.deploy_state_machine_arn, "Create VM")
    plane.override_handler("create_vm", _hanging())
    plane.override_handler("record_status", _failing_for("FAILED"))

    outcome = driver.deploy(hello_web_labspec())

    assert outcome.execution["status"] == "FAILED"
    assert outcome.execution["error"] == "LabDeploymentFailed", outcome.execution.get("cause")
    assert outcome.states[-1] == "Deployment Failed Unrecorded"
    assert outcome.execution["cause"] == f"Create VM failed: States.Timeout: {NO_CAUSE}"


def test_given_destroy_vm_times_out_and_its_record_fails_when_destroyed_then_the_cause_is_formatted(
    plane: LocalControlPlane,
    driver: WorkflowDriver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(self: LocalProvider, lab_id: str, plan: Any) -> Any:
        raise VmCreateFailed("no capacity for t3.micro")

    monkeypatch.setattr(LocalProvider, "create_vm", refuse)
    failed = driver.deploy(hello_web_labspec())
    assert failed.record.status == LabStatus.FAILED
    _shorten_timeouts(plane, plane.destroy_state_machine_arn, "Destroy VM")
    plane.override_handler("destroy_vm", _hanging({"vm_id": None, "state": "absent"}))
    plane.override_handler("record_status", _failing_for("DESTROYING"))

    outcome = driver.destroy(failed.lab_id)

    assert outcome.execution["status"] == "FAILED"
    assert outcome.execution["error"] == "LabDestroyFailed", outcome.execution.get("cause")
    assert "Error Without Cause" in outcome.states
    assert outcome.states[-1] == "Destroy Failed Unrecorded"
    assert outcome.execution["cause"] == f"Destroy VM failed: States.Timeout: {NO_CAUSE}"
