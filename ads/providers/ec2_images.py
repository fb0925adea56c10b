"""EC2 lab images: an AMI of a READY lab's instance, and its removal with its snapshots.

CreateImage runs with ``NoReboot`` (the lab keeps serving; the file systems are copied
as they are, which a lab that was just built and started tolerates) and tags the image
and its snapshots at creation: ``ads:managed``, the image id and key, and the lab's cost
tags, so IAM can scope the later calls to ADS's images and the bill splits per lab.
The AMI is made asynchronously: ``pending`` until ``available`` (or ``failed``), which
the workflow waits for with a deadline. CreateImage has no client token; its name is
unique per account and region, so a retried call that meets ``InvalidAMIName.Duplicate``
finds the image made by the first one by that name.

Removing an image deregisters the AMI, then deletes every EBS snapshot its block device
mappings named (DeregisterImage leaves them, and they are what costs). An image still
pending cannot be removed yet (409); a snapshot or an AMI already gone is fine.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ads.config import MANAGED_TAG
from ads.cost_tags import tag_value
from ads.providers.base import VmInfo
from ads.providers.images import ImageBusy, ImageFailed, ImagePending, ImageState
from ads.providers.throttling import call, error_code, error_message

IMAGE_ID_TAG = "ads:image-id"
AMI_GONE = frozenset({"InvalidAMIID.NotFound", "InvalidAMIID.Unavailable"})
SNAPSHOT_GONE = frozenset({"InvalidSnapshot.NotFound"})
STATES = {"pending": "pending", "available": "available", "failed": "failed"}
# gp3 snapshot storage, standard tier, us-east-1 (USD per GB-month); a quote, not a bill.
SNAPSHOT_USD_PER_GB_MONTH = 0.05


def image_name(image_id: str) -> str:
    return f"ads-{image_id}"


def create_image(
    ec2: Any, lab_id: str, vm: VmInfo, image_id: str, tags: dict[str, str]
) -> ImageState:
    tag_list = [
        *({"Key": key, "Value": tag_value(value)} for key, value in tags.items()),
        {"Key": MANAGED_TAG, "Value": "true"},
        {"Key": IMAGE_ID_TAG, "Value": image_id},
        {"Key": "Name", "Value": image_name(image_id)},
    ]
    try:
        response = call(
            ec2,
            "create_image",
            InstanceId=vm.vm_id,
            Name=image_name(image_id),
            Description=f"ADS lab image {image_id}, taken from lab {lab_id} once READY",
            NoReboot=True,
            TagSpecifications=[
                {"ResourceType": "image", "Tags": tag_list},
                {"ResourceType": "snapshot", "Tags": tag_list},
            ],
        )
    except ClientError as exc:
        if error_code(exc) == "InvalidAMIName.Duplicate":
            return _by_name(ec2, image_id)
        raise ImageFailed(
            f"CreateImage of {vm.vm_id} refused: {error_code(exc)}: {error_message(exc)}",
            vm_id=vm.vm_id,
        ) from exc
    return ImageState(provider_image_id=str(response["ImageId"]), state="pending")


def _by_name(ec2: Any, image_id: str) -> ImageState:
    images = call(
        ec2,
        "describe_images",
        Owners=["self"],
        Filters=[{"Name": "name", "Values": [image_name(image_id)]}],
    ).get("Images", [])
    if not images:
        # The name is taken and EC2 does not list the image yet (eventual consistency).
        raise ImagePending(f"image {image_name(image_id)} exists and is not listed yet")
    return _state_of(images[0])


def image_state(ec2: Any, ami: str) -> ImageState:
    try:
        images = call(ec2, "describe_images", ImageIds=[ami]).get("Images", [])
    except ClientError as exc:
        if error_code(exc) in AMI_GONE:
            # Right after CreateImage, DescribeImages may not know the AMI yet.
            return ImageState(provider_image_id=ami, state="absent", reason=error_code(exc))
        raise
    if not images:
        return ImageState(provider_image_id=ami, state="absent")
    return _state_of(images[0])


def _state_of(image: dict[str, Any]) -> ImageState:
    snapshots = [
        str(mapping["Ebs"]["SnapshotId"])
        for mapping in image.get("BlockDeviceMappings", [])
        if (mapping.get("Ebs") or {}).get("SnapshotId")
    ]
    gib = sum(
        int((mapping.get("Ebs") or {}).get("VolumeSize") or 0)
        for mapping in image.get("BlockDeviceMappings", [])
    )
    state = STATES.get(str(image.get("State")), "failed")
    reason = (image.get("StateReason") or {}).get("Message") or ""
    return ImageState(
        provider_image_id=str(image["ImageId"]),
        state=state,  # type: ignore[arg-type]
        snapshot_ids=snapshots,
        size_bytes=gib * 1024**3 if gib else None,
        reason=str(reason),
    )


def delete_image(ec2: Any, ami: str, known_snapshots: list[str]) -> None:
    current = image_state(ec2, ami)
    if current.state == "pending":
        raise ImageBusy(
            f"image {ami} is still pending in EC2; remove it once it is available or failed",
            image=ami,
        )
    snapshots = list(dict.fromkeys([*current.snapshot_ids, *known_snapshots]))
    if current.state != "absent":
        try:
            call(ec2, "deregister_image", ImageId=ami)
        except ClientError as exc:
            if error_code(exc) not in AMI_GONE:
                raise
    for snapshot in snapshots:
        try:
            call(ec2, "delete_snapshot", SnapshotId=snapshot)
        except ClientError as exc:
            if error_code(exc) not in SNAPSHOT_GONE:
                raise


def monthly_cost(size_bytes: int | None) -> float | None:
    """What the image's snapshots cost a month at most (EBS snapshots are incremental
    and compressed: the volume size bounds them)."""
    if not size_bytes:
        return None
    return round(size_bytes / 1024**3 * SNAPSHOT_USD_PER_GB_MONTH, 4)
