"""CI events with a lease and working hours in their detail: the same terms as POST /labs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.api.events import load_event


@pytest.fixture
def trigger(control_plane):
    from functions.ci_trigger.handler import handler

    return lambda event: handler(event, None)


def _event(key: str, **detail):
    event = load_event("ci/lab_deployment_requested")
    event["id"] = f"event-{key}"
    event["detail"] = {**event["detail"], "idempotency_key": key, **detail}
    return event


def test_given_a_lease_in_the_detail_when_handled_then_the_lab_expires_after_it(
    trigger, control_plane
):
    # Records keep their times to the millisecond.
    now = datetime.now(UTC)
    before = now.replace(microsecond=now.microsecond // 1000 * 1000)

    result = trigger(_event("lease-1", lease="2h", schedule="Mon-Fri 08:00-20:00 UTC"))

    record = control_plane.repo.require(result["lab_id"])
    expires = datetime.fromisoformat(record.lease["expires_at"])
    assert timedelta(hours=2) <= expires - before < timedelta(hours=2, minutes=1)
    assert record.working_hours["spec"] == "Mon-Fri 08:00-20:00 UTC"


def test_given_no_expiry_asked_by_ci_when_handled_then_refused_naming_the_maximum(
    trigger, control_plane
):
    refused = trigger(_event("lease-2", lease="none"))

    assert refused["accepted"] is False
    assert "only admins" in refused["message"] and "7d" in refused["message"]
    assert control_plane.executions(control_plane.deploy_arn) == []
