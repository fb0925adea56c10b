"""PowerLab end to end: the real ASL and handlers, the local provider, a real agent and
the hello-web lab's page. Stop ends the page, start brings it back (with the lab's own
start action), restart reboots and health-checks; a failure at each step ends FAILED
with a readable cause; a request the lab's status does not allow is a 409."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from ads.errors import IllegalTransitionError
from ads.lab_record import LabStatus
from ads.local.runtime import LocalControlPlane
from ads.power import request_power
from ads.providers.base import VmState
from ads.providers.local import LocalProvider

from .conftest import CALLER, Outcome, WorkflowDriver, hello_web_labspec

STOP_PATH = ["Which Operation", "Stop VM", "Mark Stopped", "Lab Stopped"]
START_PATH = [
    "Which Operation",
    "Start VM",
    "Start Lab",
    "Check Health",
    "Mark Started",
    "Lab Started",
]
RESTART_PATH = [
    "Which Operation",
    "Restart VM",
    "Wait Until Restarted",
    "Start Lab",
    "Check Health",
    "Mark Started",
    "Lab Started",
]


def _page(url: str) -> int | None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=3) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def _power(driver: WorkflowDriver, lab_id: str, operation: str) -> Outcome:
    accepted = request_power(driver.ctx, lab_id, operation, caller=CALLER)
    return driver._finish(lab_id, accepted["execution_arn"])


def _entered(outcome: Outcome) -> list[str]:
    return [s for s in outcome.states if not s.endswith(" Failed")]


@pytest.fixture
def ready_lab(driver: WorkflowDriver, hello_web_repo: Path) -> Outcome:
    outcome = driver.deploy(hello_web_labspec(), source=hello_web_repo)
    assert outcome.record.status == LabStatus.READY, outcome.record.cause
    assert outcome.record.app_url and _page(outcome.record.app_url) == 200
    return outcome


def test_given_a_ready_lab_when_stopped_then_started_then_its_page_goes_and_comes_back(
    driver: WorkflowDriver, ready_lab: Outcome
) -> None:
    lab_id = ready_lab.lab_id

    stopped = _power(driver, lab_id, "stop")

    assert stopped.execution["status"] == "SUCCEEDED", stopped.execution
    assert stopped.states == STOP_PATH
    assert stopped.record.status == LabStatus.STOPPED
    assert _page(ready_lab.record.app_url or "") is None
    history = [change.status for change in stopped.record.status_history]
    assert history[-2:] == [LabStatus.STOPPING, LabStatus.STOPPED]

    started = _power(driver, lab_id, "start")

    assert started.execution["status"] == "SUCCEEDED", started.execution
    assert started.states == START_PATH
    assert started.record.status == LabStatus.READY
    assert started.record.app_url and _page(started.record.app_url) == 200
    history = [change.status for change in started.record.status_history]
    assert history[-3:] == [LabStatus.STARTING, LabStatus.HEALTH_CHECKING, LabStatus.READY]


def test_given_the_agent_port_was_taken_while_stopped_when_started_then_the_endpoint_is_new(
    driver: WorkflowDriver, ready_lab: Outcome
) -> None:
    import socket

    lab_id = ready_lab.lab_id
    _power(driver, lab_id, "stop")
    old_port = ready_lab.record.agent_port
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", int(old_port or 0)))
        squatter.listen()

        started = _power(driver, lab_id, "start")

    assert started.record.status == LabStatus.READY, started.record.cause
    assert started.record.agent_port != old_port
    assert started.record.endpoint == f"http://127.0.0.1:{started.record.agent_port}"


def test_given_a_ready_lab_when_restarted_then_it_is_ready_with_a_new_agent(
    driver: WorkflowDriver, ready_lab: Outcome
) -> None:
    restarted = _power(driver, ready_lab.lab_id, "restart")

    assert restarted.execution["status"] == "SUCCEEDED", restarted.execution
    assert restarted.states == RESTART_PATH
    assert restarted.record.status == LabStatus.READY
    assert _page(restarted.record.app_url or "") == 200
    assert LabStatus.RESTARTING in [c.status for c in restarted.record.status_history]


def test_given_a_stopped_lab_when_stopped_again_or_restarted_then_409_names_its_status(
    driver: WorkflowDriver, ready_lab: Outcome
) -> None:
    _power(driver, ready_lab.lab_id, "stop")

    for operation in ("stop", "restart"):
        with pytest.raises(IllegalTransitionError) as refused:
            request_power(driver.ctx, ready_lab.lab_id, operation, caller=CALLER)
        assert refused.value.http_status == 409
        assert "is STOPPED" in refused.value.message


def test_given_a_ready_lab_when_started_then_409_names_ready(
    driver: WorkflowDriver, ready_lab: Outcome
) -> None:
    with pytest.raises(IllegalTransitionError) as refused:
        request_power(driver.ctx, ready_lab.lab_id, "start", caller=CALLER)

    assert "is READY" in refused.value.message
    assert "only from STOPPED" in refused.value.message


def test_given_a_stop_running_when_a_second_operation_is_asked_then_409(
    driver: WorkflowDriver, ready_lab: Outcome, monkeypatch: pytest.MonkeyPatch
) -> None:
    accepted = request_power(driver.ctx, ready_lab.lab_id, "stop", caller=CALLER)

    with pytest.raises(IllegalTransitionError) as refused:
        request_power(driver.ctx, ready_lab.lab_id, "stop", caller=CALLER)
    assert "is STOPPING" in refused.value.message
    driver._finish(ready_lab.lab_id, accepted["execution_arn"])


def _failing(name: str, error: Exception) -> Any:
    def fail(self: LocalProvider, *args: Any, **kwargs: Any) -> Any:
        raise error

    return fail


@pytest.mark.parametrize(
    ("operation", "method", "step", "result"),
    [
        ("stop", "stop_vm", "Stop VM", VmState(vm_id="x", state="absent")),
        ("restart", "restart_vm", "Restart VM", None),
    ],
)
def test_given_a_provider_failure_when_powering_then_failed_with_the_step_and_cause(
    driver: WorkflowDriver,
    ready_lab: Outcome,
    monkeypatch: pytest.MonkeyPatch,
    operation: str,
    method: str,
    step: str,
    result: VmState | None,
) -> None:
    if result is not None:
        monkeypatch.setattr(LocalProvider, method, lambda self, vm_id: result)
    else:
        monkeypatch.setattr(LocalProvider, method, _failing(method, OSError("disk on fire")))

    outcome = _power(driver, ready_lab.lab_id, operation)

    _assert_failed(outcome, step)


def test_given_a_start_whose_lab_start_action_fails_then_failed_at_start_lab(
    driver: WorkflowDriver, ready_lab: Outcome, plane: LocalControlPlane
) -> None:
    _power(driver, ready_lab.lab_id, "stop")
    plan = dict(ready_lab.record.plan)
    plan["actions"] = {**plan["actions"], "start": ["echo no port for you >&2; exit 7"]}
    plane.repository().store_fields(ready_lab.lab_id, plan=plan)
    _write_agent_plan(ready_lab, plan)

    outcome = _power(driver, ready_lab.lab_id, "start")

    _assert_failed(outcome, "Start Lab")
    assert "exited with status" in (outcome.record.cause or "")
    assert "no port for you" in (outcome.record.cause or "")


def test_given_a_start_whose_health_never_passes_then_failed_at_check_health(
    driver: WorkflowDriver, ready_lab: Outcome, plane: LocalControlPlane
) -> None:
    _power(driver, ready_lab.lab_id, "stop")
    plan = dict(ready_lab.record.plan)
    plan["actions"] = {**plan["actions"], "start": ["true"]}
    plane.repository().store_fields(ready_lab.lab_id, plan=plan)
    _write_agent_plan(ready_lab, plan)

    outcome = _power(driver, ready_lab.lab_id, "start")

    _assert_failed(outcome, "Check Health")


def test_given_a_start_whose_vm_vanished_then_failed_at_start_vm(
    driver: WorkflowDriver, ready_lab: Outcome, monkeypatch: pytest.MonkeyPatch
) -> None:
    _power(driver, ready_lab.lab_id, "stop")
    monkeypatch.setattr(
        LocalProvider, "start_vm", lambda self, vm_id: VmState(vm_id=vm_id, state="absent")
    )

    outcome = _power(driver, ready_lab.lab_id, "start")

    _assert_failed(outcome, "Start VM")


def test_given_a_failed_power_operation_then_the_lab_can_still_be_destroyed(
    driver: WorkflowDriver, ready_lab: Outcome, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        LocalProvider, "stop_vm", lambda self, vm_id: VmState(vm_id=vm_id, state="absent")
    )
    _power(driver, ready_lab.lab_id, "stop")
    monkeypatch.undo()

    destroyed = driver.destroy(ready_lab.lab_id)

    assert destroyed.record.status == LabStatus.DESTROYED


def _write_agent_plan(lab: Outcome, plan: dict[str, Any]) -> None:
    """The agent runs actions from the plan it was installed with: change it there too."""
    import json

    sandbox = Path(lab.record.vm_details["sandbox"])
    (sandbox / "vm" / "state" / "plan.json").write_text(json.dumps(plan))


def _assert_failed(outcome: Outcome, step: str) -> None:
    assert outcome.execution["status"] == "FAILED"
    assert outcome.execution["error"] == "LabPowerOperationFailed"
    assert outcome.record.status == LabStatus.FAILED
    assert outcome.record.failed_step == step
    cause = outcome.record.cause or ""
    assert cause.startswith(f"{step} failed: ")
    assert "errorMessage" not in cause
    assert outcome.execution["cause"] == cause
    assert outcome.states[-3:] == ["Mark Failed", "Cause Recorded", "Operation Failed"]
