"""The sweep and a cohort's labs: a lab waiting REQUESTED for its turn in DeployCohort's
Map has no DeployLab yet, and is not stuck while its round runs."""

from __future__ import annotations

from typing import Any

from ads.lab_record import LabRecord, LabStatus
from ads.sweep_records import StuckRecords

DEPLOY = "arn:aws:states:us-east-1:123456789012:execution:ads-deploy-lab:hello-web-01m8t3"
ROUND = "arn:aws:states:us-east-1:123456789012:execution:ads-deploy-cohort:c-01m8t3-1"


def _lab(**fields: Any) -> LabRecord:
    now = "2026-12-02T00:00:00.000Z"
    return LabRecord(
        lab_id="hello-web-01m8t3",
        owner="arn:aws:iam::123456789012:user/teacher",
        created_at=now,
        updated_at=now,
        status=LabStatus.REQUESTED,
        execution_arn=DEPLOY,
        **fields,
    )


def _records(statuses: dict[str, str]) -> StuckRecords:
    return StuckRecords(
        repository=None,  # type: ignore[arg-type]
        publisher=None,  # type: ignore[arg-type]
        execution_status=lambda arn: statuses.get(arn, "ABSENT"),
        destroy_vm=lambda lab_id: None,
    )


def test_given_a_cohort_lab_waiting_for_its_turn_when_its_round_runs_then_it_is_not_stuck():
    lab = _lab(cohort_id="c-01m8t3", cohort_execution_arn=ROUND)

    assert _records({ROUND: "RUNNING"}).examine(lab) is None


def test_given_a_cohort_lab_never_started_when_its_round_has_ended_then_it_is_stuck():
    lab = _lab(cohort_id="c-01m8t3", cohort_execution_arn=ROUND)

    finding = _records({ROUND: "ABORTED"}).examine(lab)

    assert finding is not None and "does not exist while REQUESTED" in finding.reason


def test_given_a_lab_of_no_cohort_without_its_deploy_then_it_is_stuck_as_before():
    assert _records({ROUND: "RUNNING"}).examine(_lab()) is not None
