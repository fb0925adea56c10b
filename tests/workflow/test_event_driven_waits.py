"""Await Init on the local plane: the install command's status-change event ends the
wait, a lost event is made up for by the wait's own poll, a late one is ignored, and an
install past its deadline fails the lab with "timed out after N s in Initialise VM"
(and its VM is destroyed)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ads.lab_record import LabStatus
from ads.local.runtime import LocalControlPlane

from .conftest import WorkflowDriver, hello_web_labspec, plane_with_env

Handler = Callable[[dict[str, Any], Any], Any]


@pytest.fixture
def patient_plane(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalControlPlane]:
    """Await Init looks for itself only after 60 s: an end within seconds is the event's."""
    yield from plane_with_env(workdir, monkeypatch, ADS_INIT_POLL_S="60")


@pytest.fixture
def polling_plane(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalControlPlane]:
    """Await Init looks for itself every second."""
    yield from plane_with_env(workdir, monkeypatch, ADS_INIT_POLL_S="1")


@pytest.fixture
def short_deadline_plane(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LocalControlPlane]:
    yield from plane_with_env(workdir, monkeypatch, ADS_INIT_POLL_S="1", ADS_INIT_DEADLINE_S="3")


class CallbackSpy:
    """Wraps functions/step_callback: records what it answered, or drops or holds events."""

    def __init__(self, mode: str = "pass", release: threading.Event | None = None) -> None:
        self.mode = mode
        self.release = release
        self.answers: list[Any] = []
        self.errors: list[BaseException] = []
        self.seen = 0

    def __call__(self, real: Handler) -> Handler:
        def handler(event: dict[str, Any], context: Any) -> Any:
            self.seen += 1
            if self.mode == "drop":
                return {"outcome": "dropped"}
            if self.mode == "late" and self.release is not None:
                self.release.wait(60)
            try:
                answer = real(event, context)
            except BaseException as exc:
                self.errors.append(exc)
                raise
            self.answers.append(answer)
            return answer

        return handler


def _slow_install() -> dict[str, Any]:
    """hello-web whose install lasts a few seconds more: long enough that Await Init has
    registered its token when the install ends (on a busy host a fast install may end
    first, and Await Init then answers its own token, which tests/unit covers)."""
    labspec = hello_web_labspec()
    steps = labspec["lab"]["build_requirements"]["platform"]["build_steps"]
    steps["pre_build"] = ["sleep 3", *steps["pre_build"]]
    return labspec


def _await_attempts(plane: LocalControlPlane, execution_arn: str) -> int:
    events = plane.execution_history(execution_arn)
    scheduled = [e for e in events if e["type"] == "TaskScheduled"]
    return sum(
        1 for e in scheduled if "waitForTaskToken" in str(e.get("taskScheduledEventDetails"))
    )


def test_given_the_install_ends_when_its_event_arrives_then_the_lab_is_ready_without_waiting_for_the_poll(
    patient_plane: LocalControlPlane, hello_web_repo: Path
) -> None:
    spy = CallbackSpy()
    patient_plane.override_handler("step_callback", spy)
    started = time.monotonic()

    outcome = WorkflowDriver(patient_plane).deploy(_slow_install(), hello_web_repo)

    assert outcome.record.status == LabStatus.READY, outcome.execution.get("cause")
    # Well before the 60 s safety net: the event ended the wait, one Await Init attempt.
    assert time.monotonic() - started < 45
    assert outcome.states.count("Await Init") == 1
    assert [a["outcome"] for a in spy.answers] == ["completed"]
    assert spy.answers[0]["lab_id"] == outcome.lab_id
    assert outcome.record.init_command_id == spy.answers[0]["command_id"]
    usage = patient_plane.ledger.for_lab(outcome.lab_id)
    assert usage.invocations_by_function["step_callback"] == 1
    # Initialise VM and one Await Init; one Check Health passed (a loaded machine may add
    # a retried HealthCheckPending before it: the agent's answer took over 3 s).
    assert usage.invocations_by_function["init_vm"] == 2
    checks = [i.error_type for i in usage.invocations if i.function == "health_check"]
    assert checks.count(None) == 1 and set(checks) <= {None, "HealthCheckPending"}, checks


