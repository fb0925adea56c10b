"""record_status in-process against moto: final statuses, causes and lifecycle events."""

from __future__ import annotations

import json

from ads.lab_record import LabStatus
from functions.record_status.handler import handler as record_status
from tests.integration.steps.conftest import BUS, OWNER, Ec2World, FakeLambdaContext

CONTEXT = FakeLambdaContext()


def events_put(world: Ec2World) -> list[dict]:
    return [entry for call in world.events.called("put_events") for entry in call["Entries"]]


def healthy_lab(world: Ec2World) -> None:
    world.new_lab()
    for status in (LabStatus.PROVISIONING, LabStatus.INITIALIZING):
        world.repository.transition(world.lab_id, status)
    world.repository.transition(
        world.lab_id, LabStatus.HEALTH_CHECKING, endpoint="http://10.0.1.23:9089"
    )


def test_given_a_healthy_lab_when_marked_ready_then_the_record_is_ready_and_lab_ready_is_published(
    ec2_world: Ec2World,
):
    healthy_lab(ec2_world)

    result = record_status(ec2_world.state("record_status_ready"), CONTEXT)

    assert result == {
        "lab_id": ec2_world.lab_id,
        "status": "READY",
        "changed": True,
        "event_published": True,
    }
    assert ec2_world.repository.require(ec2_world.lab_id).status == LabStatus.READY
    (entry,) = events_put(ec2_world)
    assert (entry["Source"], entry["DetailType"], entry["EventBusName"]) == (
        "ads",
        "Lab Ready",
        BUS,
    )
    detail = json.loads(entry["Detail"])
    assert detail["lab_id"] == ec2_world.lab_id
    assert detail["status"] == "READY"
    assert detail["endpoint"] == "http://10.0.1.23:9089"
    assert detail["owner"] == OWNER


def test_given_check_health_recorded_ready_when_mark_ready_runs_then_it_only_publishes_lab_ready(
    ec2_world: Ec2World,
):
    healthy_lab(ec2_world)
    ec2_world.repository.transition(ec2_world.lab_id, LabStatus.READY, note="healthy")
    history = ec2_world.repository.require(ec2_world.lab_id).status_history

    result = record_status(
        {**ec2_world.state("record_status_ready"), "ready_recorded": True}, CONTEXT
    )

    assert result == {
        "lab_id": ec2_world.lab_id,
        "status": "READY",
        "changed": False,
        "event_published": True,
    }
    assert ec2_world.repository.require(ec2_world.lab_id).status_history == history
    ((entry),) = events_put(ec2_world)
    assert entry["DetailType"] == "Lab Ready"
    assert json.loads(entry["Detail"])["endpoint"] == "http://10.0.1.23:9089"


def test_given_a_ready_lab_without_check_healths_word_when_mark_ready_runs_again_then_nothing_is_published(
    ec2_world: Ec2World,
):
    # A retried Mark Ready of a lab it made READY itself (a lab of several VMs).
    healthy_lab(ec2_world)
    record_status(ec2_world.state("record_status_ready"), CONTEXT)

    result = record_status(ec2_world.state("record_status_ready"), CONTEXT)

    assert result["changed"] is False and result["event_published"] is False
    assert len(events_put(ec2_world)) == 1


def test_given_an_init_failure_when_marked_failed_then_the_cause_names_step_error_command_and_output(
    ec2_world: Ec2World,
):
    ec2_world.new_lab()
    ec2_world.repository.transition(ec2_world.lab_id, LabStatus.PROVISIONING)

    record_status(ec2_world.state("record_status_failed"), CONTEXT)

    record = ec2_world.repository.require(ec2_world.lab_id)
    assert record.status == LabStatus.FAILED
    assert record.failed_step == "init_vm"
    assert record.cause.startswith(
        "init_vm failed: InitFailed: install script exited with status 2; "
        "failing command: make -C ../src\noutput tail:\nmake: *** No rule"
    )
    (entry,) = events_put(ec2_world)
    detail = json.loads(entry["Detail"])
    assert entry["DetailType"] == "Lab Failed"
    assert (detail["failed_step"], detail["cause"]) == ("init_vm", record.cause)


def test_given_a_step_timeout_when_marked_failed_then_the_states_error_is_the_cause(
    ec2_world: Ec2World,
):
    ec2_world.new_lab()

    record_status(ec2_world.state("record_status_failed_timeout"), CONTEXT)

    record = ec2_world.repository.require(ec2_world.lab_id)
    assert record.cause == "health_check failed: States.Timeout: task timed out after 60 seconds"


def test_given_mark_failed_is_retried_when_it_runs_again_then_no_second_event_is_published(
    ec2_world: Ec2World,
):
    ec2_world.new_lab()
    record_status(ec2_world.state("record_status_failed"), CONTEXT)

    result = record_status(ec2_world.state("record_status_failed"), CONTEXT)

    assert result["changed"] is False
    assert len(events_put(ec2_world)) == 1


def test_given_a_destroy_already_won_when_marked_failed_then_nothing_changes(ec2_world: Ec2World):
    ec2_world.new_lab()
    ec2_world.repository.transition(ec2_world.lab_id, LabStatus.DESTROYING)

    result = record_status(ec2_world.state("record_status_failed"), CONTEXT)

    assert result == {
        "lab_id": ec2_world.lab_id,
        "status": "DESTROYING",
        "changed": False,
        "event_published": False,
        "cause": result["cause"],
    }
    assert result["cause"].startswith("init_vm failed: InitFailed: ")
    record = ec2_world.repository.require(ec2_world.lab_id)
    assert (record.status, record.cause) == (LabStatus.DESTROYING, None)
    assert events_put(ec2_world) == []


