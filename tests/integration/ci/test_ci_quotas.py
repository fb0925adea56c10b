"""CI events against the quotas and the course tag: the same checks as POST /labs."""

from __future__ import annotations

import pytest

from ads.config import reset_config
from tests.integration.api.events import load_event

CI_ROLE = "arn:aws:iam::123456789012:role/ads-ci"


@pytest.fixture
def trigger(control_plane):
    from functions.ci_trigger.handler import handler

    return lambda event: handler(event, None)


def _event(key: str, **detail):
    event = load_event("ci/lab_deployment_requested")
    event["id"] = f"event-{key}"
    event["detail"] = {**event["detail"], "idempotency_key": key, **detail}
    return event


def test_given_a_course_in_the_detail_when_handled_then_the_lab_carries_its_cost_tag(
    trigger, control_plane
):
    result = trigger(_event("release-1", course="Cohort 2026-B"))

    record = control_plane.repo.require(result["lab_id"])
    assert record.course == "Cohort 2026-B"
    assert record.plan["cost_tags"]["ads:course"] == "Cohort 2026-B"
    assert record.plan["cost_tags"]["ads:owner"] == CI_ROLE


def test_given_the_ci_role_at_its_lab_quota_when_an_event_arrives_then_it_is_refused_without_a_lab(
    trigger, control_plane, monkeypatch
):
    monkeypatch.setenv("ADS_QUOTA_MAX_LABS", "1")
    reset_config()
    assert trigger(_event("release-1"))["accepted"] is True

    refused = trigger(_event("release-2"))

    assert refused["accepted"] is False
    assert "quota labs_per_owner exceeded" in refused["message"]
    assert "the limit is 1" in refused["message"]
    assert len(control_plane.repo.list_for_owner(CI_ROLE)[0]) == 1
    assert len(control_plane.executions(control_plane.deploy_arn)) == 1