def test_given_the_agent_answers_healthy_when_checked_then_check_health_records_ready_and_mark_ready_only_announces_it(
    plane: LocalControlPlane, hello_web_repo: Path
) -> None:
    seen_at_mark_ready: list[tuple[Any, Any]] = []

    def spy(real: Handler) -> Handler:
        def handler(event: dict[str, Any], context: Any) -> Any:
            if event.get("status") == "READY":
                record = plane.repository().require(event["lab_id"])
                seen_at_mark_ready.append((record.status, event.get("ready_recorded")))
            return real(event, context)

        return handler

    plane.override_handler("record_status", spy)

    outcome = WorkflowDriver(plane).deploy(hello_web_labspec(), hello_web_repo)

    assert outcome.record.status == LabStatus.READY, outcome.execution.get("cause")
    # READY was in the record before Mark Ready ran: the lag ends with Check Health.
    assert seen_at_mark_ready == [(LabStatus.READY, True)]
    ready = [c for c in outcome.record.status_history if c.status == LabStatus.READY]
    assert [c.note for c in ready] == ["healthy"]
    usage = plane.ledger.for_lab(outcome.lab_id)
    assert usage.api_calls[("events", "PutEvents")] == 1  # "Lab Ready", once


def test_given_the_event_is_lost_when_the_wait_times_out_then_its_poll_finds_the_install_done(
    polling_plane: LocalControlPlane, hello_web_repo: Path
) -> None:
    spy = CallbackSpy("drop")
    polling_plane.override_handler("step_callback", spy)

    outcome = WorkflowDriver(polling_plane).deploy(_slow_install(), hello_web_repo)

    assert outcome.record.status == LabStatus.READY, outcome.execution.get("cause")
    assert spy.seen == 1  # the event came, and was lost
    # The first attempt timed out after init_poll_s; a later one found the command ended
    # and completed its own token.
    assert _await_attempts(polling_plane, outcome.execution_arn) >= 2
    history = polling_plane.execution_history(outcome.execution_arn)
    assert any(e["type"] == "TaskTimedOut" for e in history)
    assert "Mark Ready" in outcome.states


def test_given_the_event_comes_after_the_poll_moved_on_when_delivered_then_it_is_ignored(
    polling_plane: LocalControlPlane, hello_web_repo: Path
) -> None:
    release = threading.Event()
    spy = CallbackSpy("late", release)
    polling_plane.override_handler("step_callback", spy)
    driver = WorkflowDriver(polling_plane)

    outcome = driver.deploy(_slow_install(), hello_web_repo)
    assert outcome.record.status == LabStatus.READY, outcome.execution.get("cause")
    release.set()
    deadline = time.monotonic() + 30
    while not (spy.answers or spy.errors) and time.monotonic() < deadline:
        time.sleep(0.05)

    # The wait had ended: nothing waits for the command any more, and nothing failed.
    assert spy.errors == []
    assert [a["outcome"] for a in spy.answers] == ["no_wait"]
    record = polling_plane.repository().require(outcome.lab_id)
    assert record.status == LabStatus.READY
    assert _await_attempts(polling_plane, outcome.execution_arn) >= 2


def test_given_an_install_slower_than_its_deadline_when_deployed_then_the_lab_fails_timed_out_and_its_vm_is_gone(
    short_deadline_plane: LocalControlPlane, hello_web_repo: Path
) -> None:
    labspec = hello_web_labspec()
    steps = labspec["lab"]["build_requirements"]["platform"]["build_steps"]
    steps["pre_build"] = ["sleep 60"]

    outcome = WorkflowDriver(short_deadline_plane).deploy(labspec, hello_web_repo)

    assert outcome.execution["status"] == "FAILED"
    assert outcome.record.status == LabStatus.FAILED
    assert outcome.record.failed_step == "Initialise VM"
    assert "timed out after 3 s in Initialise VM" in (outcome.record.cause or "")
    assert "Destroy VM" in outcome.states
    assert short_deadline_plane.local_provider().describe_vm(outcome.record.vm_id).gone
