"""POST /labs and POST /plans through the api handler, against moto."""

from __future__ import annotations

import json

from botocore.exceptions import ClientError

from ads.errors import LabspecError
from ads.lab.plan import plan_from_labspec_source
from ads.lab_record import LabStatus
from tests.integration.api.events import ALICE, BOB, labspec, load_event


def _problem_paths(answer) -> list[str]:
    return [p["path"] for p in answer.body["problems"]]


def test_given_a_valid_request_when_posted_then_the_lab_is_recorded_and_deploy_lab_started(
    call_api, control_plane
):
    answer = call_api(load_event("api/post_labs"))

    assert answer.status == 202
    lab_id = answer.body["lab_id"]
    assert lab_id.startswith("hello-web-")
    assert answer.body["status"] == "REQUESTED"
    assert answer.body["execution_arn"].endswith(f":execution:ads-DeployLab:{lab_id}")
    assert answer.body["execution_arn"] in answer.body["console_url"]
    assert answer.body["plan"]["instance_type"] == "t3.micro"
    assert answer.body["idempotent_replay"] is False

    record = control_plane.repo.require(lab_id)
    assert record.status == LabStatus.REQUESTED
    assert record.owner == ALICE
    assert record.execution_arn == answer.body["execution_arn"]
    assert record.source == {"git": "https://github.com/example-org/hello-web.git", "ref": "main"}
    assert record.options == {"os_policy": "nearest-lts", "region": "us-east-1"}
    assert record.labspec == labspec()
    assert record.requested_by == "api"

    [execution] = control_plane.executions(control_plane.deploy_arn)
    assert execution["name"] == lab_id
    described = control_plane.sfn.describe_execution(executionArn=execution["executionArn"])
    assert json.loads(described["input"]) == {"lab_id": lab_id}


def test_given_the_same_idempotency_key_when_posted_twice_then_the_same_lab_is_returned(
    call_api, control_plane
):
    first = call_api(load_event("api/post_labs"))
    again = call_api(load_event("api/post_labs", headers={"Idempotency-Key": "release-2026-11-22"}))

    assert again.status == 202
    assert again.body.pop("idempotent_replay") is True
    assert first.body.pop("idempotent_replay") is False
    assert again.body == first.body
    assert len(control_plane.executions(control_plane.deploy_arn)) == 1


def test_given_a_used_idempotency_key_when_posted_with_another_labspec_then_409_and_no_new_lab(
    call_api, control_plane
):
    first = call_api(load_event("api/post_labs"))
    other = load_event("api/post_labs")
    body = json.loads(other["body"])
    body["labspec"]["lab"]["description"]["name"] = "Another Lab"
    other["body"] = json.dumps(body)

    answer = call_api(other)

    assert answer.status == 409
    assert answer.body["error"] == "idempotency_key_reused"
    assert answer.body["message"].startswith("Idempotency-Key: found 'release-2026-11-22'")
    assert answer.body["details"] == {"lab_id": first.body["lab_id"]}
    assert len(control_plane.executions(control_plane.deploy_arn)) == 1


def test_given_a_used_idempotency_key_when_posted_with_other_options_then_409(
    call_api, control_plane
):
    call_api(load_event("api/post_labs"))
    other = load_event("api/post_labs")
    body = json.loads(other["body"])
    body["options"] = {**(body.get("options") or {}), "arch": "arm64"}
    other["body"] = json.dumps(body)

    assert call_api(other).status == 409


def test_given_a_lowercase_idempotency_key_header_when_replayed_then_it_matches_case_insensitively(
    call_api, control_plane
):
    event = load_event("api/post_labs")
    first = call_api(event)
    event = load_event("api/post_labs")
    key = event["headers"].pop("Idempotency-Key")
    event["headers"]["idempotency-key"] = key
    event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}

    again = call_api(event)

    assert again.body["lab_id"] == first.body["lab_id"]
    assert again.body["idempotent_replay"] is True


