"""GET /sweep (a report) and POST /sweep (apply) through the api handler, against moto."""

from __future__ import annotations

import boto3

from ads.config import LAB_ID_TAG, MANAGED_TAG
from ads.lab_record import LabStatus
from tests.integration.api.conftest import REGION
from tests.integration.api.events import ADMIN_SESSION, ALICE, load_event


def _orphan_instance() -> str:
    ec2 = boto3.client("ec2", region_name=REGION)
    image = ec2.describe_images()["Images"][0]["ImageId"]
    tags = [{"Key": MANAGED_TAG, "Value": "true"}, {"Key": LAB_ID_TAG, "Value": "lab-gone"}]
    response = ec2.run_instances(
        ImageId=image,
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )
    return str(response["Instances"][0]["InstanceId"])


def _state(instance_id: str) -> str:
    ec2 = boto3.client("ec2", region_name=REGION)
    reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    return str(reservations[0]["Instances"][0]["State"]["Name"])


def test_given_a_caller_who_is_not_an_admin_when_sweeping_then_403_and_nothing_runs(
    call_api, control_plane, monkeypatch
):
    monkeypatch.setenv("ADS_SWEEP_GRACE_S", "0")
    instance_id = _orphan_instance()

    for name in ("api/get_sweep", "api/post_sweep"):
        answer = call_api(load_event(name, caller=ALICE))
        assert answer.status == 403
        assert answer.body["error"] == "admin_only"
        assert ALICE in answer.body["message"] and "ADS_ADMIN_PRINCIPALS" in answer.body["message"]
    assert _state(instance_id) == "running"


def test_given_an_admin_when_reporting_then_applying_then_the_orphan_is_listed_then_terminated(
    call_api, control_plane, monkeypatch
):
    from ads.config import reset_config

    monkeypatch.setenv("ADS_SWEEP_GRACE_S", "0")
    reset_config()
    instance_id = _orphan_instance()

    report = call_api(load_event("api/get_sweep", caller=ADMIN_SESSION))

    assert report.status == 200 and report.body["applied"] is False
    [finding] = report.body["findings"]
    assert finding == {
        "kind": "instance",
        "resource": instance_id,
        "lab_id": "lab-gone",
        "reason": "lab lab-gone has no record",
        "action": "terminate",
        "outcome": "planned",
        "error": None,
    }
    assert _state(instance_id) == "running"

    applied = call_api(load_event("api/post_sweep", caller=ADMIN_SESSION))

    assert applied.status == 200 and applied.body["applied"] is True
    assert [f["outcome"] for f in applied.body["findings"]] == ["done"]
    assert _state(instance_id) in ("shutting-down", "terminated")


def test_given_a_lab_stuck_with_no_execution_when_an_admin_applies_then_it_is_failed_with_the_cause(
    call_api, control_plane, monkeypatch
):
    from ads.config import reset_config

    monkeypatch.setenv("ADS_SWEEP_GRACE_S", "0")
    reset_config()
    repo = control_plane.repo
    repo.create(repo.new_record("lab-stuck", ALICE))
    repo.transition("lab-stuck", LabStatus.PROVISIONING)

    applied = call_api(load_event("api/post_sweep", caller=ADMIN_SESSION))

    [finding] = [f for f in applied.body["findings"] if f["kind"] == "record"]
    assert finding["reason"] == (
        "sweep: execution (none recorded) does not exist while PROVISIONING"
    )
    record = repo.require("lab-stuck")
    assert record.status == LabStatus.FAILED and record.cause == finding["reason"]
