"""POST /labs/{lab_id}/actions/{name} and GET /labs/{lab_id}/actions through the api
handler: 202 with the ActionLab execution, 404 listing the defined actions, 409 naming the
lab's status, 503 where no ActionLab state machine is configured."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ads.config import reset_config
from ads.lab_record import LabStatus
from tests.integration.api.conftest import _definition
from tests.integration.api.events import load_event


def _event(method: str, path: str, resource: str, lab_id: str, **kwargs: Any) -> dict[str, Any]:
    event = load_event("api/delete_lab", lab_id=lab_id, **kwargs)
    event["httpMethod"] = method
    event["resource"] = resource
    event["path"] = path
    event["requestContext"].update(httpMethod=method, resourcePath=resource, path=path)
    return event


def _action_event(lab_id: str, name: str, **kwargs: Any) -> dict[str, Any]:
    event = _event(
        "POST",
        f"/labs/{lab_id}/actions/{name}",
        "/labs/{lab_id}/actions/{name}",
        lab_id,
        **kwargs,
    )
    event["pathParameters"] = {"lab_id": lab_id, "name": name}
    return event


@pytest.fixture
def action_machine(control_plane, monkeypatch) -> str:
    arn = control_plane.sfn.create_state_machine(
        name="ads-ActionLab",
        definition=_definition("action_lab"),
        roleArn="arn:aws:iam::123456789012:role/ads-workflow",
    )["stateMachineArn"]
    monkeypatch.setenv("ADS_ACTION_STATE_MACHINE_ARN", arn)
    reset_config()
    return arn


def _ready_lab(call_api, control_plane) -> str:
    lab_id = call_api(load_event("api/post_labs_without_source")).body["lab_id"]
    for status in ("PROVISIONING", "INITIALIZING", "HEALTH_CHECKING", "READY"):
        control_plane.repo.transition(lab_id, status)
    return lab_id


def _defined(control_plane, lab_id: str) -> list[str]:
    plan = control_plane.repo.require(lab_id).plan
    return sorted(name for name, commands in plan["actions"].items() if commands)


def test_given_a_ready_lab_when_a_defined_action_is_posted_then_202_acting_and_action_lab_started(
    call_api, control_plane, action_machine
) -> None:
    lab_id = _ready_lab(call_api, control_plane)
    name = _defined(control_plane, lab_id)[0]

    answer = call_api(_action_event(lab_id, name))

    assert answer.status == 202, answer.body
    assert answer.body["status"] == "ACTING" and answer.body["action"] == name
    assert ":execution:ads-ActionLab:" in answer.body["execution_arn"]
    record = control_plane.repo.require(lab_id)
    assert record.status == LabStatus.ACTING
    assert record.action_execution_arn == answer.body["execution_arn"]
    assert record.action_in_progress["name"] == name
    described = control_plane.sfn.describe_execution(executionArn=answer.body["execution_arn"])
    assert json.loads(described["input"]) == {"lab_id": lab_id, "action": name}


def test_given_an_undefined_action_when_posted_then_404_lists_the_defined_ones(
    call_api, control_plane, action_machine
) -> None:
    lab_id = _ready_lab(call_api, control_plane)

    answer = call_api(_action_event(lab_id, "no-such-action"))

    assert answer.status == 404
    assert answer.body["error"] == "action_not_found"
    for name in _defined(control_plane, lab_id):
        assert name in answer.body["message"]
    assert control_plane.repo.require(lab_id).status == LabStatus.READY


def test_given_an_action_in_flight_when_another_is_posted_then_409_acting(
    call_api, control_plane, action_machine
) -> None:
    lab_id = _ready_lab(call_api, control_plane)
    name = _defined(control_plane, lab_id)[0]
    assert call_api(_action_event(lab_id, name)).status == 202

    answer = call_api(_action_event(lab_id, name))

    assert answer.status == 409
    assert "is ACTING" in answer.body["message"]


def test_given_no_action_state_machine_when_posted_then_503_and_the_lab_untouched(
    call_api, control_plane
) -> None:
    lab_id = _ready_lab(call_api, control_plane)
    name = _defined(control_plane, lab_id)[0]

    answer = call_api(_action_event(lab_id, name))

    assert answer.status == 503
    assert "ADS_ACTION_STATE_MACHINE_ARN" in answer.body["message"]
    assert control_plane.repo.require(lab_id).status == LabStatus.READY


def test_given_a_lab_when_its_actions_are_read_then_the_defined_ones_and_no_runs(
    call_api, control_plane
) -> None:
    lab_id = _ready_lab(call_api, control_plane)

    answer = call_api(_event("GET", f"/labs/{lab_id}/actions", "/labs/{lab_id}/actions", lab_id))

    assert answer.status == 200, answer.body
    assert answer.body["actions"] == _defined(control_plane, lab_id)
    assert answer.body["runs"] == [] and answer.body["running"] is None
