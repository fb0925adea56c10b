"""EventBridge ``ads.ci`` events request deployments through the same code path as the API."""

from __future__ import annotations

import json

import pytest

from ads.config import reset_config
from ads.deployments import WorkflowUnavailableError
from ads.lab_record import LabStatus
from tests.integration.api.events import EVENTS, load_event

CI_ROLE = "arn:aws:iam::123456789012:role/ads-ci"
PIPELINE_ROLE = "arn:aws:iam::123456789012:role/release-pipeline"


@pytest.fixture
def trigger(control_plane):
    from functions.ci_trigger.handler import handler

    return lambda event: handler(event, None)


def test_given_a_ci_event_when_handled_then_a_lab_is_requested_and_owned_by_the_ci_role(
    trigger, control_plane
):
    event = load_event("ci/lab_deployment_requested")

    result = trigger(event)

    assert result["accepted"] is True
    assert result["idempotent_replay"] is False
    assert result["owner"] == CI_ROLE
    record = control_plane.repo.require(result["lab_id"])
    assert record.status == LabStatus.REQUESTED
    assert record.owner == CI_ROLE
    assert record.requested_by == "ci"
    assert event["detail"]["requested_by"] in record.status_history[0].note
    assert record.source == event["detail"]["source"]
    [execution] = control_plane.executions(control_plane.deploy_arn)
    assert execution["name"] == result["lab_id"]


def test_given_eventbridge_redelivers_the_same_event_when_handled_then_it_deploys_once(
    trigger, control_plane
):
    first = trigger(load_event("ci/lab_deployment_requested"))
    again = trigger(load_event("ci/lab_deployment_requested_redelivered"))

    assert again["accepted"] is True
    assert again["idempotent_replay"] is True
    assert again["lab_id"] == first["lab_id"]
    assert len(control_plane.executions(control_plane.deploy_arn)) == 1
    assert len(control_plane.repo.list_all()[0]) == 1


def test_given_two_events_with_the_same_idempotency_key_when_handled_then_one_lab_owned_by_the_ci_role(
    trigger, control_plane
):
    first = trigger(load_event("ci/lab_deployment_requested_with_key"))
    second = trigger(load_event("ci/lab_deployment_requested_with_key_again"))

    assert first["owner"] == CI_ROLE
    assert second["lab_id"] == first["lab_id"]
    assert second["idempotent_replay"] is True
    assert len(control_plane.executions(control_plane.deploy_arn)) == 1
    assert control_plane.repo.require(first["lab_id"]).source == {
        "s3": "s3://example-artifacts/hello-web/1.4.0.tar.gz"
    }


def test_given_an_invalid_detail_when_handled_then_it_is_reported_without_raising(
    trigger, control_plane
):
    result = trigger(load_event("ci/lab_deployment_requested_invalid"))

    assert result["accepted"] is False
    paths = {p["path"] for p in result["problems"]}
    assert paths == {"detail.labspec", "detail.requested_by", "detail.options.arch"}
    assert control_plane.repo.list_all()[0] == []
    assert control_plane.executions(control_plane.deploy_arn) == []


def test_given_a_bad_source_in_the_detail_when_handled_then_the_problem_points_into_detail(
    trigger, control_plane
):
    event = load_event("ci/lab_deployment_requested")
    event["detail"]["source"] = {"s3": "https://example-artifacts/hello-web.tar.gz"}

    result = trigger(event)

    assert result["accepted"] is False
    assert [p["path"] for p in result["problems"]] == ["detail.source.s3"]


def test_given_a_bad_labspec_in_the_detail_when_handled_then_problems_name_labspec_fields(
    trigger, control_plane
):
    result = trigger(load_event("ci/lab_deployment_requested_bad_labspec"))

    assert result["accepted"] is False
    assert "detail.labspec.lab.runtime_requirements.platform.memory.min_required" in {
        p["path"] for p in result["problems"]
    }
    assert control_plane.repo.list_all()[0] == []


def test_given_an_event_of_another_kind_when_handled_then_it_is_ignored_with_a_reason(
    trigger, control_plane
):
    event = load_event("ci/lab_deployment_requested")
    event["detail-type"] = "Build Finished"

    result = trigger(event)

    assert result["accepted"] is False
    assert result["problems"][0]["path"] == "source"


def test_given_step_functions_is_down_when_handled_then_it_raises_so_the_event_is_retried_once_more(
    trigger, control_plane
):
    definition = control_plane.sfn.describe_state_machine(stateMachineArn=control_plane.deploy_arn)[
        "definition"
    ]
    control_plane.sfn.delete_state_machine(stateMachineArn=control_plane.deploy_arn)

    with pytest.raises(WorkflowUnavailableError):
        trigger(load_event("ci/lab_deployment_requested"))
    control_plane.sfn.create_state_machine(
        name="ads-DeployLab", definition=definition, roleArn="arn:aws:iam::123456789012:role/x"
    )
    retried = trigger(load_event("ci/lab_deployment_requested_redelivered"))

    assert retried["accepted"] is True
    assert retried["idempotent_replay"] is False
    assert control_plane.repo.require(retried["lab_id"]).status == LabStatus.REQUESTED


