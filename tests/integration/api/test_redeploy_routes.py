"""POST /labs/{lab_id}/redeploy through the api handler, and the CI event Lab Update
Requested through the CI trigger: 202 with the RedeployLab execution, 400 naming the field
of a bad body, 404 for a lab that is not the caller's, 409 naming the lab's status (one
operation at a time), 503 where no RedeployLab state machine is configured."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ads.config import reset_config
from ads.lab_record import LabStatus
from tests.integration.api.conftest import _definition
from tests.integration.api.events import ALICE, load_event

CI_ROLE = "arn:aws:iam::123456789012:role/ads-ci"
OTHER = "arn:aws:iam::123456789012:user/someone-else"


def _redeploy_event(lab_id: str, body: Any, **kwargs: Any) -> dict[str, Any]:
    event = load_event("api/delete_lab", lab_id=lab_id, **kwargs)
    path, resource = f"/labs/{lab_id}/redeploy", "/labs/{lab_id}/redeploy"
    event.update(httpMethod="POST", resource=resource, path=path)
    event["requestContext"].update(httpMethod="POST", resourcePath=resource, path=path)
    event["body"] = body if isinstance(body, str) else json.dumps(body)
    return event


@pytest.fixture
def redeploy_machine(control_plane, monkeypatch) -> str:
    arn = control_plane.sfn.create_state_machine(
        name="ads-RedeployLab",
        definition=_definition("redeploy_lab"),
        roleArn="arn:aws:iam::123456789012:role/ads-workflow",
    )["stateMachineArn"]
    monkeypatch.setenv("ADS_REDEPLOY_STATE_MACHINE_ARN", arn)
    reset_config()
    return arn


def _ready_lab(call_api, control_plane, event: str = "api/post_labs") -> str:
    lab_id = call_api(load_event(event)).body["lab_id"]
    for status in ("PROVISIONING", "INITIALIZING", "HEALTH_CHECKING", "READY"):
        control_plane.repo.transition(lab_id, status)
    return lab_id


def test_given_a_ready_lab_when_a_ref_is_posted_then_202_updating_and_redeploy_lab_started(
    call_api, control_plane, redeploy_machine
) -> None:
    lab_id = _ready_lab(call_api, control_plane)

    answer = call_api(_redeploy_event(lab_id, {"ref": "v2.0.0"}))

    assert answer.status == 202, answer.body
    assert answer.body["status"] == "UPDATING" and answer.body["ref"] == "v2.0.0"
    record = control_plane.repo.require(lab_id)
    assert record.status == LabStatus.UPDATING
    assert record.update_in_progress and record.update_in_progress["ref"] == "v2.0.0"
    assert record.update_execution_arn == answer.body["execution_arn"]
    [execution] = control_plane.executions(redeploy_machine)
    assert execution["executionArn"] == answer.body["execution_arn"]

    again = call_api(_redeploy_event(lab_id, {"ref": "v2.0.0"}))
    assert again.status == 409 and "is UPDATING" in again.body["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "ref"),
        ({"ref": "-rf"}, "ref"),
        ({"ref": "a..b"}, "ref"),
        ({"ref": "v2", "colour": "red"}, "colour"),
        ({"ref": "v2", "labspec": "not an object"}, "labspec"),
        ("{not json", "body"),
    ],
)
def test_given_a_bad_body_when_posted_then_400_names_the_field(
    call_api, control_plane, redeploy_machine, body, field
) -> None:
    lab_id = _ready_lab(call_api, control_plane)

    answer = call_api(_redeploy_event(lab_id, body))

    assert answer.status == 400, answer.body
    assert any(p["path"].startswith(field) for p in answer.body["problems"]), answer.body
    assert control_plane.repo.require(lab_id).status == LabStatus.READY


def test_given_a_lab_not_ready_or_not_yours_when_posted_then_409_or_404(
    call_api, control_plane, redeploy_machine
) -> None:
    lab_id = call_api(load_event("api/post_labs")).body["lab_id"]

    refused = call_api(_redeploy_event(lab_id, {"ref": "v2"}))
    hidden = call_api(_redeploy_event(lab_id, {"ref": "v2"}, caller=OTHER))

    assert refused.status == 409 and "is REQUESTED" in refused.body["message"]
    assert "only from READY" in refused.body["message"]
    assert hidden.status == 404


def test_given_a_lab_without_a_git_source_when_posted_then_400_on_ref(
    call_api, control_plane, redeploy_machine
) -> None:
    lab_id = _ready_lab(call_api, control_plane, "api/post_labs_without_source")

    answer = call_api(_redeploy_event(lab_id, {"ref": "v2"}))

    assert answer.status == 400
    assert answer.body["problems"][0]["path"] == "ref"
    assert "without a git source" in answer.body["problems"][0]["found"]


def test_given_no_redeploy_machine_when_posted_then_503(call_api, control_plane) -> None:
    lab_id = _ready_lab(call_api, control_plane)

    answer = call_api(_redeploy_event(lab_id, {"ref": "v2"}))

    assert answer.status == 503 and "ADS_REDEPLOY_STATE_MACHINE_ARN" in answer.body["message"]
    assert control_plane.repo.require(lab_id).status == LabStatus.READY


def _ci_lab(control_plane, lab_id: str, owner: str) -> None:
    record = control_plane.repo.new_record(
        lab_id, owner, lab_name="Hello Web", source={"git": "https://example.org/l.git"}
    )
    control_plane.repo.create(record)
    for status in ("PROVISIONING", "INITIALIZING", "HEALTH_CHECKING", "READY"):
        control_plane.repo.transition(lab_id, status)


def test_given_a_lab_update_requested_event_for_a_ci_lab_then_redeploy_lab_starts(
    control_plane, redeploy_machine
) -> None:
    from functions.ci_trigger.handler import handler

    event = load_event("ci/lab_update_requested")
    lab_id = event["detail"]["lab_id"]
    _ci_lab(control_plane, lab_id, CI_ROLE)

    result = handler(event, None)
    again = handler(event, None)  # EventBridge delivers at least once

    assert result["accepted"] is True and result["ref"] == "v1.5.0"
    assert control_plane.repo.require(lab_id).status == LabStatus.UPDATING
    assert again["accepted"] is False and "is UPDATING" in again["message"]
    assert len(control_plane.executions(redeploy_machine)) == 1


def test_given_a_lab_update_requested_event_for_someone_elses_lab_then_it_is_rejected(
    control_plane, redeploy_machine
) -> None:
    from functions.ci_trigger.handler import handler

    event = load_event("ci/lab_update_requested")
    lab_id = event["detail"]["lab_id"]
    _ci_lab(control_plane, lab_id, OTHER)
    bad = load_event("ci/lab_update_requested")
    bad["detail"]["ref"] = "--upload-pack=x"

    result = handler(event, None)
    invalid = handler(bad, None)

    assert result["accepted"] is False and "no lab with id" in result["message"]
    assert control_plane.repo.require(lab_id).status == LabStatus.READY
    assert invalid["accepted"] is False and invalid["problems"][0]["path"] == "detail.ref"
    assert control_plane.executions(redeploy_machine) == []


def test_given_a_lab_update_requested_event_with_a_bad_labspec_then_its_problems_point_into_detail_labspec(
    control_plane, redeploy_machine
) -> None:
    from functions.ci_trigger.handler import handler

    event = load_event("ci/lab_update_requested")
    lab_id = event["detail"]["lab_id"]
    _ci_lab(control_plane, lab_id, CI_ROLE)
    event["detail"]["labspec"] = {"lab": {"description": {"name": ""}}}

    result = handler(event, None)

    assert result["accepted"] is False
    paths = [p["path"] for p in result["problems"]]
    assert paths and all(p.startswith("detail.labspec.") for p in paths), paths
    assert not any(p.startswith("detail.labspec.labspec") for p in paths), paths
    assert control_plane.repo.require(lab_id).status == LabStatus.READY
    assert control_plane.executions(redeploy_machine) == []


def test_given_a_lab_of_several_vms_when_a_ref_is_posted_then_400_names_its_vms_and_nothing_starts(
    call_api, control_plane, redeploy_machine
) -> None:
    lab_id = "two-roles-01jredeploycluster000000000"
    record = control_plane.repo.new_record(
        lab_id,
        ALICE,
        lab_name="Two Roles",
        source={"git": "https://example.org/l.git"},
        vms={
            "db-1": {"name": "db-1", "role": "db", "status": "HEALTHY"},
            "web-1": {"name": "web-1", "role": "web", "status": "HEALTHY"},
        },
    )
    control_plane.repo.create(record)
    for status in ("PROVISIONING", "INITIALIZING", "HEALTH_CHECKING", "READY"):
        control_plane.repo.transition(lab_id, status)

    answer = call_api(_redeploy_event(lab_id, {"ref": "v2.0.0"}))

    assert answer.status == 400, answer.body
    [problem] = answer.body["problems"]
    assert problem["path"] == "lab_id" and "db-1, web-1" in problem["found"]
    assert "only of a lab of one VM" in problem["allowed"]
    assert control_plane.repo.require(lab_id).status == LabStatus.READY
    assert control_plane.executions(redeploy_machine) == []
