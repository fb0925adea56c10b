"""GET /labs, GET /labs/{lab_id} and GET /labs/{lab_id}/history: ownership, filters, pages."""

from __future__ import annotations

import pytest

from ads.lab_record import LabStatus
from tests.integration.api.events import ADMIN_SESSION, ALICE, BOB, labspec, load_event


def _deploy(call_api, caller=ALICE) -> str:
    answer = call_api(load_event("api/post_labs_without_source", caller=caller))
    assert answer.status == 202
    return answer.body["lab_id"]


@pytest.fixture
def labs(call_api, control_plane):
    """Two labs of alice (one READY), one of bob."""
    first = _deploy(call_api)
    ready = _deploy(call_api)
    for status in ("PROVISIONING", "INITIALIZING", "HEALTH_CHECKING", "READY"):
        control_plane.repo.transition(ready, status, endpoint="http://10.0.0.5:9089")
    bobs = _deploy(call_api, caller=BOB)
    return {"alice_requested": first, "alice_ready": ready, "bob": bobs}


def test_given_labs_of_two_owners_when_alice_lists_then_she_sees_only_hers_newest_first(
    call_api, labs
):
    answer = call_api(load_event("api/get_labs", query={}))

    assert answer.status == 200
    assert [lab["lab_id"] for lab in answer.body["labs"]] == [
        labs["alice_ready"],
        labs["alice_requested"],
    ]
    assert answer.body["next_token"] is None


def test_given_a_status_filter_when_listed_then_only_labs_in_those_statuses_come_back(
    call_api, labs
):
    answer = call_api(load_event("api/get_labs", query={"status": "READY,FAILED"}))

    assert [lab["lab_id"] for lab in answer.body["labs"]] == [labs["alice_ready"]]
    assert answer.body["labs"][0]["endpoint"] == "http://10.0.0.5:9089"


def test_given_a_page_size_of_one_when_listed_then_next_token_leads_to_the_second_page(
    call_api, labs
):
    first = call_api(load_event("api/get_labs", query={"limit": "1"}))
    second = call_api(
        load_event("api/get_labs", query={"limit": "1", "next_token": first.body["next_token"]})
    )

    assert [lab["lab_id"] for lab in first.body["labs"]] == [labs["alice_ready"]]
    assert [lab["lab_id"] for lab in second.body["labs"]] == [labs["alice_requested"]]


def test_given_an_admin_session_when_listing_then_every_owners_labs_are_shown(call_api, labs):
    answer = call_api(load_event("api/get_labs", query={}, caller=ADMIN_SESSION))

    assert {lab["lab_id"] for lab in answer.body["labs"]} == set(labs.values())


@pytest.mark.parametrize(
    ("query", "path"),
    [
        ({"status": "READY,RUNNING"}, "status"),
        ({"limit": "0"}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"next_token": "not-a-token"}, "next_token"),
    ],
)
def test_given_a_bad_query_when_listed_then_400_names_the_parameter(call_api, labs, query, path):
    answer = call_api(load_event("api/get_labs", query=query))

    assert answer.status == 400
    assert [p["path"] for p in answer.body["problems"]] == [path]


def test_given_the_sample_bad_query_when_listed_then_400_not_500(call_api, labs):
    answer = call_api(load_event("api/get_labs_bad_query"))

    assert answer.status == 400
    assert answer.body["error"] == "invalid_input"


def test_given_alices_lab_when_she_shows_it_then_plan_history_and_console_url_are_there(
    call_api, labs
):
    lab_id = labs["alice_ready"]

    answer = call_api(load_event("api/get_lab", lab_id=lab_id))

    assert answer.status == 200
    assert answer.body["lab_id"] == lab_id
    assert answer.body["status"] == "READY"
    assert answer.body["owner"] == ALICE
    assert answer.body["plan"]["lab_name"] == "Hello Web"
    assert answer.body["endpoint"] == "http://10.0.0.5:9089"
    assert [c["status"] for c in answer.body["status_history"]] == [
        "REQUESTED",
        "PROVISIONING",
        "INITIALIZING",
        "HEALTH_CHECKING",
        "READY",
    ]
    assert answer.body["console_url"].endswith(answer.body["execution_arn"])
    assert "labspec" not in answer.body


def test_given_alices_lab_when_bob_shows_it_then_404_as_if_it_did_not_exist(call_api, labs):
    answer = call_api(load_event("api/get_lab_as_other_user", lab_id=labs["alice_ready"]))

    assert answer.status == 404
    assert answer.body["error"] == "lab_not_found"


def test_given_alices_lab_when_an_admin_shows_it_then_200(call_api, labs):
    answer = call_api(load_event("api/get_lab", lab_id=labs["alice_ready"], caller=ADMIN_SESSION))

    assert answer.status == 200
    assert answer.body["owner"] == ALICE


def test_given_an_unknown_lab_id_when_shown_then_404(call_api, control_plane):
    answer = call_api(load_event("api/get_lab_unknown"))

    assert answer.status == 404
    assert "no-such-lab" in answer.body["message"]


def test_given_an_idempotency_item_key_when_shown_then_404_not_the_internal_item(
    call_api, control_plane
):
    answer = call_api(load_event("api/get_lab", lab_id="idempotency%23abc"))

    assert answer.status == 404


def test_given_a_failed_lab_when_shown_then_the_cause_and_failed_step_are_there(
    call_api, control_plane, labs
):
    lab_id = labs["alice_requested"]
    control_plane.repo.transition(
        lab_id, LabStatus.FAILED, failed_step="init_vm", cause="build exited 2"
    )

    answer = call_api(load_event("api/get_lab", lab_id=lab_id))

    assert answer.body["status"] == "FAILED"
    assert answer.body["failed_step"] == "init_vm"
    assert answer.body["cause"] == "build exited 2"


def test_given_a_requested_lab_when_its_history_is_read_then_the_deploy_execution_is_summarised(
    call_api, labs
):
    lab_id = labs["alice_requested"]

    answer = call_api(load_event("api/get_lab_history", lab_id=lab_id))

    assert answer.status == 200
    assert answer.body["lab_id"] == lab_id
    assert [c["status"] for c in answer.body["status_history"]] == ["REQUESTED"]
    assert answer.body["status_history"][0]["note"] == "requested through api"
    [deploy] = answer.body["executions"]
    assert deploy["kind"] == "deploy"
    assert deploy["execution_arn"].endswith(lab_id)
    assert deploy["status"] == "RUNNING"
    assert deploy["console_url"].endswith(deploy["execution_arn"])
    assert all(state["name"] and state["status"] for state in deploy["states"])


def test_given_bobs_lab_when_alice_reads_its_history_then_404(call_api, labs):
    answer = call_api(load_event("api/get_lab_history", lab_id=labs["bob"]))

    assert answer.status == 404


def test_given_a_request_without_identity_when_listed_then_403(call_api, labs):
    event = load_event("api/get_labs", query={})
    event["requestContext"]["identity"].update(userArn=None, caller=None, user=None)

    answer = call_api(event)

    assert answer.status == 403
    assert answer.body["error"] == "missing_identity"


def test_given_only_the_caller_field_when_a_lab_is_requested_then_it_becomes_the_owner(
    call_api, control_plane
):
    event = load_event("api/post_labs_without_source", body={"labspec": labspec()})
    event["requestContext"]["identity"].update(userArn=None, caller="AIDACALLERONLY")

    answer = call_api(event)

    assert control_plane.repo.require(answer.body["lab_id"]).owner == "AIDACALLERONLY"
