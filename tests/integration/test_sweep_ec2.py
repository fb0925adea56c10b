"""The sweep against moto: planted orphan instances and stuck records, report then apply."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.ec2.models import ec2_backends

from ads.config import LAB_ID_TAG, MANAGED_TAG, AdsConfig
from ads.deployment_context import DeploymentContext
from ads.executions import execution_status
from ads.lab_record import LabStatus
from ads.labs_table import create_table
from ads.providers.ec2_access import Ec2LabAccess
from ads.providers.ec2_sweep import Ec2SweepInventory
from ads.records import LabRepository
from ads.sweep import Sweep
from ads.sweep_records import StuckRecords

REGION = "us-east-1"
ACCOUNT = "123456789012"
TABLE = "ads-labs-sweep"
OWNER = "arn:aws:iam::123456789012:user/alice"
GRACE_S = 900
MACHINE = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})


class RecordingPublisher:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def publish(self, record: Any, detail_type: str | None = None, extra: Any = None) -> bool:
        self.events.append((detail_type or record.status.value, {"lab_id": record.lab_id}))
        return True

    def publish_detail(self, detail_type: str, detail: dict[str, Any]) -> bool:
        self.events.append((detail_type, detail))
        return True


class Plant:
    """The AWS side of one test: the table, EC2 and Step Functions of moto."""

    def __init__(self) -> None:
        self.ec2 = boto3.client("ec2", region_name=REGION)
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_table(dynamodb, TABLE)
        self.repo = LabRepository(boto3.resource("dynamodb", region_name=REGION).Table(TABLE))
        self.machine = self.sfn.create_state_machine(
            name="ads-deploy-lab",
            definition=MACHINE,
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/sfn",
        )["stateMachineArn"]
        self.image = self.ec2.describe_images()["Images"][0]["ImageId"]
        self.destroyed: list[str] = []

    def instance(self, tags: dict[str, str], *, age_s: float = 3600) -> str:
        response = self.ec2.run_instances(
            ImageId=self.image,
            MinCount=1,
            MaxCount=1,
            InstanceType="t3.micro",
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
                }
            ],
        )
        instance_id = response["Instances"][0]["InstanceId"]
        # moto launches "now": age the instance as a sweep an hour later would see it.
        moto_instance = ec2_backends[ACCOUNT][REGION].get_instance(instance_id)
        moto_instance.launch_time = (datetime.now(UTC) - timedelta(seconds=age_s)).strftime(
            "%Y-%m-%dT%H:%M:%S.000Z"
        )
        return instance_id

    def managed(self, lab_id: str, **kwargs: Any) -> str:
        return self.instance({MANAGED_TAG: "true", LAB_ID_TAG: lab_id}, **kwargs)

    def record(self, lab_id: str, *path: LabStatus, **fields: Any) -> None:
        self.repo.create(self.repo.new_record(lab_id, OWNER))
        for status in path:
            if status == LabStatus.DESTROYED:
                self.repo.transition(lab_id, LabStatus.DESTROYING)
            self.repo.transition(lab_id, status, **fields)

    def execution(self, name: str, *, stop: bool = False) -> str:
        arn = self.sfn.start_execution(stateMachineArn=self.machine, name=name)["executionArn"]
        if stop:
            self.sfn.stop_execution(executionArn=arn)
        return arn

    def state(self, instance_id: str) -> str:
        reservations = self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        return str(reservations[0]["Instances"][0]["State"]["Name"])

    def sweep(self, publisher: RecordingPublisher, *, later_s: float = 0) -> Sweep:
        config = AdsConfig(region=REGION, table_name=TABLE)
        context = DeploymentContext(repository=self.repo, stepfunctions=self.sfn, config=config)
        stuck = StuckRecords(
            self.repo,
            publisher,  # type: ignore[arg-type]
            lambda arn: execution_status(context, arn),
            self.destroyed.append,
        )
        return Sweep(
            self.repo,
            Ec2SweepInventory(ec2=self.ec2, access=Ec2LabAccess(config, ec2=self.ec2, elbv2=None)),
            publisher,  # type: ignore[arg-type]
            stuck,
            grace_s=GRACE_S,
            clock=lambda: datetime.now(UTC) + timedelta(seconds=later_s),
        )


@pytest.fixture
def plant() -> Iterator[Plant]:
    with mock_aws():
        yield Plant()


def _by_resource(report: Any) -> dict[str, Any]:
    return {f.resource: f for f in report.findings}


def test_given_planted_orphans_when_the_sweep_reports_then_it_names_them_and_touches_nothing(
    plant: Plant,
) -> None:
    plant.record("lab-destroyed", LabStatus.DESTROYED)
    plant.record("lab-failed", LabStatus.FAILED)
    plant.record("lab-ready", LabStatus.PROVISIONING, LabStatus.HEALTH_CHECKING, LabStatus.READY)
    no_record = plant.managed("lab-gone")
    destroyed = plant.managed("lab-destroyed")
    failed = plant.managed("lab-failed")
    young = plant.managed("lab-being-created", age_s=30)
    live = plant.managed("lab-ready")
    untagged = plant.instance({"Name": "someone else's"})
    publisher = RecordingPublisher()

    report = plant.sweep(publisher).run(apply=False)

    found = _by_resource(report)
    assert set(found) == {no_record, destroyed, failed}
    assert found[no_record].reason == "lab lab-gone has no record"
    assert found[destroyed].reason == "lab lab-destroyed is DESTROYED"
    assert found[failed].reason == "lab lab-failed is FAILED"
    assert {f.action for f in report.findings} == {"terminate"}
    assert {f.outcome for f in report.findings} == {"planned"}
    assert report.kept_young == [young]
    assert not report.applied and not publisher.events
    for instance_id in (no_record, destroyed, failed, young, live, untagged):
        assert plant.state(instance_id) == "running"


def test_given_planted_orphans_when_the_sweep_applies_then_only_the_orphans_are_terminated(
    plant: Plant,
) -> None:
    plant.record("lab-destroyed", LabStatus.DESTROYED)
    plant.record("lab-failed", LabStatus.FAILED)
    plant.record("lab-ready", LabStatus.PROVISIONING, LabStatus.HEALTH_CHECKING, LabStatus.READY)
    orphans = [plant.managed(lab) for lab in ("lab-gone", "lab-destroyed", "lab-failed")]
    young = plant.managed("lab-being-created", age_s=30)
    live = plant.managed("lab-ready")
    untagged = plant.instance({"Name": "someone else's"})
    publisher = RecordingPublisher()

    report = plant.sweep(publisher).run(apply=True)

    assert {f.outcome for f in report.findings} == {"done"}
    for instance_id in orphans:
        assert plant.state(instance_id) in ("shutting-down", "terminated")
    for instance_id in (young, live, untagged):
        assert plant.state(instance_id) == "running"
    terminated = [d for t, d in publisher.events if t == "Orphan Terminated"]
    assert sorted(d["resource"] for d in terminated) == sorted(orphans)
    assert {d["kind"] for d in terminated} == {"instance"}


def test_given_stuck_records_when_swept_then_ended_and_missing_executions_fail_running_kept(
    plant: Plant,
) -> None:
    plant.record(
        "lab-aborted",
        LabStatus.PROVISIONING,
        execution_arn=plant.execution("lab-aborted", stop=True),
    )
    missing = plant.machine.replace(":stateMachine:", ":execution:") + ":lab-missing"
    plant.record(
        "lab-missing", LabStatus.PROVISIONING, LabStatus.INITIALIZING, execution_arn=missing
    )
    plant.record(
        "lab-running", LabStatus.PROVISIONING, execution_arn=plant.execution("lab-running")
    )
    publisher = RecordingPublisher()
    sweep = plant.sweep(publisher, later_s=GRACE_S + 60)

    planned = sweep.run(apply=False)
    assert _by_resource(planned)["lab-aborted"].reason == (
        "sweep: execution lab-aborted ended ABORTED while PROVISIONING"
    )
    assert _by_resource(planned)["lab-missing"].reason == (
        "sweep: execution lab-missing does not exist while INITIALIZING"
    )
    assert "lab-running" not in _by_resource(planned)
    assert plant.repo.require("lab-aborted").status == LabStatus.PROVISIONING

    applied = sweep.run(apply=True)

    assert {f.outcome for f in applied.findings} == {"done"}
    aborted = plant.repo.require("lab-aborted")
    assert aborted.status == LabStatus.FAILED
    assert aborted.cause == "sweep: execution lab-aborted ended ABORTED while PROVISIONING"
    assert aborted.failed_step == "Sweep"
    assert plant.repo.require("lab-missing").status == LabStatus.FAILED
    assert plant.repo.require("lab-running").status == LabStatus.PROVISIONING
    assert sorted(plant.destroyed) == ["lab-aborted", "lab-missing"]
    assert sorted(d["lab_id"] for t, d in publisher.events if t == "Lab Swept") == [
        "lab-aborted",
        "lab-missing",
    ]


def test_given_a_stuck_record_within_the_grace_period_when_swept_then_it_is_left_alone(
    plant: Plant,
) -> None:
    plant.record(
        "lab-fresh", LabStatus.PROVISIONING, execution_arn=plant.execution("lab-fresh", stop=True)
    )

    report = plant.sweep(RecordingPublisher()).run(apply=True)

    assert report.findings == []
    assert plant.repo.require("lab-fresh").status == LabStatus.PROVISIONING


def test_given_a_live_transition_after_the_read_when_settled_then_the_transition_wins(
    plant: Plant,
) -> None:
    arn = plant.execution("lab-racing", stop=True)
    plant.record("lab-racing", LabStatus.PROVISIONING, execution_arn=arn)
    publisher = RecordingPublisher()
    sweep = plant.sweep(publisher, later_s=GRACE_S + 60)
    stuck = sweep._stuck  # the sweep's own settling, between its read and its write
    seen = plant.repo.require("lab-racing")
    finding = stuck.examine(seen)
    assert finding is not None
    plant.repo.transition("lab-racing", LabStatus.INITIALIZING, note="a late step")

    stuck.settle(seen, finding)

    assert finding.outcome == "skipped"
    assert plant.repo.require("lab-racing").status == LabStatus.INITIALIZING
    assert plant.destroyed == [] and publisher.events == []


def test_given_a_destroy_whose_execution_failed_when_swept_then_vm_destroyed_and_destroyed(
    plant: Plant,
) -> None:
    arn = plant.execution("lab-undestroyed-destroy-1", stop=True)
    plant.record("lab-undestroyed", LabStatus.DESTROYING, destroy_execution_arn=arn)

    report = plant.sweep(RecordingPublisher(), later_s=GRACE_S + 60).run(apply=True)

    assert [f.action for f in report.findings] == ["destroy the VM, mark DESTROYED"]
    assert plant.destroyed == ["lab-undestroyed"]
    record = plant.repo.require("lab-undestroyed")
    assert record.status == LabStatus.DESTROYED
    assert (
        record.cause == "sweep: execution lab-undestroyed-destroy-1 ended ABORTED while DESTROYING"
    )


def test_given_a_lease_hook_that_finds_a_missing_schedule_when_swept_then_it_is_reported(
    plant: Plant,
) -> None:
    plant.record("lab-ready", LabStatus.PROVISIONING, LabStatus.HEALTH_CHECKING, LabStatus.READY)
    asked: list[tuple[str, bool]] = []

    def hook(record: Any, apply: bool) -> str | None:
        asked.append((record.lab_id, apply))
        return f"ads-expiry-{record.lab_id}"

    publisher = RecordingPublisher()
    sweep = plant.sweep(publisher)
    sweep._lease_hook = hook

    planned = sweep.run(apply=False)
    applied = sweep.run(apply=True)

    assert [(f.kind, f.resource, f.outcome) for f in planned.findings] == [
        ("lease", "ads-expiry-lab-ready", "planned")
    ]
    assert [f.outcome for f in applied.findings] == ["done"]
    assert asked == [("lab-ready", False), ("lab-ready", True)]
    assert [t for t, _ in publisher.events] == ["Lab Swept"]
