"""DeployLab and DestroyLab end to end: the real ASL, the real handlers, the local provider,
a real agent on 127.0.0.1. Failure paths are made real where they can be (a build step
that exits 3, a health probe on a port nothing listens on) and injected into the provider
where they cannot (a VM that cannot be created, a VM that never runs)."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from ads.config import reset_config
from ads.lab_record import LabStatus
from ads.local.runtime import LambdaServiceFault, LocalControlPlane
from ads.providers.base import VmCreateFailed, VmState
from ads.providers.local import LocalProvider
from ads.providers.local_processes import processes_under

from .conftest import (
    CLUSTER_CHOICE,
    DEPLOY_PATH,
    Outcome,
    WorkflowDriver,
    failing_build_labspec,
    hello_web_labspec,
)


def _get(url: str) -> tuple[int, str]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=5) as response:
        return response.status, response.read().decode()


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _sandboxes(plane: LocalControlPlane) -> list[Path]:
    return [p for p in plane.labs_root.iterdir() if not p.name.startswith(".")]


def _assert_failed_at(outcome: Outcome, plane: LocalControlPlane, step: str) -> None:
    assert outcome.execution["status"] == "FAILED"
    assert outcome.execution["error"] == "LabDeploymentFailed"
    assert outcome.record.status == LabStatus.FAILED
    assert outcome.record.failed_step == step
    assert outcome.record.cause and outcome.record.cause.startswith(f"{step} failed: ")
    # The console shows the recorded, readable cause, not the Lambda's JSON error document.
    assert outcome.execution["cause"] == outcome.record.cause
    assert "errorMessage" not in outcome.execution["cause"]
    # The compensation ran: the VM is gone along with every process it had.
    assert outcome.states[-4:] == [
        "Destroy VM",
        "Mark Failed",
        "Cause Recorded",
        "Deployment Failed",
    ]
    assert not (plane.labs_root / outcome.lab_id).exists()
    assert processes_under(plane.state_dir) == []


# -- the happy path --------------------------------------------------------------------------


def test_given_hello_web_lab_when_deployed_then_it_is_ready_after_a_real_agent_answered_healthy(
    plane: LocalControlPlane, driver: WorkflowDriver, hello_web_repo: Path
) -> None:
    outcome = driver.deploy(hello_web_labspec(), hello_web_repo)

    assert outcome.execution["status"] == "SUCCEEDED", outcome.execution.get("cause")
    assert outcome.states == [CLUSTER_CHOICE, *DEPLOY_PATH, "Keep Lab Image?", "Lab Ready"]
    record = outcome.record
    assert record.status == LabStatus.READY
    assert [c.status for c in record.status_history] == [
        LabStatus.REQUESTED,
        LabStatus.PROVISIONING,
        LabStatus.INITIALIZING,
        LabStatus.HEALTH_CHECKING,
        LabStatus.READY,
    ]
    assert record.provider == "local" and record.vm_id and record.agent_port
    status, body = _get(f"{record.endpoint}/health")
    assert status == 200
    assert f'"lab_id": "{outcome.lab_id}"' in body.replace('":"', '": "')
    status, page = _get(record.app_url)
    assert status == 200 and outcome.lab_id in page
    usage = plane.ledger.for_lab(outcome.lab_id)
    assert usage.api_calls[("events", "PutEvents")] == 1  # "Lab Ready"


# -- a failure at each step -------------------------------------------------------------------


def test_given_provider_cannot_create_the_vm_when_deployed_then_lab_fails_at_create_vm(
    plane: LocalControlPlane,
    driver: WorkflowDriver,
    hello_web_repo: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(self: LocalProvider, lab_id: str, plan: Any) -> Any:
        raise VmCreateFailed("no capacity for t3.micro, t3.small")

    monkeypatch.setattr(LocalProvider, "create_vm", refuse)

    outcome = driver.deploy(hello_web_labspec(), hello_web_repo)

    _assert_failed_at(outcome, plane, "Create VM")
    assert "VmCreateFailed: no capacity for t3.micro, t3.small" in outcome.record.cause


def test_given_vm_never_leaves_pending_when_deployed_then_lab_fails_at_wait_until_running(
    plane: LocalControlPlane,
    driver: WorkflowDriver,
    hello_web_repo: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def pending(self: LocalProvider, vm_id: str) -> VmState:
        return VmState(vm_id=vm_id, state="pending")

    monkeypatch.setattr(LocalProvider, "describe_vm", pending)
    # The boot deadline (ADS_BOOT_DEADLINE_S), not a retry count, ends the wait.
    monkeypatch.setenv("ADS_BOOT_DEADLINE_S", "3")
    reset_config()

    outcome = driver.deploy(hello_web_labspec(), hello_web_repo)

    _assert_failed_at(outcome, plane, "Wait Until Running")
    assert "StepDeadlineExceeded: timed out after 3 s in Wait Until Running" in outcome.record.cause
    assert "is pending" in outcome.record.cause
    # The state machine, not the Lambda, did the waiting: several short attempts.
    assert plane.ledger.for_lab(outcome.lab_id).invocations_by_function["wait_running"] > 2


def test_given_build_step_exits_3_when_deployed_then_lab_fails_at_initialise_vm_with_its_output(
    plane: LocalControlPlane, driver: WorkflowDriver
) -> None:
    outcome = driver.deploy(failing_build_labspec())

    _assert_failed_at(outcome, plane, "Initialise VM")
    assert "InitFailed" in outcome.record.cause
    assert "exit 3" in outcome.record.cause
    assert "error: src/main.c: no such file" in outcome.record.cause


def test_given_health_probe_on_a_port_nothing_listens_on_when_deployed_then_lab_fails_at_check_health(
    plane: LocalControlPlane, driver: WorkflowDriver, hello_web_repo: Path
) -> None:
    labspec = hello_web_labspec()
    platform = labspec["lab"]["runtime_requirements"]["platform"]
    platform["health_probe"] = {"path": "/", "port": _unused_port(), "timeout_s": 1}

    outcome = driver.deploy(labspec, hello_web_repo)

    _assert_failed_at(outcome, plane, "Check Health")
    assert "HealthCheckPending" in outcome.record.cause
    assert "503" in outcome.record.cause


def test_given_mark_failed_fails_too_when_a_step_fails_then_the_execution_still_fails_with_the_caught_cause(
    plane: LocalControlPlane,
    driver: WorkflowDriver,
    hello_web_repo: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(self: LocalProvider, lab_id: str, plan: Any) -> Any:
        raise VmCreateFailed("no capacity for t3.micro")

    monkeypatch.setattr(LocalProvider, "create_vm", refuse)

    def broken_for_failed(real: Any) -> Any:
        def handler(event: dict[str, Any], context: Any) -> Any:
            if event.get("status") == "FAILED":
                raise RuntimeError("the table is unavailable")
            return real(event, context)

        return handler

    plane.override_handler("record_status", broken_for_failed)

    outcome = driver.deploy(hello_web_labspec(), hello_web_repo)

    assert outcome.execution["status"] == "FAILED"
    assert outcome.execution["error"] == "LabDeploymentFailed"
    assert outcome.states[-3:] == ["Destroy VM", "Mark Failed", "Deployment Failed Unrecorded"]
    assert outcome.execution["cause"].startswith("Create VM failed: VmCreateFailed: ")
    assert "no capacity for t3.micro" in outcome.execution["cause"]
    assert outcome.record.status == LabStatus.PROVISIONING
    assert processes_under(plane.state_dir) == []


# -- destroying ----------------------------------------------------------------------------------


def test_given_ready_lab_when_destroyed_then_it_is_destroyed_and_its_agent_no_longer_answers(
    plane: LocalControlPlane, driver: WorkflowDriver, hello_web_repo: Path
) -> None:
    deployed = driver.deploy(hello_web_labspec(), hello_web_repo)
    assert deployed.record.status == LabStatus.READY

    destroyed = driver.destroy(deployed.lab_id)

    assert destroyed.execution["status"] == "SUCCEEDED"
    assert destroyed.execution_arn.endswith(f":{deployed.lab_id}-destroy-1")
    assert destroyed.states == ["Destroy VM", "Mark Destroyed", "Lab Destroyed"]
    assert destroyed.record.status == LabStatus.DESTROYED
    assert [c.status for c in destroyed.record.status_history][-2:] == [
        LabStatus.DESTROYING,
        LabStatus.DESTROYED,
    ]
    assert _sandboxes(plane) == []
    assert processes_under(plane.state_dir) == []
    with pytest.raises(OSError):
        _get(f"{deployed.record.endpoint}/health")


def test_given_failed_lab_when_destroyed_then_it_is_destroyed(
    plane: LocalControlPlane, driver: WorkflowDriver
) -> None:
    failed = driver.deploy(failing_build_labspec())
    assert failed.record.status == LabStatus.FAILED

    destroyed = driver.destroy(failed.lab_id)

    assert destroyed.execution["status"] == "SUCCEEDED"
    assert destroyed.record.status == LabStatus.DESTROYED
    # The deployment's cause stays on the record for whoever looks later.
    assert destroyed.record.failed_step == "Initialise VM"


def test_given_destroy_fails_when_destroyed_then_lab_stays_destroying_with_the_cause_and_a_second_destroy_succeeds(
    plane: LocalControlPlane,
    driver: WorkflowDriver,
    hello_web_repo: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deployed = driver.deploy(hello_web_labspec(), hello_web_repo)
    real_destroy = LocalProvider.destroy_vm

    def refuse(self: LocalProvider, lab_id: str, vm_id: str | None) -> Any:
        raise PermissionError("sandbox is busy")

    monkeypatch.setattr(LocalProvider, "destroy_vm", refuse)

    first = driver.destroy(deployed.lab_id)

    assert first.execution["status"] == "FAILED"
    assert first.execution["error"] == "LabDestroyFailed"
    assert first.record.status == LabStatus.DESTROYING
    assert first.record.failed_step == "Destroy VM"
    assert "sandbox is busy" in (first.record.cause or "")
    assert first.execution["cause"] == first.record.cause
    assert first.states[-2:] == ["Destroy Cause Recorded", "Destroy Failed"]

    monkeypatch.setattr(LocalProvider, "destroy_vm", real_destroy)
    second = driver.destroy(deployed.lab_id)

    assert second.execution_arn.endswith(f":{deployed.lab_id}-destroy-2")
    assert second.record.status == LabStatus.DESTROYED
    assert _sandboxes(plane) == []


# -- retries are harmless -------------------------------------------------------------------------


def test_given_create_vm_invocation_lost_after_the_vm_was_made_when_retried_then_one_vm_serves_the_lab(
    plane: LocalControlPlane,
    driver: WorkflowDriver,
    hello_web_repo: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    created: list[str] = []
    real_create = LocalProvider.create_vm

    def counting_create(self: LocalProvider, lab_id: str, plan: Any) -> Any:
        vm = real_create(self, lab_id, plan)
        created.append(f"{vm.vm_id}:{vm.agent_port}")
        return vm

    monkeypatch.setattr(LocalProvider, "create_vm", counting_create)

    def lose_first_answer(real: Any) -> Any:
        calls = {"n": 0}

        def handler(event: dict[str, Any], context: Any) -> Any:
            result = real(event, context)
            calls["n"] += 1
            if calls["n"] == 1:
                raise LambdaServiceFault("the invocation's answer was lost")
            return result

        return handler

    plane.override_handler("create_vm", lose_first_answer)

    outcome = driver.deploy(hello_web_labspec(), hello_web_repo)

    assert outcome.record.status == LabStatus.READY, outcome.execution.get("cause")
    assert plane.ledger.for_lab(outcome.lab_id).invocations_by_function["create_vm"] == 2
    assert plane.state_transitions(outcome.execution_arn).retries >= 1
    assert len(created) == 2 and created[0] == created[1]
    assert [p.name for p in _sandboxes(plane)] == [outcome.lab_id]
    # Initialise VM sent one install command, which Await Init (the same Lambda) followed.
    assert plane.ledger.for_lab(outcome.lab_id).invocations_by_function["init_vm"] >= 2
    assert outcome.record.init_command_id and outcome.record.init_command_id.startswith("init-1-")


# -- the control plane itself -----------------------------------------------------------------------


def test_given_a_ready_lab_when_the_control_plane_stops_then_no_lab_process_is_left(
    workdir: Path, hello_web_repo: Path
) -> None:
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    with LocalControlPlane(workdir / "other", time_scale=0.02) as plane:
        outcome = WorkflowDriver(plane).deploy(hello_web_labspec(), hello_web_repo)
        assert outcome.record.status == LabStatus.READY
        assert processes_under(plane.state_dir)
        assert retrier_decl.time.sleep is not __import__("time").sleep

    assert processes_under(workdir / "other") == []
    assert not (workdir / "other" / "labs" / outcome.lab_id).exists()
    assert retrier_decl.time is __import__("time")
