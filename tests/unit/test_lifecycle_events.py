"""The lifecycle events: one table of detail-types, every one of them documented."""

from __future__ import annotations

from pathlib import Path

from ads.lifecycle_events import DETAIL_TYPES, EVENTS

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_given_the_event_table_when_the_docs_are_read_then_every_detail_type_is_documented():
    documented = (DOCS / "api.md").read_text()
    missing = [name for name in EVENTS.values() if f"`{name}`" not in documented]
    assert missing == [], f"docs/api.md does not name {missing}"


def test_given_the_status_events_when_read_then_each_is_one_of_the_table():
    assert set(DETAIL_TYPES.values()) <= set(EVENTS.values())
    assert len(set(EVENTS.values())) == len(EVENTS), "two transitions share a detail-type"


def _sample(name: str) -> dict:
    import json

    return json.loads((DOCS.parent / "events" / "ci" / f"{name}.json").read_text())


def _record(detail: dict, **fields):
    from ads.lab_record import LabRecord

    return LabRecord(
        lab_id=detail["lab_id"],
        owner=detail["owner"],
        status=detail["status"],
        created_at="2026-12-01T10:00:00.000Z",
        updated_at="2026-12-01T10:15:00.000Z",
        **fields,
    )


def test_given_the_lab_degraded_sample_when_built_as_the_watch_builds_it_then_the_detail_matches():
    from ads.health_watch import HealthState, _event_health
    from ads.lifecycle_events import event_detail

    sample = _sample("lab_degraded")
    detail = sample["detail"]
    record = _record(detail, cause=detail["cause"])
    health = HealthState(
        failures=3,
        last_failure=detail["health"]["last_failure"],
        degraded_at=detail["health"]["degraded_at"],
        degraded_epoch=1.0,
    )

    assert sample["detail-type"] == EVENTS["degraded"]
    assert {**event_detail(record), "health": _event_health(health)} == detail


def test_given_the_lab_action_failed_sample_when_built_as_record_action_builds_it_then_the_detail_matches():
    from ads.action_runs import ActionRun
    from ads.action_steps import action_event_detail
    from ads.lifecycle_events import event_detail

    sample = _sample("lab_action_failed")
    detail = sample["detail"]
    record = _record(detail, endpoint=detail["endpoint"])
    run = ActionRun(started_at="2026-12-01T11:02:09.000Z", **detail["action"])

    assert sample["detail-type"] == EVENTS["action_failed"]
    assert {**event_detail(record), "action": action_event_detail(run)} == detail


def test_given_the_cohort_deployed_sample_when_built_as_record_cohort_builds_it_then_the_detail_matches():
    from ads.cohort_events import cohort_detail
    from ads.cohort_model import CohortRecord, MemberLab

    sample = _sample("cohort_deployed")
    detail = sample["detail"]
    cohort = CohortRecord(
        cohort_id=detail["cohort_id"],
        cohort_owner=detail["owner"],
        created_at="2026-12-01T10:00:00.000Z",
        updated_at="2026-12-01T10:20:00.000Z",
        lab_name=detail["lab_name"],
        course=detail["course"],
        labspec={},
        members=[
            MemberLab(principal=f"arn:aws:iam::123456789012:user/s{n}")
            for n in range(detail["members"])
        ],
    )

    assert sample["detail-type"] == EVENTS["cohort_deployed"]
    built = cohort_detail(cohort, detail["counts"], execution_id=detail["execution_id"])
    assert built == detail
