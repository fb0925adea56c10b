"""The sweep of unused lab images: moto's DynamoDB for the image items, botocore's Stubber
for EC2 (what DescribeImages, DeregisterImage and DeleteSnapshot are asked and answer:
moto's AMIs do not keep the snapshots a real CreateImage makes, nor refuse to delete one
in use).

An image no deploy started from for ADS_IMAGE_UNUSED_DAYS is reported by a dry run with
nothing asked of EC2, and removed when applied: the AMI deregistered, then each snapshot
deleted, then the item forgotten. An image used recently, one EC2 is still making and a
fresh claim are left alone; a snapshot EC2 refuses to delete leaves the item "deleting"
(no deploy starts from it) for the next sweep; a deploy that starts from the image
between the sweep's read and its removal wins, and the image stays.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from ads.lab_images import LabImage, image_id_of
from ads.lab_record import iso, utc_now
from ads.labs_table import create_table
from ads.providers import ec2_images
from ads.providers.base import VmInfo
from ads.providers.images import ImageState
from ads.records import LabRepository
from ads.sweep import Sweep
from ads.sweep_images import UnusedImages

ALICE = "arn:aws:iam::123456789012:user/alice"
SNAPSHOTS = ["snap-0111aaaabbbbcccc0", "snap-0222aaaabbbbcccc0"]


class Ec2Images:
    """The ec2 provider's image hooks over a stubbed EC2 client."""

    name = "ec2"

    def __init__(self, ec2: Any) -> None:
        self._ec2 = ec2

    def create_image(self, lab_id: str, vm: VmInfo, image_id: str, tags: dict[str, str]) -> Any:
        raise AssertionError("the sweep makes no image")

    def image_state(self, provider_image_id: str) -> ImageState:
        return ec2_images.image_state(self._ec2, provider_image_id)

    def delete_image(self, provider_image_id: str, snapshot_ids: list[str]) -> None:
        ec2_images.delete_image(self._ec2, provider_image_id, snapshot_ids)


class NoInventory:
    def managed_vms(self) -> list[Any]:
        return []

    def terminate(self, vms: list[Any]) -> dict[str, str | None]:
        return {}

    def lab_resources(self, live_lab_ids: set[str]) -> list[Any]:
        return []

    def remove(self, resource: Any) -> None:
        raise AssertionError("nothing to remove")


class NoStuckRecords:
    def candidates(self) -> list[Any]:
        return []


class RecordingPublisher:
    def __init__(self) -> None:
        self.details: list[dict[str, Any]] = []

    def publish_detail(self, detail_type: str, detail: dict[str, Any]) -> None:
        self.details.append({"type": detail_type, **detail})

    def publish(self, *args: Any) -> None:
        raise AssertionError("no lab event")


@pytest.fixture
def repo() -> Any:
    with mock_aws():
        create_table(boto3.client("dynamodb", region_name="us-east-1"), "labs")
        yield LabRepository.from_name("labs", "us-east-1")