def test_given_a_ci_lab_when_the_ci_role_reads_it_through_the_api_then_it_is_theirs_and_no_one_elses(
    trigger, call_api
):
    result = trigger(load_event("ci/lab_deployment_requested_with_key"))

    answer = call_api(load_event("api/get_lab", lab_id=result["lab_id"], caller=CI_ROLE))
    named = call_api(load_event("api/get_lab", lab_id=result["lab_id"], caller=PIPELINE_ROLE))
    hidden = call_api(load_event("api/get_lab", lab_id=result["lab_id"]))

    assert answer.status == 200
    assert answer.body["requested_by"] == "ci"
    assert named.status == 404
    assert hidden.status == 404


@pytest.mark.parametrize(
    "forged",
    [
        "arn:aws:iam::123456789012:user/alice",
        "arn:aws:iam::123456789012:role/Admin",
        "arn:aws:sts::123456789012:assumed-role/release-pipeline/build-42",
        "arn:aws:iam::210987654321:role/someone-elses-pipeline",
    ],
)
def test_given_a_forged_requested_by_when_handled_then_it_does_not_set_the_owner(
    trigger, control_plane, call_api, forged
):
    event = load_event("ci/lab_deployment_requested")
    event["detail"]["requested_by"] = forged

    result = trigger(event)

    record = control_plane.repo.require(result["lab_id"])
    assert result["owner"] == record.owner == CI_ROLE
    # Kept as information: whoever wrote it is named in the status history, nothing more.
    assert forged in record.status_history[0].note
    claimed = call_api(load_event("api/get_lab", lab_id=result["lab_id"], caller=forged))
    assert claimed.status == 404


def test_given_the_stack_names_the_ci_owner_when_an_event_is_handled_then_that_role_owns_the_lab(
    trigger, control_plane, monkeypatch
):
    owner = "arn:aws:iam::123456789012:role/team-ci"
    monkeypatch.setenv("ADS_CI_OWNER_ARN", owner)
    monkeypatch.setenv("ADS_CI_ACCOUNTS", "123456789012,210987654321")
    reset_config()
    event = load_event("ci/lab_deployment_requested_with_key")
    event["account"] = "210987654321"

    result = trigger(event)

    assert result["owner"] == owner
    assert control_plane.repo.require(result["lab_id"]).owner == owner


def test_given_ci_accounts_when_an_event_comes_from_another_account_then_it_is_refused_without_a_lab(
    trigger, control_plane, monkeypatch
):
    monkeypatch.setenv("ADS_CI_ACCOUNTS", "123456789012")
    reset_config()
    event = load_event("ci/lab_deployment_requested")
    event["account"] = "210987654321"

    result = trigger(event)

    assert result["accepted"] is False
    assert result["problems"] == [
        {
            "path": "account",
            "found": "'210987654321'",
            "allowed": "an account of the configured CI principals: 123456789012",
        }
    ]
    assert control_plane.repo.list_all()[0] == []
    assert control_plane.executions(control_plane.deploy_arn) == []


def test_given_the_stack_names_the_ci_role_when_a_pipeline_url_requests_a_lab_then_that_role_owns_it(
    trigger, control_plane, monkeypatch
):
    monkeypatch.setenv("ADS_CI_ROLE_NAME", "team-ci")
    reset_config()

    result = trigger(load_event("ci/lab_deployment_requested"))

    assert result["owner"] == "arn:aws:iam::123456789012:role/team-ci"
    assert control_plane.repo.require(result["lab_id"]).owner == result["owner"]


def test_given_the_stack_names_the_ci_role_when_an_iam_arn_is_requested_by_then_the_ci_role_still_owns_it(
    trigger, control_plane, monkeypatch
):
    monkeypatch.setenv("ADS_CI_ROLE_NAME", "team-ci")
    reset_config()

    result = trigger(load_event("ci/lab_deployment_requested_with_key"))

    assert result["owner"] == "arn:aws:iam::123456789012:role/team-ci"


def test_given_a_ci_lab_when_a_session_of_the_ci_role_reads_it_through_the_api_then_it_is_theirs(
    trigger, call_api
):
    result = trigger(load_event("ci/lab_deployment_requested"))
    session = "arn:aws:sts::123456789012:assumed-role/ads-ci/pipeline-1234567890"

    answer = call_api(load_event("api/get_lab", lab_id=result["lab_id"], caller=session))
    listed = call_api(load_event("api/get_labs", caller=session))

    assert answer.status == 200
    assert result["lab_id"] in [lab["lab_id"] for lab in listed.body["labs"]]


@pytest.mark.parametrize(
    ("name", "status"),
    [("lab_ready", "READY"), ("lab_failed", "FAILED"), ("lab_destroyed", "DESTROYED")],
)
def test_given_the_sample_lifecycle_events_when_compared_then_they_match_what_ads_publishes(
    name, status
):
    from ads import lifecycle_events as lifecycle
    from ads.lab_record import LabRecord

    sample = json.loads((EVENTS / "ci" / f"{name}.json").read_text())
    record = LabRecord(
        lab_id=sample["detail"]["lab_id"],
        owner=sample["detail"]["owner"],
        status=status,
        created_at="2026-11-22T10:00:00.000Z",
        updated_at="2026-11-22T10:06:30.000Z",
        endpoint=sample["detail"].get("endpoint"),
        failed_step=sample["detail"].get("failed_step"),
        cause=sample["detail"].get("cause"),
    )

    assert sample["source"] == lifecycle.SOURCE
    assert sample["detail-type"] == lifecycle.DETAIL_TYPES[status]
    assert lifecycle.event_detail(record) == sample["detail"]
