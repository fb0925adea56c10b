"""The OS uid the local API's kernel saw ask for a lab is kept with the lab and reaches
init, where the local provider reads a local source with that uid's rights. Only the
front door's authorizer context carries it: a body or header cannot."""

from __future__ import annotations

import pytest

from ads.config import reset_config
from ads.providers.local_sources import REQUESTER_UID_KEY
from ads.steps import init_request
from tests.integration.api.events import labspec, load_event

REQUESTER = 61_872


@pytest.fixture
def local_plane(control_plane, monkeypatch, tmp_path):
    monkeypatch.setenv("ADS_PROVIDER", "local")
    monkeypatch.setenv("ADS_LOCAL_ROOT", str(tmp_path / "labs"))
    reset_config()
    return control_plane


def _post(source: str, authorizer: dict | None) -> dict:
    event = load_event(
        "api/post_labs_without_source",
        body={"labspec": labspec(), "source": {"git": source}},
    )
    event["requestContext"]["authorizer"] = authorizer
    return event


def test_given_the_front_door_asserts_a_uid_when_a_local_source_is_posted_then_init_reads_as_it(
    call_api, local_plane, tmp_path
):
    answer = call_api(
        _post(str(tmp_path / "repo"), {"principalId": "x", REQUESTER_UID_KEY: str(REQUESTER)})
    )

    assert answer.status == 202, answer.body
    record = local_plane.repo.require(answer.body["lab_id"])
    assert record.requester_uid == REQUESTER
    assert init_request(record).requester_uid == REQUESTER
    assert REQUESTER_UID_KEY not in str(answer.body)


@pytest.mark.parametrize(
    "authorizer", [None, {}, {REQUESTER_UID_KEY: "-1"}, {REQUESTER_UID_KEY: "x"}]
)
def test_given_no_usable_uid_when_a_local_source_is_posted_then_the_requester_is_unknown(
    call_api, local_plane, tmp_path, authorizer
):
    answer = call_api(_post(str(tmp_path / "repo"), authorizer))

    assert answer.status == 202, answer.body
    record = local_plane.repo.require(answer.body["lab_id"])
    assert record.requester_uid is None
    assert init_request(record).requester_uid is None
