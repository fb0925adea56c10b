"""Quotas through POST /labs against moto: each quota hit and not hit, admins, the race,
and the release when a lab ends (once, however often the step is retried)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from ads.config import reset_config
from ads.lab_record import LabStatus
from ads.quota_usage import usage_key
from tests.integration.api.events import ADMIN_SESSION, ALICE, BOB, load_event

HOURLY = 0.011277  # hello-web: t3.micro in us-east-1 plus its 8 GiB of gp3, per hour


@pytest.fixture
def quota(monkeypatch):
    def configure(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        reset_config()

    return configure


def _post(call_api, caller: str = ALICE, **body):
    event = load_event("api/post_labs", caller=caller)
    if body:
        import json

        event["body"] = json.dumps({**json.loads(event["body"]), **body})
    event["headers"].pop("Idempotency-Key", None)
    event["multiValueHeaders"].pop("Idempotency-Key", None)
    return call_api(event)


def _usage(control_plane, owner: str) -> dict:
    table = control_plane.repo._table
    return table.get_item(Key=usage_key(owner), ConsistentRead=True).get("Item") or {}


def test_given_a_limit_of_two_labs_when_a_third_is_requested_then_429_names_quota_use_and_limit(
    call_api, control_plane, quota
):
    quota(ADS_QUOTA_MAX_LABS="2")
    assert _post(call_api).status == 202
    assert _post(call_api).status == 202

    third = _post(call_api)

    assert third.status == 429
    assert third.body["error"] == "quota_exceeded"
    assert third.body["details"] == {
        "quota": "labs_per_owner",
        "owner": ALICE,
        "use": 2,
        "requested": 1,
        "limit": 2,
    }
    assert "labs_per_owner" in third.body["message"]
    assert len(control_plane.executions(control_plane.deploy_arn)) == 2
    assert _post(call_api, caller=BOB).status == 202  # another owner has their own count


def test_given_a_lab_that_ends_when_its_step_is_retried_then_it_is_released_once(
    call_api, control_plane, quota
):
    quota(ADS_QUOTA_MAX_LABS="1")
    first = _post(call_api).body["lab_id"]
    control_plane.repo.transition(first, LabStatus.FAILED, cause="boom")
    control_plane.repo.transition(first, LabStatus.FAILED, cause="boom")  # a retried step
    control_plane.repo.transition(first, LabStatus.DESTROYING)
    control_plane.repo.transition(first, LabStatus.DESTROYED)

    usage = _usage(control_plane, ALICE)
    assert usage["labs"] == 0 and usage["hourly_usd"] == 0 and "held" not in usage
    second = _post(call_api)
    assert second.status == 202
    assert _usage(control_plane, ALICE)["labs"] == 1
    assert _post(call_api).status == 429


def test_given_a_stopped_lab_when_counted_then_it_still_holds_its_share(
    call_api, control_plane, quota
):
    quota(ADS_QUOTA_MAX_LABS="1")
    lab_id = _post(call_api).body["lab_id"]
    for status in ("PROVISIONING", "HEALTH_CHECKING", "READY", "STOPPING", "STOPPED"):
        control_plane.repo.transition(lab_id, status)

    assert _post(call_api).status == 429


def test_given_a_spend_limit_when_labs_add_up_past_it_then_429_names_the_spend(
    call_api, control_plane, quota
):
    quota(ADS_QUOTA_MAX_HOURLY_USD="0.03")
    assert _post(call_api).status == 202
    assert _post(call_api).status == 202

    third = _post(call_api)

    assert third.status == 429
    assert third.body["details"]["quota"] == "hourly_spend_per_owner"
    assert third.body["details"]["use"] == pytest.approx(2 * HOURLY)
    assert third.body["details"]["requested"] == HOURLY
    assert third.body["details"]["limit"] == 0.03
    assert _usage(control_plane, ALICE)["hourly_usd"] == Decimal(str(HOURLY)) * 2


def test_given_a_spend_limit_below_one_lab_when_requested_then_429_and_nothing_written(
    call_api, control_plane, quota
):
    quota(ADS_QUOTA_MAX_HOURLY_USD="0.001")

    answer = _post(call_api)

    assert answer.status == 429
    assert answer.body["details"]["use"] == 0
    assert control_plane.repo.list_for_owner(ALICE)[0] == []
    assert _usage(control_plane, ALICE) == {}


def test_given_an_instance_type_policy_when_the_plan_needs_another_then_403_and_allowed_passes(
    call_api, control_plane, quota
):
    quota(ADS_QUOTA_INSTANCE_TYPES=f'{{"{ALICE}": ["t3.nano"], "*": ["t3.micro"]}}')

    refused = _post(call_api)
    allowed = _post(call_api, caller=BOB)

    assert refused.status == 403
    assert refused.body["error"] == "instance_type_not_allowed"
    assert refused.body["details"]["use"] == "t3.micro"
    assert refused.body["details"]["limit"] == ["t3.nano"]
    assert allowed.status == 202
    assert control_plane.repo.list_for_owner(ALICE)[0] == []


def test_given_limits_when_an_admin_requests_then_exempt_or_held_to_their_own(
    call_api, control_plane, quota
):
    quota(ADS_QUOTA_MAX_LABS="1", ADS_QUOTA_INSTANCE_TYPES='{"*": ["t3.nano"]}')
    assert [_post(call_api, caller=ADMIN_SESSION).status for _ in range(3)] == [202] * 3
    assert _usage(control_plane, ADMIN_SESSION) == {}

    quota(ADS_QUOTA_ADMIN_MAX_LABS="1")
    assert _post(call_api, caller=ADMIN_SESSION).status == 202
    assert _post(call_api, caller=ADMIN_SESSION).status == 429


def test_given_a_limit_of_three_when_eight_requests_race_then_exactly_three_labs_exist(
    call_api, control_plane, quota
):
    from ads.local import moto_serial

    quota(ADS_QUOTA_MAX_LABS="3")
    call_api(load_event("api/get_labs", query={}))  # warm: clients exist before the race
    undo = moto_serial.install()
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(lambda _: _post(call_api), range(8)))
    finally:
        undo()

    assert sorted(a.status for a in answers) == [202] * 3 + [429] * 5
    labs, _ = control_plane.repo.list_for_owner(ALICE, limit=20)
    assert len(labs) == 3
    assert len(control_plane.executions(control_plane.deploy_arn)) == 3
    assert _usage(control_plane, ALICE)["labs"] == 3
    assert _usage(control_plane, ALICE)["held"] == {lab.lab_id for lab in labs}


def test_given_a_course_when_requested_then_the_record_and_the_plan_carry_the_cost_tags(
    call_api, control_plane
):
    answer = _post(call_api, course="CS101 Fall 2026")

    record = control_plane.repo.require(answer.body["lab_id"])
    assert record.course == "CS101 Fall 2026"
    assert record.plan["cost_tags"] == {
        "ads:lab-id": record.lab_id,
        "ads:lab-name": "Hello Web",
        "ads:owner": ALICE,
        "ads:course": "CS101 Fall 2026",
    }


def test_given_a_course_with_characters_aws_refuses_when_posted_then_400_names_course(call_api):
    answer = _post(call_api, course="CS<101>")

    assert answer.status == 400
    assert [p["path"] for p in answer.body["problems"]] == ["course"]


def test_given_quotas_when_a_plan_is_asked_then_it_says_whether_the_lab_fits_now(
    call_api, control_plane, quota
):
    unlimited = call_api(load_event("api/post_plans"))
    quota(ADS_QUOTA_MAX_LABS="1")
    fits = call_api(load_event("api/post_plans"))
    _post(call_api)

    full = call_api(load_event("api/post_plans"))

    assert "quota" not in unlimited.body
    assert fits.body["quota"]["fits"] is True
    assert full.status == 200
    assert full.body["quota"]["fits"] is False
    assert full.body["quota"]["labs_held"] == 1 and full.body["quota"]["max_labs"] == 1
    assert full.body["quota"]["refusal"]["details"]["quota"] == "labs_per_owner"


def test_given_an_instance_type_policy_when_a_plan_is_asked_then_the_refusal_is_shown(
    call_api, quota
):
    quota(ADS_QUOTA_INSTANCE_TYPES='{"*": ["t3.nano"]}')

    answer = call_api(load_event("api/post_plans"))

    assert answer.body["quota"]["fits"] is False
    assert answer.body["quota"]["refusal"]["error"] == "instance_type_not_allowed"
