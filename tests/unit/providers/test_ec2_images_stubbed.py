"""EC2 lab images against botocore's Stubber: what CreateImage is asked (NoReboot, the
image and its snapshots tagged ADS's at creation), a retried CreateImage meeting its own
name, DescribeImages going pending -> available or failed (and not knowing a new AMI
yet), and removal: DeregisterImage then DeleteSnapshot of every snapshot the image
named, a pending image refused (409), snapshots or an AMI already gone accepted."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from ads.providers import ec2_images
from ads.providers.base import VmInfo
from ads.providers.images import ImageBusy, ImageFailed, ImagePending

VM = VmInfo(vm_id="i-0123456789abcdef0", provider="ec2", agent_port=9089)
IMAGE_ID = "img-0123456789abcdef0123456789abcdef"
AMI = "ami-0aaaabbbbccccdddd"
SNAPSHOTS = ["snap-0111", "snap-0222"]


@pytest.fixture
def ec2() -> Any:
    return boto3.client(
        "ec2", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def _image(state: str, **extra: Any) -> dict[str, Any]:
    return {
        "ImageId": AMI,
        "State": state,
        "BlockDeviceMappings": [
            {"DeviceName": "/dev/sda1", "Ebs": {"SnapshotId": SNAPSHOTS[0], "VolumeSize": 8}},
            {"DeviceName": "/dev/sdb", "Ebs": {"SnapshotId": SNAPSHOTS[1], "VolumeSize": 2}},
            {"DeviceName": "/dev/sdc", "VirtualName": "ephemeral0"},
        ],
        **extra,
    }


def test_given_a_ready_lab_when_its_image_is_made_then_create_image_is_no_reboot_and_tags_image_and_snapshots(
    ec2: Any,
) -> None:
    tags = {"ads:lab-id": "hello-01", "ads:owner": "arn:aws:iam::1:user/a", "ads:image-key": "k"}
    expected_tags = [
        {"Key": "ads:lab-id", "Value": "hello-01"},
        {"Key": "ads:owner", "Value": "arn:aws:iam::1:user/a"},
        {"Key": "ads:image-key", "Value": "k"},
        {"Key": "ads:managed", "Value": "true"},
        {"Key": "ads:image-id", "Value": IMAGE_ID},
        {"Key": "Name", "Value": f"ads-{IMAGE_ID}"},
    ]
    with Stubber(ec2) as stub:
        stub.add_response(
            "create_image",
            {"ImageId": AMI},
            {
                "InstanceId": VM.vm_id,
                "Name": f"ads-{IMAGE_ID}",
                "Description": ANY,
                "NoReboot": True,
                "TagSpecifications": [
                    {"ResourceType": "image", "Tags": expected_tags},
                    {"ResourceType": "snapshot", "Tags": expected_tags},
                ],
            },
        )
        state = ec2_images.create_image(ec2, "hello-01", VM, IMAGE_ID, tags)
        stub.assert_no_pending_responses()
    assert (state.provider_image_id, state.state) == (AMI, "pending")


def test_given_create_image_retried_when_the_name_is_taken_then_the_first_calls_image_is_found(
    ec2: Any,
) -> None:
    with Stubber(ec2) as stub:
        stub.add_client_error(
            "create_image", "InvalidAMIName.Duplicate", "AMI name ads-img-... is already in use"
        )
        stub.add_response(
            "describe_images",
            {"Images": [_image("pending")]},
            {"Owners": ["self"], "Filters": [{"Name": "name", "Values": [f"ads-{IMAGE_ID}"]}]},
        )
        state = ec2_images.create_image(ec2, "hello-01", VM, IMAGE_ID, {})
    assert (state.provider_image_id, state.state) == (AMI, "pending")
    assert state.snapshot_ids == SNAPSHOTS


def test_given_the_name_is_taken_and_not_listed_yet_when_retried_then_it_is_pending(
    ec2: Any,
) -> None:
    with Stubber(ec2) as stub:
        stub.add_client_error("create_image", "InvalidAMIName.Duplicate", "in use")
        stub.add_response("describe_images", {"Images": []})
        with pytest.raises(ImagePending):
            ec2_images.create_image(ec2, "hello-01", VM, IMAGE_ID, {})


def test_given_create_image_refused_when_made_then_image_failed_names_the_code(ec2: Any) -> None:
    with Stubber(ec2) as stub:
        stub.add_client_error(
            "create_image", "UnauthorizedOperation", "You are not authorized to perform this"
        )
        with pytest.raises(
            ImageFailed, match="CreateImage of i-0123456789abcdef0 refused: UnauthorizedOperation"
        ):
            ec2_images.create_image(ec2, "hello-01", VM, IMAGE_ID, {})


def test_given_a_new_ami_when_followed_then_unknown_then_pending_then_available_with_its_snapshots(
    ec2: Any,
) -> None:
    with Stubber(ec2) as stub:
        stub.add_client_error("describe_images", "InvalidAMIID.NotFound", "does not exist")
        stub.add_response("describe_images", {"Images": [_image("pending")]}, {"ImageIds": [AMI]})
        stub.add_response("describe_images", {"Images": [_image("available")]}, {"ImageIds": [AMI]})
        states = [ec2_images.image_state(ec2, AMI) for _ in range(3)]
    assert [s.state for s in states] == ["absent", "pending", "available"]
    assert states[-1].snapshot_ids == SNAPSHOTS
    assert states[-1].size_bytes == 10 * 1024**3
    assert ec2_images.monthly_cost(states[-1].size_bytes) == 0.5


def test_given_an_ami_that_failed_when_followed_then_failed_with_ec2s_reason(ec2: Any) -> None:
    reason = {"Code": "Client.InternalError", "Message": "Snapshot creation failed"}
    with Stubber(ec2) as stub:
        stub.add_response("describe_images", {"Images": [_image("failed", StateReason=reason)]})
        state = ec2_images.image_state(ec2, AMI)
    assert (state.state, state.reason) == ("failed", "Snapshot creation failed")


def test_given_an_available_image_when_removed_then_deregister_then_every_snapshot_is_deleted(
    ec2: Any,
) -> None:
    with Stubber(ec2) as stub:
        stub.add_response("describe_images", {"Images": [_image("available")]}, {"ImageIds": [AMI]})
        stub.add_response("deregister_image", {}, {"ImageId": AMI})
        stub.add_response("delete_snapshot", {}, {"SnapshotId": SNAPSHOTS[0]})
        stub.add_response("delete_snapshot", {}, {"SnapshotId": SNAPSHOTS[1]})
        ec2_images.delete_image(ec2, AMI, [SNAPSHOTS[0]])
        stub.assert_no_pending_responses()


def test_given_a_pending_image_when_removed_then_refused_with_409_and_nothing_deleted(
    ec2: Any,
) -> None:
    with Stubber(ec2) as stub:
        stub.add_response("describe_images", {"Images": [_image("pending")]})
        with pytest.raises(ImageBusy) as refused:
            ec2_images.delete_image(ec2, AMI, SNAPSHOTS)
        stub.assert_no_pending_responses()
    assert refused.value.http_status == 409
    assert "still pending" in refused.value.message


def test_given_a_snapshot_already_gone_when_removed_then_the_removal_goes_on(ec2: Any) -> None:
    with Stubber(ec2) as stub:
        stub.add_response("describe_images", {"Images": [_image("available")]})
        stub.add_response("deregister_image", {}, {"ImageId": AMI})
        stub.add_client_error("delete_snapshot", "InvalidSnapshot.NotFound", "does not exist")
        stub.add_response("delete_snapshot", {}, {"SnapshotId": SNAPSHOTS[1]})
        ec2_images.delete_image(ec2, AMI, [])
        stub.assert_no_pending_responses()


def test_given_the_ami_already_deregistered_when_removed_then_the_recorded_snapshots_are_deleted(
    ec2: Any,
) -> None:
    with Stubber(ec2) as stub:
        stub.add_client_error("describe_images", "InvalidAMIID.NotFound", "does not exist")
        stub.add_response("delete_snapshot", {}, {"SnapshotId": SNAPSHOTS[0]})
        ec2_images.delete_image(ec2, AMI, [SNAPSHOTS[0]])
        stub.assert_no_pending_responses()


def test_given_a_snapshot_in_use_when_removed_then_the_error_reaches_the_caller(ec2: Any) -> None:
    from botocore.exceptions import ClientError

    with Stubber(ec2) as stub:
        stub.add_response("describe_images", {"Images": [_image("available")]})
        stub.add_response("deregister_image", {}, {"ImageId": AMI})
        stub.add_client_error(
            "delete_snapshot", "InvalidSnapshot.InUse", "snapshot is in use by ami-other"
        )
        with pytest.raises(ClientError, match=r"InvalidSnapshot\.InUse"):
            ec2_images.delete_image(ec2, AMI, [])