def test_given_the_same_key_from_another_caller_when_posted_then_a_separate_lab_is_made(
    call_api, control_plane
):
    alice = call_api(load_event("api/post_labs"))
    bob = call_api(load_event("api/post_labs", caller=BOB))

    assert bob.status == 202
    assert bob.body["lab_id"] != alice.body["lab_id"]
    assert bob.body["idempotent_replay"] is False
    assert control_plane.repo.require(bob.body["lab_id"]).owner == BOB


def test_given_no_idempotency_key_when_posted_twice_then_two_labs_are_made(call_api, control_plane):
    first = call_api(load_event("api/post_labs_without_source"))
    second = call_api(load_event("api/post_labs_without_source"))

    assert first.body["lab_id"] != second.body["lab_id"]
    assert len(control_plane.executions(control_plane.deploy_arn)) == 2


def test_given_the_ads_cli_user_agent_when_posted_then_the_record_says_cli(call_api, control_plane):
    answer = call_api(
        load_event("api/post_labs_without_source", headers={"User-Agent": "ads-cli/0.1.0"})
    )

    assert control_plane.repo.require(answer.body["lab_id"]).requested_by == "cli"


def test_given_a_bad_labspec_when_posted_then_400_lists_the_same_problems_as_ads_plan(
    call_api, control_plane
):
    event = load_event("api/post_labs_bad_labspec")
    try:
        plan_from_labspec_source(json.loads(event["body"])["labspec"])
    except LabspecError as exc:
        expected = [p.to_dict() for p in exc.problems]

    answer = call_api(event)

    assert answer.status == 400
    assert answer.body["error"] == "invalid_labspec"
    assert answer.body["problems"] == expected
    assert "lab.runtime_requirements.platform.memory.min_required" in _problem_paths(answer)
    assert control_plane.repo.list_all()[0] == []
    assert control_plane.executions(control_plane.deploy_arn) == []


def test_given_a_bad_source_when_posted_then_400_names_source_git_and_source_ref(
    call_api, control_plane
):
    answer = call_api(load_event("api/post_labs_bad_source"))

    assert answer.status == 400
    assert answer.body["error"] == "invalid_input"
    problems = {p["path"]: p for p in answer.body["problems"]}
    assert set(problems) == {"source.git", "source.ref"}
    assert problems["source.git"]["found"] == "'ftp://example.org/hello-web.git'"
    assert "https://" in problems["source.git"]["allowed"]
    assert control_plane.repo.list_all()[0] == []


def test_given_bad_options_when_posted_then_400_names_each_option(call_api):
    answer = call_api(load_event("api/post_labs_bad_options"))

    assert answer.status == 400
    problems = {p["path"]: p for p in answer.body["problems"]}
    assert set(problems) == {"options.os_policy", "options.arch", "options.colour"}
    assert "nearest-lts" in problems["options.os_policy"]["allowed"]
    assert "x86_64" in problems["options.arch"]["allowed"]


def test_given_a_malformed_json_body_when_posted_then_400_not_500(call_api, control_plane):
    answer = call_api(load_event("api/post_labs_malformed_json"))

    assert answer.status == 400
    [problem] = answer.body["problems"]
    assert problem["path"] == "body"
    assert problem["found"].startswith("malformed JSON")
    assert control_plane.repo.list_all()[0] == []


def test_given_a_body_without_labspec_when_posted_then_400_says_labspec_is_required(call_api):
    answer = call_api(load_event("api/post_labs", body={"source": {"s3": "s3://bucket/lab.tgz"}}))

    assert answer.status == 400
    assert answer.body["problems"] == [
        {"path": "labspec", "found": "nothing", "allowed": "a value: this field is required"}
    ]


def test_given_an_s3_source_when_posted_then_it_is_recorded(call_api, control_plane):
    body = {"labspec": labspec(), "source": {"s3": "s3://example-artifacts/hello-web/1.4.0.tar.gz"}}
    answer = call_api(load_event("api/post_labs_without_source", body=body))

    assert answer.status == 202
    assert control_plane.repo.require(answer.body["lab_id"]).source == body["source"]