def test_given_a_failed_destroy_when_recorded_as_destroying_then_the_cause_is_kept_without_event(
    ec2_world: Ec2World,
):
    ec2_world.new_lab()
    ec2_world.repository.transition(ec2_world.lab_id, LabStatus.DESTROYING)

    record_status(ec2_world.state("record_status_destroying"), CONTEXT)

    record = ec2_world.repository.require(ec2_world.lab_id)
    assert record.status == LabStatus.DESTROYING
    assert record.failed_step == "destroy_vm"
    assert record.cause == (
        "destroy_vm failed: DestroyFailed: TerminateInstances i-0123456789abcdef0 refused: "
        "UnauthorizedOperation: not authorized"
    )
    assert events_put(ec2_world) == []


def test_given_a_destroying_lab_when_marked_destroyed_then_lab_destroyed_is_published_once(
    ec2_world: Ec2World,
):
    ec2_world.new_lab()
    ec2_world.repository.transition(ec2_world.lab_id, LabStatus.DESTROYING)

    first = record_status(ec2_world.state("record_status_destroyed"), CONTEXT)
    again = record_status(ec2_world.state("record_status_destroyed"), CONTEXT)

    assert (first["status"], first["changed"], again["changed"]) == ("DESTROYED", True, False)
    record = ec2_world.repository.require(ec2_world.lab_id)
    assert record.status == LabStatus.DESTROYED
    assert record.expires_at is not None
    assert [e["DetailType"] for e in events_put(ec2_world)] == ["Lab Destroyed"]


def test_given_the_destroy_after_a_failure_failed_too_when_marked_failed_then_both_causes_are_kept(
    ec2_world: Ec2World,
):
    ec2_world.new_lab()
    event = {
        **ec2_world.state("record_status_failed"),
        "destroy_error": {"Error": "DestroyFailed", "Cause": "VM i-1 is still running"},
    }

    record_status(event, CONTEXT)

    cause = ec2_world.repository.require(ec2_world.lab_id).cause
    assert cause.startswith("init_vm failed: InitFailed: install script exited with status 2")
    assert cause.endswith("; then Destroy VM failed: DestroyFailed: VM i-1 is still running")


def test_given_the_workflow_appended_the_destroy_failure_to_the_cause_when_marked_failed_then_both_read_plainly(
    ec2_world: Ec2World,
):
    ec2_world.new_lab()
    lambda_error = json.dumps({"errorMessage": "VM i-1 is stopped", "errorType": "VmNotRunning"})
    event = {
        "lab_id": ec2_world.lab_id,
        "status": "FAILED",
        "failed_step": "Wait Until Running",
        "error": {
            "Error": "VmNotRunning",
            "Cause": f"{lambda_error} (destroying the VM afterwards failed too: DestroyFailed: boom)",
        },
    }

    record_status(event, CONTEXT)

    assert ec2_world.repository.require(ec2_world.lab_id).cause == (
        "Wait Until Running failed: VmNotRunning: VM i-1 is stopped "
        "(destroying the VM afterwards failed too: DestroyFailed: boom)"
    )


def test_given_a_lambda_error_document_when_marked_failed_then_the_answer_carries_the_readable_cause(
    ec2_world: Ec2World,
):
    ec2_world.new_lab()
    lambda_error = json.dumps(
        {
            "errorMessage": "no capacity for t3.micro",
            "errorType": "VmCreateFailed",
            "stackTrace": ['  File "/var/task/ads/steps.py", line 1, in create_vm\n'],
        }
    )
    event = {
        "lab_id": ec2_world.lab_id,
        "status": "FAILED",
        "failed_step": "Create VM",
        "error": {"Error": "VmCreateFailed", "Cause": lambda_error},
    }

    result = record_status(event, CONTEXT)

    assert result["cause"] == "Create VM failed: VmCreateFailed: no capacity for t3.micro"
    assert ec2_world.repository.require(ec2_world.lab_id).cause == result["cause"]


def test_given_the_destroy_failure_appended_as_a_lambda_error_document_when_marked_failed_then_both_messages_read_plainly(
    ec2_world: Ec2World,
):
    ec2_world.new_lab()
    step_error = json.dumps({"errorMessage": "VM i-1 is stopped", "errorType": "VmNotRunning"})
    destroy_error = json.dumps(
        {"errorMessage": "TerminateInstances i-1 refused", "errorType": "DestroyFailed"}
    )
    event = {
        "lab_id": ec2_world.lab_id,
        "status": "FAILED",
        "failed_step": "Wait Until Running",
        "error": {
            "Error": "VmNotRunning",
            "Cause": f"{step_error} (destroying the VM afterwards failed too: "
            f"DestroyFailed: {destroy_error})",
        },
    }

    result = record_status(event, CONTEXT)

    assert result["cause"] == (
        "Wait Until Running failed: VmNotRunning: VM i-1 is stopped "
        "(destroying the VM afterwards failed too: DestroyFailed: TerminateInstances i-1 refused)"
    )


def test_given_a_healthy_lab_when_marked_ready_then_the_answer_has_no_cause(ec2_world: Ec2World):
    healthy_lab(ec2_world)

    result = record_status(ec2_world.state("record_status_ready"), CONTEXT)

    assert "cause" not in result
