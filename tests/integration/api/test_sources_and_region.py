"""What a request may ask for and a lab could never get: SSH git sources (a lab VM has no SSH
key) and a region other than the control plane's (labs run where ADS is deployed). Both
are refused at the front door, in one line naming the field; a dry-run plan for another
region says it is a what-if. And a fault of ADS (5xx) is counted for the ApiFaults alarm."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from ads.api_models import CiDeploymentRequest, field_problems
from ads.lab_metrics import LabMetric
from tests.integration.api.conftest import REGION
from tests.integration.api.events import labspec, load_event

SSH_SOURCES = [
    "git@github.com:virtual-labs/data-mining.git",
    "ssh://git@github.com/virtual-labs/data-mining.git",
    "deploy@git.example.org:labs/data-mining.git",
    "git+ssh://git@github.com/virtual-labs/data-mining.git",
]


def _post(body: dict) -> dict:
    return load_event("api/post_labs_without_source", body={"labspec": labspec(), **body})


@pytest.mark.parametrize("url", SSH_SOURCES)
def test_given_an_ssh_git_source_when_posted_then_400_names_the_field_and_what_is_allowed(
    call_api, control_plane, url
):
    answer = call_api(_post({"source": {"git": url}}))

    assert answer.status == 400
    [problem] = answer.body["problems"]
    assert problem["path"] == "source.git"
    assert problem["found"] == repr(url)
    assert "https://" in problem["allowed"] and "s3://" in problem["allowed"]
    assert "no SSH key" in problem["allowed"]
    assert "\n" not in answer.body["message"]
    assert control_plane.repo.list_all()[0] == []
    assert control_plane.executions(control_plane.deploy_arn) == []


def test_given_an_https_url_with_credentials_when_posted_then_it_is_not_mistaken_for_ssh(
    call_api, control_plane
):
    url = "https://ci-bot:token@git.example.org/labs/data-mining.git"
    answer = call_api(_post({"source": {"git": url}}))

    assert answer.status == 202, answer.body
    assert control_plane.repo.require(answer.body["lab_id"]).source == {"git": url}


def test_given_a_ci_event_with_an_ssh_source_when_validated_then_the_problem_points_into_the_detail():
    detail = {"labspec": labspec(), "source": {"git": SSH_SOURCES[0]}, "requested_by": "pipeline"}

    with pytest.raises(ValidationError) as raised:
        CiDeploymentRequest.model_validate(detail)

    [problem] = field_problems(raised.value.errors(), root="detail")
    assert problem.path == "detail.source.git"
    assert "no SSH key" in problem.allowed


def test_given_another_region_than_the_control_planes_when_posted_then_400_names_the_control_planes_region(
    call_api, control_plane
):
    answer = call_api(_post({"options": {"region": "eu-west-1"}}))

    assert answer.status == 400
    [problem] = answer.body["problems"]
    assert problem["path"] == "options.region"
    assert problem["found"] == "'eu-west-1'"
    assert problem["allowed"].startswith(f"'{REGION}', the region this control plane deploys")
    assert "\n" not in answer.body["message"]
    assert control_plane.repo.list_all()[0] == []
    assert control_plane.executions(control_plane.deploy_arn) == []


def test_given_the_control_planes_own_region_when_posted_then_the_lab_is_planned_there(
    call_api, control_plane
):
    answer = call_api(_post({"options": {"region": REGION}}))

    assert answer.status == 202, answer.body
    assert answer.body["plan"]["region"] == REGION
    assert not any("what-if" in w for w in answer.body["warnings"])


def test_given_a_deployment_without_a_region_when_posted_then_the_plan_claims_the_control_planes(
    call_api, control_plane
):
    answer = call_api(_post({}))

    assert answer.status == 202
    assert answer.body["plan"]["region"] == REGION
    assert control_plane.repo.require(answer.body["lab_id"]).plan["region"] == REGION


def test_given_a_dry_run_plan_for_another_region_when_posted_then_it_says_it_is_a_what_if(
    call_api, control_plane
):
    event = load_event("api/post_plans")
    body = json.loads(event["body"])
    body["options"]["region"] = "eu-west-1"
    event["body"] = json.dumps(body)

    answer = call_api(event)

    assert answer.status == 200
    assert answer.body["region"] == "eu-west-1"
    [note] = [w for w in answer.body["warnings"] if "what-if" in w]
    assert f"this control plane deploys labs in {REGION}" in note


def _emitted_metrics(out: str) -> list[str]:
    names = []
    for line in out.splitlines():
        try:
            blob = json.loads(line)
        except ValueError:
            continue
        if isinstance(blob, dict) and "_aws" in blob:
            names += [m["Name"] for m in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
    return names


def test_given_step_functions_refuses_when_posted_then_the_fault_is_counted_for_the_alarm(
    call_api, control_plane, monkeypatch, capsys
):
    from botocore.exceptions import ClientError

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")

    def refuse(*_, **__):
        raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, "Start")

    from functions.api import handler as api

    monkeypatch.setattr(api.deployment_context().stepfunctions, "start_execution", refuse)
    capsys.readouterr()

    answer = call_api(_post({}))

    assert answer.status >= 500
    assert _emitted_metrics(capsys.readouterr().out) == [LabMetric.API_FAULTS]


def test_given_a_users_mistake_when_posted_then_no_fault_is_counted(
    call_api, control_plane, monkeypatch, capsys
):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    capsys.readouterr()

    answer = call_api(_post({"source": {"git": SSH_SOURCES[0]}}))

    assert answer.status == 400
    assert _emitted_metrics(capsys.readouterr().out) == []