def test_given_a_malformed_s3_uri_or_both_sources_when_posted_then_400_points_at_them(call_api):
    body = {
        "labspec": labspec(),
        "source": {"s3": "s3:/bucket", "git": "https://github.com/o/r.git"},
    }
    answer = call_api(load_event("api/post_labs_without_source", body=body))

    assert answer.status == 400
    assert sorted(_problem_paths(answer)) == ["source", "source.s3"]


def test_given_a_file_url_when_the_provider_is_ec2_then_400_says_local_only(call_api):
    body = {"labspec": labspec(), "source": {"git": "file:///srv/labs/hello-web"}}
    answer = call_api(load_event("api/post_labs_without_source", body=body))

    assert answer.status == 400
    [problem] = answer.body["problems"]
    assert problem["path"] == "source.git"
    assert "only with the local provider" in problem["allowed"]


def test_given_a_local_path_when_the_provider_is_local_then_it_is_accepted(
    call_api, control_plane, monkeypatch
):
    from ads.config import reset_config

    monkeypatch.setenv("ADS_PROVIDER", "local")
    reset_config()
    body = {"labspec": labspec(), "source": {"git": "/srv/labs/hello-web", "ref": "main"}}

    answer = call_api(load_event("api/post_labs_without_source", body=body))

    assert answer.status == 202


def test_given_start_execution_fails_when_posted_then_502_and_the_record_is_failed_with_cause(
    call_api, control_plane
):
    control_plane.sfn.delete_state_machine(stateMachineArn=control_plane.deploy_arn)

    answer = call_api(load_event("api/post_labs"))

    assert answer.status == 502
    assert answer.body["error"] == "workflow_unavailable"
    assert "StateMachineDoesNotExist" in answer.body["message"]
    [record], _ = control_plane.repo.list_all()
    assert record.status == LabStatus.FAILED
    assert record.failed_step == "request"
    assert "StateMachineDoesNotExist" in record.cause
    assert record.execution_arn is None


def test_given_step_functions_throttles_when_posted_then_503_and_a_retry_with_the_key_deploys(
    call_api, control_plane, monkeypatch
):
    import functions.api.handler as api

    real = api.deployment_context()

    class Throttled:
        def start_execution(self, **_):
            raise ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}},
                "StartExecution",
            )

    monkeypatch.setattr(
        api, "deployment_context", lambda: type(real)(real.repository, Throttled(), real.config)
    )
    refused = call_api(load_event("api/post_labs"))
    monkeypatch.setattr(api, "deployment_context", lambda: real)
    retried = call_api(load_event("api/post_labs"))

    assert refused.status == 503
    assert "Rate exceeded" in refused.body["message"]
    assert retried.status == 202
    assert retried.body["idempotent_replay"] is False
    assert control_plane.repo.require(retried.body["lab_id"]).status == LabStatus.REQUESTED


def test_given_no_deploy_state_machine_configured_when_posted_then_503_and_nothing_is_written(
    call_api, control_plane, monkeypatch
):
    from ads.config import reset_config

    monkeypatch.setenv("ADS_DEPLOY_STATE_MACHINE_ARN", "")
    reset_config()

    answer = call_api(load_event("api/post_labs"))

    assert answer.status == 503
    assert control_plane.repo.list_all()[0] == []


def test_given_a_labspec_when_planned_then_200_with_the_plan_and_nothing_created(
    call_api, control_plane
):
    answer = call_api(load_event("api/post_plans"))

    assert answer.status == 200
    assert answer.body == plan_from_labspec_source(labspec()).model_dump(mode="json")
    assert control_plane.repo.list_all()[0] == []
    assert control_plane.executions(control_plane.deploy_arn) == []


def test_given_a_labspec_without_lab_when_planned_then_400_with_the_field_path(call_api):
    answer = call_api(load_event("api/post_plans_bad_labspec"))

    assert answer.status == 400
    assert answer.body["error"] == "invalid_labspec"
    assert _problem_paths(answer) == ["lab"]
