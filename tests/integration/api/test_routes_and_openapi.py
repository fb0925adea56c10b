"""Unknown routes, unexpected faults, and the committed OpenAPI document."""

from __future__ import annotations

import json

from openapi_spec_validator import validate

from tests.integration.api.conftest import OPENAPI
from tests.integration.api.events import EVENTS, load_event


def test_given_an_unknown_path_when_called_then_404_with_an_error_body(call_api):
    answer = call_api(load_event("api/unknown_route"))

    assert answer.status == 404
    assert answer.body["error"] == "route_not_found"
    assert "GET /laboratories" in answer.body["message"]


def test_given_an_unsupported_method_when_called_then_404_as_the_resolver_does(call_api):
    answer = call_api(load_event("api/wrong_method"))

    assert answer.status == 404
    assert answer.body["error"] == "route_not_found"


def test_given_a_fault_inside_ads_when_called_then_500_without_a_traceback(
    call_api, control_plane, monkeypatch
):
    from ads import deployments

    def broken(*_, **__):
        raise RuntimeError("table exploded at line 42")

    monkeypatch.setattr(deployments, "list_labs", broken)

    answer = call_api(load_event("api/get_labs", query={}))

    assert answer.status == 500
    assert answer.body["error"] == "internal_error"
    assert "req-get_labs" in answer.body["message"]
    assert "exploded" not in json.dumps(answer.body)
    assert "Traceback" not in json.dumps(answer.body)


def test_given_the_committed_openapi_document_when_validated_then_it_is_valid_openapi():
    validate(OPENAPI)


def test_given_the_declared_routes_when_the_document_is_generated_then_it_equals_the_committed_one():
    from functions.api.openapi import openapi_document

    generated = json.loads(json.dumps(openapi_document()))

    assert generated == OPENAPI, (
        "functions/api/openapi.json is stale: "
        "python -m functions.api.openapi > functions/api/openapi.json"
    )


def test_given_the_document_when_read_then_it_has_every_route_and_requires_sigv4():
    routes = {(path, method) for path, ops in OPENAPI["paths"].items() for method in ops}

    assert routes == {
        ("/labs", "post"),
        ("/labs", "get"),
        ("/plans", "post"),
        ("/labs/{lab_id}", "get"),
        ("/labs/{lab_id}", "delete"),
        ("/labs/{lab_id}/history", "get"),
        ("/labs/{lab_id}/stop", "post"),
        ("/labs/{lab_id}/start", "post"),
        ("/labs/{lab_id}/restart", "post"),
        ("/labs/{lab_id}/actions", "get"),
        ("/labs/{lab_id}/logs", "get"),
        ("/labs/{lab_id}/actions/{name}", "post"),
        ("/labs/{lab_id}/redeploy", "post"),
        ("/labs/{lab_id}/lease", "post"),
        ("/costs", "get"),
        ("/cohorts", "post"),
        ("/cohorts", "get"),
        ("/cohorts/{cohort_id}", "get"),
        ("/cohorts/{cohort_id}", "delete"),
        ("/cohorts/{cohort_id}/lease", "post"),
        ("/images", "get"),
        ("/images/{image_id}", "delete"),
        ("/sweep", "get"),
        ("/sweep", "post"),
    }
    assert OPENAPI["security"] == [{"sigv4": []}]
    assert OPENAPI["components"]["securitySchemes"]["sigv4"]["x-amazon-apigateway-authtype"] == (
        "awsSigv4"
    )


def test_given_every_sample_api_event_when_handled_then_each_answer_matches_the_document(
    call_api,
):
    # A lab of alice exists so that the lab routes answer with their real shapes; call_api
    # validates every body against the document and fails on an undocumented status.
    lab_id = call_api(load_event("api/post_labs_without_source")).body["lab_id"]
    names = sorted(p.stem for p in (EVENTS / "api").glob("*.json"))
    # Destroying last, so that the reads see the lab before it goes.
    names.sort(key=lambda name: name.startswith("delete_"))

    statuses = {name: call_api(load_event(f"api/{name}", lab_id=lab_id)).status for name in names}

    assert all(status < 500 for status in statuses.values()), statuses
    assert statuses["get_lab"] == 200
    assert statuses["get_lab_history"] == 200
    assert statuses["delete_lab"] == 202
    assert statuses["delete_lab_as_other_user"] == 404


def _with_content_type(name: str, content_type: str) -> dict:
    event = load_event(name)
    event["headers"]["Content-Type"] = content_type
    event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    return event


def test_given_curls_default_form_content_type_when_a_plan_is_posted_then_the_body_is_read_as_json(
    call_api,
):
    answer = call_api(_with_content_type("api/post_plans", "application/x-www-form-urlencoded"))

    assert answer.status == 200
    assert answer.body["lab_name"] == "Hello Web"


def test_given_a_text_content_type_when_a_lab_is_posted_then_202_not_500(call_api, control_plane):
    answer = call_api(_with_content_type("api/post_labs", "text/plain; charset=utf-8"))

    assert answer.status == 202
    assert control_plane.repo.require(answer.body["lab_id"]).lab_name == "Hello Web"


def test_given_a_non_json_body_under_a_form_content_type_when_posted_then_400_names_the_body(
    call_api,
):
    event = _with_content_type("api/post_plans", "application/x-www-form-urlencoded")
    event["body"] = "labspec=hello"

    answer = call_api(event)

    assert answer.status == 400
    assert [p["path"] for p in answer.body["problems"]] == ["body"]
    assert answer.body["problems"][0]["found"].startswith("malformed JSON")
