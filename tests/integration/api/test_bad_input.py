"""Bad input is a 4xx naming the problem, never a 500: each case once answered 500 or
was accepted as is."""

from __future__ import annotations

import base64
import json

import pytest

from ads.api_input import MAX_BODY_BYTES, MAX_JSON_DEPTH
from ads.api_models import MAX_API_LABSPEC_BYTES
from tests.integration.api.events import ALICE, load_event


def _post(labspec_document) -> dict:
    return load_event("api/post_labs_without_source", body={"labspec": labspec_document})


def _spec() -> dict:
    from tests.integration.api.events import labspec

    return labspec()


def _token(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def test_given_json_nested_thousands_of_levels_when_posted_then_400_names_the_depth_limit(
    call_api, control_plane
):
    event = load_event("api/post_labs_without_source")
    event["body"] = '{"labspec": ' + "[" * 5000 + "]" * 5000 + "}"

    answer = call_api(event)

    assert answer.status == 400
    assert answer.body["problems"][0]["path"] == "body"
    assert f"at most {MAX_JSON_DEPTH} levels" in answer.body["message"]
    assert control_plane.repo.list_all()[0] == []


def test_given_a_labspec_over_the_record_limit_when_posted_then_400_names_the_limit(
    call_api, control_plane
):
    spec = _spec()
    spec["lab"]["description"]["notes"] = "x" * 450_000  # more than DynamoDB's 400 KB item

    answer = call_api(_post(spec))

    assert answer.status == 400
    assert answer.body["problems"][0]["path"] == "labspec"
    assert str(MAX_API_LABSPEC_BYTES) in answer.body["message"]
    assert "400 KB" in answer.body["message"]
    assert control_plane.repo.list_all()[0] == []


def test_given_a_labspec_just_under_the_limit_when_posted_then_the_lab_is_recorded(
    call_api, control_plane
):
    spec = _spec()
    spec["lab"]["description"]["notes"] = "x" * (MAX_API_LABSPEC_BYTES - 2000)

    answer = call_api(_post(spec))

    assert answer.status == 202, answer.body
    assert control_plane.repo.require(answer.body["lab_id"]).labspec == spec


def test_given_a_body_over_one_mib_when_posted_then_413(call_api):
    event = load_event("api/post_labs_without_source")
    event["body"] = json.dumps({"labspec": {"pad": "x" * MAX_BODY_BYTES}})

    answer = call_api(event)

    assert answer.status == 413
    assert answer.body["error"] == "payload_too_large"
    assert str(MAX_BODY_BYTES) in answer.body["message"]


def test_given_a_body_that_is_not_utf8_when_posted_then_400_names_the_byte(call_api):
    event = load_event("api/post_labs_without_source")
    event["body"] = base64.b64encode(b'{"labspec": "\xff\xfe"}').decode()
    event["isBase64Encoded"] = True

    answer = call_api(event)

    assert answer.status == 400
    assert "not UTF-8" in answer.body["message"]
    assert "0xff at byte 13" in answer.body["message"]


def test_given_a_base64_utf8_body_when_posted_then_it_is_read_as_json(call_api):
    event = _post(_spec())
    event["body"] = base64.b64encode(event["body"].encode()).decode()
    event["isBase64Encoded"] = True

    assert call_api(event).status == 202


def test_given_a_lone_surrogate_in_the_name_when_posted_then_400_names_the_field(
    call_api, control_plane
):
    event = _post(_spec())
    event["body"] = event["body"].replace('"name": "', '"name": "\\ud800', 1)

    answer = call_api(event)

    assert answer.status == 400
    assert answer.body["problems"][0]["path"] == "labspec.lab.description.name"
    assert "surrogate" in answer.body["message"]
    assert control_plane.repo.list_all()[0] == []


def test_given_a_surrogate_pair_when_posted_then_it_is_an_ordinary_character(call_api):
    event = _post(_spec())
    event["body"] = event["body"].replace('"name": "', '"name": "\\ud83d\\ude00 ', 1)

    answer = call_api(event)

    assert answer.status == 202, answer.body


@pytest.mark.parametrize(
    "name",
    ["a\x00b", "red \x1b[31malert", "two\nlines", "n" * 10_000],
    ids=["nul", "escape", "newline", "ten-thousand-chars"],
)
def test_given_a_lab_name_that_cannot_be_printed_when_posted_then_400_names_the_rule(
    call_api, control_plane, name
):
    spec = _spec()
    spec["lab"]["description"]["name"] = name

    answer = call_api(_post(spec))

    assert answer.status == 400
    assert answer.body["problems"][0]["path"] == "lab.description.name"
    assert "at most 128 printable characters" in answer.body["message"]
    assert control_plane.repo.list_all()[0] == []


def test_given_a_name_in_devanagari_when_posted_then_it_is_accepted(call_api):
    spec = _spec()
    spec["lab"]["description"]["name"] = "डेटा संरचना प्रयोगशाला"

    assert call_api(_post(spec)).status == 202


@pytest.mark.parametrize(
    "value",
    [
        [1, 2],
        5,
        "lab",
        {"a": 1},
        {"lab_id": 5, "owner": [1], "created_at": {}},
        {"lab_id": "x", "owner": "arn:aws:iam::123456789012:user/bob", "created_at": "2026"},
        {"lab_id": "x", "owner": ALICE, "created_at": "2026", "extra": "y"},
    ],
    ids=["list", "number", "string", "wrong-keys", "wrong-types", "other-owner", "extra-key"],
)
def test_given_a_next_token_of_another_shape_when_listing_then_400_names_next_token(
    call_api, value
):
    answer = call_api(load_event("api/get_labs", caller=ALICE, query={"next_token": _token(value)}))

    assert answer.status == 400
    assert answer.body["problems"][0]["path"] == "next_token"
    assert answer.body["message"].startswith("invalid query: next_token: ")


def test_given_a_next_token_with_characters_outside_base64_when_listing_then_400(call_api):
    answer = call_api(load_event("api/get_labs", query={"next_token": "eyJ!!!"}))

    assert answer.status == 400
    assert answer.body["problems"][0]["path"] == "next_token"


def test_given_a_next_token_from_a_previous_page_when_listing_then_the_next_page_follows(
    call_api,
):
    for _ in range(3):
        assert call_api(_post(_spec())).status == 202
    first = call_api(load_event("api/get_labs", query={"limit": "2"}))
    assert first.body["next_token"]

    second = call_api(
        load_event("api/get_labs", query={"limit": "2", "next_token": first.body["next_token"]})
    )

    assert second.status == 200
    assert len(second.body["labs"]) == 1


@pytest.mark.parametrize("event_name", ["api/get_lab", "api/get_lab_history", "api/delete_lab"])
def test_given_a_lab_id_of_100000_characters_when_called_then_400_without_echoing_it(
    call_api, event_name
):
    lab_id = "a" * 100_000

    answer = call_api(load_event(event_name, lab_id=lab_id))

    assert answer.status == 400
    assert answer.body["problems"][0]["path"] == "lab_id"
    assert "64 characters" in answer.body["message"]
    assert len(json.dumps(answer.body)) < 2000
