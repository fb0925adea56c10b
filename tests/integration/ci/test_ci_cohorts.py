"""EventBridge ``ads.ci`` / ``Cohort Deployment Requested``: a class's labs from CI, through
the same request_cohort as POST /cohorts, owned by the CI role, once per event."""

from __future__ import annotations

import copy
import json

import pytest

from ads.config import reset_config
from ads.lab_record import LabStatus
from tests.integration.api.events import load_event

CI_ROLE = "arn:aws:iam::123456789012:role/ads-ci"


@pytest.fixture
def trigger(control_plane):
    from functions.ci_trigger.handler import handler

    return lambda event: handler(event, None)


def _event(**detail):
    event = load_event("ci/cohort_deployment_requested")
    event["detail"].update(detail)
    return event


def test_given_a_ci_cohort_event_when_handled_then_each_member_gets_a_lab_owned_by_the_ci_role(
    trigger, control_plane
):
    event = _event()

    result = trigger(event)

    assert result["accepted"] is True and result["idempotent_replay"] is False, result
    assert result["owner"] == CI_ROLE
    members = [m["principal"] for m in event["detail"]["members"]]
    assert sorted(result["added"]) == sorted(members)
    assert result["counts"] == {"REQUESTED": 3}
    labs, _ = control_plane.repo.list_for_owner(CI_ROLE)
    assert sorted(r.assignee for r in labs) == sorted(members)
    for record in labs:
        assert record.status == LabStatus.REQUESTED and record.requested_by == "ci"
        assert record.course == "CS101" and record.lease and record.lease["requested"] == "4h"
        assert record.source == event["detail"]["source"]
    [execution] = control_plane.executions(control_plane.cohort_arn)
    assert execution["name"] == f"{result['cohort_id']}-1"


def test_given_eventbridge_redelivers_the_cohort_event_when_handled_then_no_member_is_added_twice(
    trigger, control_plane
):
    first = trigger(_event())
    again = trigger(_event())

    assert again["accepted"] is True and again["idempotent_replay"] is True
    assert again["cohort_id"] == first["cohort_id"] and again["added"] == []
    assert len(control_plane.repo.list_for_owner(CI_ROLE)[0]) == 3
    assert len(control_plane.executions(control_plane.cohort_arn)) == 1


def test_given_the_same_key_with_one_more_member_when_handled_then_only_that_member_is_added(
    trigger, control_plane
):
    first = trigger(_event(idempotency_key="cs101-week-3"))
    later = _event(idempotency_key="cs101-week-3")
    later["id"] = "another-delivery-id"
    later["detail"]["members"].append({"principal": "arn:aws:iam::123456789012:user/late"})

    second = trigger(later)

    assert second["cohort_id"] == first["cohort_id"]
    assert second["added"] == ["arn:aws:iam::123456789012:user/late"]
    assert len(control_plane.executions(control_plane.cohort_arn)) == 2


@pytest.mark.parametrize(
    ("detail", "path", "said"),
    [
        ({"members": []}, "detail.members", "at least 1"),
        ({"members": [{"principal": "student-1"}]}, "detail.members[0].principal", "student-1"),
        ({"lease": "forever"}, "detail.lease", "forever"),
        ({"course": "CS 101!"}, "detail.course", "CS 101!"),
        ({"colour": "blue"}, "detail.colour", "blue"),
    ],
)
def test_given_a_bad_cohort_detail_when_handled_then_it_is_rejected_naming_the_field(
    trigger, control_plane, detail, path, said
):
    result = trigger(_event(**detail))

    assert result["accepted"] is False, result
    problems = {p["path"]: p for p in result["problems"]}
    assert path in problems, result
    assert said in json.dumps(problems[path]) or said in result["message"], result
    assert control_plane.repo.list_for_owner(CI_ROLE)[0] == []
    assert control_plane.executions(control_plane.cohort_arn) == []


def test_given_more_members_than_the_cohort_size_when_handled_then_rejected_naming_the_maximum(
    trigger, control_plane, monkeypatch
):
    monkeypatch.setenv("ADS_COHORT_MAX_MEMBERS", "2")
    reset_config()

    result = trigger(_event())

    assert result["accepted"] is False
    assert "at most 2" in json.dumps(result), result
    assert control_plane.repo.list_for_owner(CI_ROLE)[0] == []


def test_given_a_bad_labspec_in_the_cohort_detail_when_handled_then_problems_point_into_detail_labspec(
    trigger, control_plane
):
    event = _event()
    labspec = copy.deepcopy(event["detail"]["labspec"])
    labspec["lab"]["runtime_requirements"]["platform"]["memory"] = {"min_required": "lots"}
    event["detail"]["labspec"] = labspec

    result = trigger(event)

    assert result["accepted"] is False, result
    assert any(p["path"].startswith("detail.labspec.") for p in result["problems"]), result
    assert control_plane.repo.list_for_owner(CI_ROLE)[0] == []