@pytest.fixture
def ec2() -> Any:
    return boto3.client(
        "ec2", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def _image(
    repo: Any, key: str, state: str, *, days_since_use: float, used: bool = True
) -> LabImage:
    now = utc_now()
    then = iso(now - timedelta(days=days_since_use))
    ami = "ami-0" + key[:16]
    image = LabImage(
        image_id=image_id_of(key),
        image_key=key,
        image_state="creating",
        image_owner=ALICE,
        provider="ec2",
        source_lab_id=f"hello-web-{key[:6]}",
        revision="none",
        base_image="/aws/service/canonical/ubuntu#x86_64",
        created_at=then,
        updated_at=iso(now),
    )
    assert repo.images.claim(image)
    if state != "creating":
        repo.images.update(
            key,
            image_state=state,
            provider_image_id=ami,
            snapshot_ids=SNAPSHOTS,
            available_at=then if state == "available" else None,
            last_used_at=then if used else None,
        )
    stored = repo.images.get(key)
    assert stored is not None
    return stored


def _sweep(repo: Any, ec2: Any, publisher: RecordingPublisher, days: int = 30) -> Sweep:
    unused = UnusedImages(repo.images, Ec2Images(ec2), "ec2", unused_days=days)
    return Sweep(
        repo,
        NoInventory(),
        publisher,
        NoStuckRecords(),
        grace_s=900,
        images=unused,  # type: ignore[arg-type]
    )


def _ami(image: LabImage) -> dict[str, Any]:
    return {
        "ImageId": image.provider_image_id,
        "State": "available",
        "BlockDeviceMappings": [
            {"DeviceName": "/dev/sda1", "Ebs": {"SnapshotId": SNAPSHOTS[0], "VolumeSize": 8}},
            {"DeviceName": "/dev/sdb", "Ebs": {"SnapshotId": SNAPSHOTS[1], "VolumeSize": 2}},
        ],
    }


def _expect_removal(stub: Stubber, image: LabImage, refuse_snapshot: bool = False) -> None:
    ami = image.provider_image_id
    stub.add_response("describe_images", {"Images": [_ami(image)]}, {"ImageIds": [ami]})
    stub.add_response("deregister_image", {}, {"ImageId": ami})
    stub.add_response("delete_snapshot", {}, {"SnapshotId": SNAPSHOTS[0]})
    if refuse_snapshot:
        stub.add_client_error(
            "delete_snapshot",
            "InvalidSnapshot.InUse",
            f"The snapshot {SNAPSHOTS[1]} is currently in use by ami-0other",
            expected_params={"SnapshotId": SNAPSHOTS[1]},
        )
    else:
        stub.add_response("delete_snapshot", {}, {"SnapshotId": SNAPSHOTS[1]})


def test_given_images_unused_for_30_days_when_swept_then_a_dry_run_lists_them_and_apply_removes_ami_snapshots_and_item(
    repo: Any, ec2: Any
) -> None:
    stale = _image(repo, "a" * 32, "available", days_since_use=40)
    never_used = _image(repo, "b" * 32, "available", days_since_use=31, used=False)
    recent = _image(repo, "c" * 32, "available", days_since_use=5)
    making = _image(repo, "d" * 32, "pending", days_since_use=40)
    claim = _image(repo, "e" * 32, "creating", days_since_use=40)
    publisher = RecordingPublisher()

    with Stubber(ec2) as stub:  # a dry run asks EC2 nothing: any call would fail here
        report = _sweep(repo, ec2, publisher).run(apply=False)
        stub.assert_no_pending_responses()
    planned = {f.resource: f for f in report.findings}
    assert set(planned) == {stale.provider_image_id, never_used.provider_image_id}
    assert all(f.kind == "image" and f.outcome == "planned" for f in planned.values())
    assert "last used at" in planned[stale.provider_image_id].reason
    assert "was made at" in planned[never_used.provider_image_id].reason
    assert "ADS_IMAGE_UNUSED_DAYS" in planned[stale.provider_image_id].reason
    assert report.errors == []

    with Stubber(ec2) as stub:
        # list() answers newest first: the image made 31 days ago, then the one used 40 ago
        _expect_removal(stub, never_used)
        _expect_removal(stub, stale)
        applied = _sweep(repo, ec2, publisher).run(apply=True)
        stub.assert_no_pending_responses()

    assert [f.outcome for f in applied.findings] == ["done", "done"], applied
    assert repo.images.get(stale.image_key) is None
    assert repo.images.get(never_used.image_key) is None
    kept = {i.image_key for i in repo.images.list()}
    assert kept == {recent.image_key, making.image_key, claim.image_key}
    assert [d["resource"] for d in publisher.details] == [
        never_used.provider_image_id,
        stale.provider_image_id,
    ]


def test_given_a_snapshot_ec2_refuses_to_delete_when_swept_then_the_image_stays_deleting_and_the_next_sweep_retries(
    repo: Any, ec2: Any
) -> None:
    image = _image(repo, "a" * 32, "available", days_since_use=40)
    publisher = RecordingPublisher()

    with Stubber(ec2) as stub:
        _expect_removal(stub, image, refuse_snapshot=True)
        first = _sweep(repo, ec2, publisher).run(apply=True)
        stub.assert_no_pending_responses()

    [finding] = first.findings
    assert finding.outcome == "error"
    assert "InvalidSnapshot.InUse" in (finding.error or "")
    left = repo.images.get(image.image_key)
    assert left is not None and left.image_state == "deleting"
    # no deploy starts from an image being removed
    assert repo.images.mark_used(image.image_key, "hello-web-01jnext") is False

    with Stubber(ec2) as stub:
        ami = image.provider_image_id
        stub.add_client_error(
            "describe_images", "InvalidAMIID.NotFound", expected_params={"ImageIds": [ami]}
        )
        for snapshot in SNAPSHOTS:
            code = "InvalidSnapshot.NotFound" if snapshot == SNAPSHOTS[0] else None
            if code:
                stub.add_client_error(
                    "delete_snapshot", code, expected_params={"SnapshotId": snapshot}
                )
            else:
                stub.add_response("delete_snapshot", {}, {"SnapshotId": snapshot})
        second = _sweep(repo, ec2, publisher).run(apply=True)
        stub.assert_no_pending_responses()
    assert [f.outcome for f in second.findings] == ["done"]
    assert repo.images.get(image.image_key) is None


def test_given_a_deploy_starting_from_the_image_after_the_sweep_read_it_when_removed_then_the_deploy_wins(
    repo: Any, ec2: Any
) -> None:
    image = _image(repo, "a" * 32, "available", days_since_use=40)
    unused = UnusedImages(repo.images, Ec2Images(ec2), "ec2", unused_days=30)
    [(seen, _finding)] = list(unused.findings(utc_now()))

    assert repo.images.mark_used(image.image_key, "hello-web-01jnext") is True
    with Stubber(ec2) as stub:  # nothing is asked of EC2
        assert unused.remove(seen) == "skipped"
        stub.assert_no_pending_responses()
    kept = repo.images.get(image.image_key)
    assert kept is not None and kept.image_state == "available"
    assert kept.used_by[-1] == "hello-web-01jnext"
    assert list(unused.findings(utc_now())) == []


def test_given_unused_days_zero_when_swept_then_no_image_is_looked_at(repo: Any, ec2: Any) -> None:
    _image(repo, "a" * 32, "available", days_since_use=400)
    report = _sweep(repo, ec2, RecordingPublisher(), days=0).run(apply=True)
    assert report.findings == [] and report.errors == []


class LaunchingEc2(Ec2Images):
    """Also launches VMs, remembering the plan each launch was handed."""

    def __init__(self, ec2: Any) -> None:
        super().__init__(ec2)
        self.plans: list[dict[str, Any]] = []

    def create_vm(self, lab_id: str, plan: dict[str, Any]) -> VmInfo:
        self.plans.append(plan)
        return VmInfo(vm_id="i-0123456789abcdef0", provider="ec2", agent_port=9089)


def _requested_lab(repo: Any, lab_id: str) -> None:
    repo.create(
        repo.new_record(
            lab_id,
            ALICE,
            lab_name="Hello Web",
            plan={
                "image": {"ssm_parameter": "/aws/service/canonical/ubuntu"},
                "arch": "x86_64",
                "reuse_image": True,
            },
            labspec={"template": "1.0", "lab": {"description": {"name": "Hello Web"}}},
        )
    )


def test_given_an_image_the_sweep_is_removing_when_a_deploy_of_its_key_starts_then_it_builds_as_usual(
    repo: Any, ec2: Any
) -> None:
    from ads import steps
    from ads.lab_images import image_key

    _requested_lab(repo, "hello-web-01jfirst")
    key = image_key(repo.require("hello-web-01jfirst"), "none", "ec2")
    image = _image(repo, key, "available", days_since_use=40)
    provider = LaunchingEc2(ec2)

    first = steps.create_vm("hello-web-01jfirst", repo, provider)  # type: ignore[arg-type]
    assert first.from_image == image.image_id
    assert provider.plans[-1]["from_image"]["provider_image_id"] == image.provider_image_id
    used = repo.images.get(key)
    assert used.used_by == ["hello-web-01jfirst"] and used.last_used_at > image.last_used_at

    assert repo.images.take_for_removal(used)
    _requested_lab(repo, "hello-web-01jsecond")
    second = steps.create_vm("hello-web-01jsecond", repo, provider)  # type: ignore[arg-type]
    assert second.from_image is None
    assert "from_image" not in provider.plans[-1]
    assert repo.images.get(key).used_by == ["hello-web-01jfirst"]
