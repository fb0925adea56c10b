"""POST /labs/{lab_id}/stop, /start, /restart through the api handler: 202 with the
PowerLab execution, 409 naming the status the lab is in, 404 for another caller's lab,
503 where no PowerLab state machine is configured."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ads.config import reset_config
from ads.lab_record import LabStatus
from tests.integration.api.conftest import _definition
from tests.integration.api.events import load_event


def _power_event(operation: str, lab_id: str, **kwargs: Any) -> dict[str, Any]:
    event = load_event("api/delete_lab", lab_id=lab_id, **kwargs)
    event["httpMethod"] = "POST"
    event["resource"] = f"/labs/{{lab_id}}/{operation}"
    event["path"] = f"/labs/{lab_id}/{operation}"
    event["requestContext"]["httpMethod"] = "POST"
    event["requestContext"]["resourcePath"] = event["resource"]
    event["requestContext"]["path"] = event["path"]
    return event


@pytest.fixture
def power_machine(control_plane, monkeypatch) -> str:
    arn = control_plane.sfn.create_state_machine(
        name="ads-PowerLab",
        definition=_definition("power_lab"),
        roleArn="arn:aws:iam::123456789012:role/ads-workflow",
    )["stateMachineArn"]
    monkeypatch.setenv("ADS_POWER_STATE_MACHINE_ARN", arn)
    reset_config()
    return arn


def _ready_lab(call_api, control_plane) -> str:
    lab_id = call_api(load_event("api/post_labs_without_source")).body["lab_id"]
    for status in ("PROVISIONING", "INITIALIZING", "HEALTH_CHECKING", "READY"):
        control_plane.repo.transition(lab_id, status)
    return lab_id


def test_given_a_ready_lab_when_stop_is_posted_then_202_stopping_and_power_lab_started(
    call_api, control_plane, power_machine
) -> None:
    lab_id = _ready_lab(call_api, control_plane)

    answer = call_api(_power_event("stop", lab_id))

    assert answer.status == 202
    assert answer.body["status"] == "STOPPING"
    assert answer.body["operation"] == "stop"
    assert ":execution:ads-PowerLab:" in answer.body["execution_arn"]
    record = control_plane.repo.require(lab_id)
    assert record.status == LabStatus.STOPPING
    assert record.power_execution_arn == answer.body["execution_arn"]
    described = control_plane.sfn.describe_execution(executionArn=answer.body["execution_arn"])
    assert json.loads(described["input"]) == {"lab_id": lab_id, "operation": "stop"}


@pytest.mark.parametrize("operation", ["stop", "restart", "start"])
def test_given_a_lab_still_deploying_when_powered_then_409_names_its_status(
    call_api, control_plane, power_machine, operation: str
) -> None:
    lab_id = call_api(load_event("api/post_labs_without_source")).body["lab_id"]

    answer = call_api(_power_event(operation, lab_id))

    assert answer.status == 409
    assert answer.body["error"] == "illegal_state_change"
    assert "is REQUESTED" in answer.body["message"]


def test_given_a_stop_in_flight_when_restart_is_posted_then_409_stopping(
    call_api, control_plane, power_machine
) -> None:
    lab_id = _ready_lab(call_api, control_plane)
    assert call_api(_power_event("stop", lab_id)).status == 202

    answer = call_api(_power_event("restart", lab_id))

    assert answer.status == 409
    assert "is STOPPING" in answer.body["message"]


def test_given_another_callers_lab_when_stop_is_posted_then_404(
    call_api, control_plane, power_machine
) -> None:
    lab_id = _ready_lab(call_api, control_plane)

    answer = call_api(_power_event("stop", lab_id, caller="arn:aws:iam::123456789012:user/mallory"))

    assert answer.status == 404
    assert control_plane.repo.require(lab_id).status == LabStatus.READY


def test_given_no_power_state_machine_when_stop_is_posted_then_503_and_the_lab_untouched(
    call_api, control_plane
) -> None:
    lab_id = _ready_lab(call_api, control_plane)

    answer = call_api(_power_event("stop", lab_id))

    assert answer.status == 503
    assert "ADS_POWER_STATE_MACHINE_ARN" in answer.body["message"]
    assert control_plane.repo.require(lab_id).status == LabStatus.READY


def test_given_a_stopped_lab_when_read_then_its_cost_is_the_root_volume_alone(
    call_api, control_plane
) -> None:
    lab_id = _ready_lab(call_api, control_plane)
    for status in ("STOPPING", "STOPPED"):
        control_plane.repo.transition(lab_id, status)

    answer = call_api(load_event("api/get_lab", lab_id=lab_id))

    assert answer.status == 200
    plan, cost = answer.body["plan"], answer.body["cost"]
    assert cost["status"] == "STOPPED"
    assert cost["compute_hourly_usd"] == 0.0
    assert cost["monthly_usd"] == cost["storage_monthly_usd"] == plan["storage_monthly_cost_usd"]
    assert cost["storage_monthly_usd"] == pytest.approx(plan["root_volume_gib"] * 0.08)
    assert cost["summary"].startswith("stopped: no compute is billed")
