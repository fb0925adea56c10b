"""Lab images against moto's DynamoDB, with a provider that makes its images the way EC2
does (pending, then available or failed): the image steps and the image requests.

Keep Lab Image claims the key once (a retried step carries on with its own claim, another
lab's deploy of the key keeps none); Wait For Lab Image raises ImagePending until the
image is available; Lab Image Not Kept finds the lab's claim by its key and records the
cause; image items never show up as labs. GET /images shows a caller their own images
(an admin all); DELETE /images refuses an image being made, answers 404 to another owner,
asks the provider to remove the AMI with its snapshots and forgets the image only then.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto import mock_aws

from ads.config import AdsConfig
from ads.deployment_context import DeploymentContext
from ads.errors import AdsError
from ads.image_requests import ImageNotFoundError, ImageRemovalFailed, list_images, remove_image
from ads.image_steps import check_image, image_not_kept, keep_image, source_image
from ads.lab_images import image_key
from ads.lab_record import LabStatus
from ads.labs_table import create_table
from ads.providers.base import VmInfo
from ads.providers.images import ImageBusy, ImagePending, ImageState
from ads.records import LabRepository

ALICE = "arn:aws:iam::123456789012:user/alice"
BOB = "arn:aws:iam::123456789012:user/bob"
ADMIN = "arn:aws:iam::123456789012:role/ads-admin"
LABSPEC = {"template": "1.0", "lab": {"description": {"name": "Slow"}}}
PLAN = {"image": {"ssm_parameter": "/aws/service/canonical/ubuntu"}, "arch": "x86_64"}


class AmiProvider:
    """Images made asynchronously, as EC2 makes AMIs; every call is remembered."""

    name = "ec2"

    def __init__(self) -> None:
        self.states: list[str] = ["pending", "available"]
        self.calls: list[tuple[str, Any]] = []
        self.refuse_delete = False

    def create_image(self, lab_id: str, vm: VmInfo, image_id: str, tags: dict[str, str]) -> Any:
        self.calls.append(("create", (lab_id, vm.vm_id, image_id, tags)))
        return ImageState(provider_image_id="ami-1", state="pending")

    def image_state(self, provider_image_id: str) -> ImageState:
        state = self.states.pop(0)
        self.calls.append(("state", state))
        return ImageState(
            provider_image_id=provider_image_id,
            state=state,  # type: ignore[arg-type]
            snapshot_ids=["snap-1"] if state == "available" else [],
            size_bytes=8 * 1024**3 if state == "available" else None,
            reason="out of capacity" if state == "failed" else "",
        )

    def delete_image(self, provider_image_id: str, snapshot_ids: list[str]) -> None:
        self.calls.append(("delete", (provider_image_id, snapshot_ids)))
        if self.refuse_delete:
            raise RuntimeError("DeleteSnapshot: InvalidSnapshot.InUse")

    # the rest of ComputeProvider is not used by these steps
    def create_vm(self, *_: Any) -> Any:
        raise NotImplementedError


@pytest.fixture
def repo() -> Any:
    with mock_aws():
        create_table(boto3.client("dynamodb", region_name="us-east-1"), "labs")
        yield LabRepository.from_name("labs", "us-east-1")


def _ready_lab(repo: LabRepository, lab_id: str, owner: str = ALICE) -> None:
    repo.create(
        repo.new_record(
            lab_id,
            owner,
            lab_name="Slow",
            plan={**PLAN, "reuse_image": True, "cost_tags": {"ads:lab-id": lab_id}},
            labspec=LABSPEC,
        )
    )
    repo.transition(lab_id, LabStatus.PROVISIONING, vm_id="i-1", agent_port=9089, provider="ec2")
    repo.transition(lab_id, LabStatus.HEALTH_CHECKING, private_ip="10.0.0.1")
    repo.transition(lab_id, LabStatus.READY)


def _ctx(repo: LabRepository) -> DeploymentContext:
    config = AdsConfig(admin_principals=(ADMIN,), provider="ec2")
    return DeploymentContext(repository=repo, stepfunctions=None, config=config)


def test_given_an_ami_being_made_when_followed_then_pending_until_available_and_a_later_deploy_finds_it(
    repo: LabRepository,
) -> None:
    provider = AmiProvider()
    _ready_lab(repo, "slow-1")

    started = keep_image("slow-1", repo, provider)  # type: ignore[arg-type]

    assert started.state == "pending"
    [(_, (lab_id, vm_id, image_id, tags))] = provider.calls
    assert (lab_id, vm_id, image_id) == ("slow-1", "i-1", started.image_id)
    assert tags["ads:lab-id"] == "slow-1" and "ads:image-key" in tags
    with pytest.raises(ImagePending):
        check_image("slow-1", repo, provider, started.image_id or "")  # type: ignore[arg-type]
    done = check_image("slow-1", repo, provider, started.image_id or "")  # type: ignore[arg-type]
    assert done.state == "available"
    # Keep Lab Image retried after its image was made starts nothing more.
    assert keep_image("slow-1", repo, provider).state == "available"  # type: ignore[arg-type]
    assert [c[0] for c in provider.calls].count("create") == 1
    [image] = repo.images.list()
    assert (image.image_state, image.snapshot_ids) == ("available", ["snap-1"])
    assert image.storage_monthly_cost_usd == 0.4
    # Image items are not labs: the admin listing of labs does not see them.
    assert [r.lab_id for r in repo.list_all()[0]] == ["slow-1"]

    _ready_lab(repo, "slow-2")
    record = repo.require("slow-2")
    assert source_image(repo.images, record, provider).image_id == image.image_id  # type: ignore[arg-type,union-attr]
    # Another lab of the key keeps none: the key has its image.
    assert keep_image("slow-2", repo, provider).state == "exists"  # type: ignore[arg-type]
    # Another owner's lab of the same labspec has a key of its own.
    _ready_lab(repo, "slow-3", owner=BOB)
    assert source_image(repo.images, repo.require("slow-3"), provider) is None  # type: ignore[arg-type]


def test_given_keep_lab_image_retried_when_its_claim_exists_then_it_carries_on_with_it(
    repo: LabRepository,
) -> None:
    provider = AmiProvider()
    _ready_lab(repo, "slow-1")
    first = keep_image("slow-1", repo, provider)  # type: ignore[arg-type]
    again = keep_image("slow-1", repo, provider)  # type: ignore[arg-type]
    assert (again.image_id, again.state) == (first.image_id, "pending")
    assert [c[0] for c in provider.calls] == ["create"]


def test_given_the_ami_failed_when_not_kept_then_the_cause_is_on_the_image_and_the_key_may_be_taken_again(
    repo: LabRepository,
) -> None:
    provider = AmiProvider()
    provider.states = ["failed"]
    _ready_lab(repo, "slow-1")
    started = keep_image("slow-1", repo, provider)  # type: ignore[arg-type]
    with pytest.raises(AdsError) as failed:
        check_image("slow-1", repo, provider, started.image_id or "")  # type: ignore[arg-type]
    cause = '{"errorMessage": "' + failed.value.message + '", "errorType": "ImageFailed"}'

    # The workflow's Lab Image Not Kept does not pass the image id: the key finds it.
    result = image_not_kept(
        "slow-1",
        repo,
        provider,
        None,
        {"Error": "ImageFailed", "Cause": cause},  # type: ignore[arg-type]
    )

    assert result.state == "failed"
    [image] = repo.images.list()
    assert image.image_state == "failed"
    assert image.failure == "ImageFailed: image ami-1 failed: out of capacity"
    record = repo.require("slow-1")
    assert record.status == LabStatus.READY
    assert source_image(repo.images, record, provider) is None  # type: ignore[arg-type]
    _ready_lab(repo, "slow-2")
    assert keep_image("slow-2", repo, provider).state == "pending"  # type: ignore[arg-type]


def test_given_images_of_two_owners_when_listed_then_each_sees_theirs_and_an_admin_all(
    repo: LabRepository,
) -> None:
    provider = AmiProvider()
    for lab_id, owner in (("slow-1", ALICE), ("slow-2", BOB)):
        _ready_lab(repo, lab_id, owner)
        keep_image(lab_id, repo, provider)  # type: ignore[arg-type]
    ctx = _ctx(repo)

    assert [i["source_lab_id"] for i in list_images(ctx, caller=ALICE)["images"]] == ["slow-1"]
    assert {i["source_lab_id"] for i in list_images(ctx, caller=ADMIN)["images"]} == {
        "slow-1",
        "slow-2",
    }


def test_given_an_image_when_removed_then_only_its_owner_or_an_admin_may_and_the_provider_removes_it_first(
    repo: LabRepository,
) -> None:
    provider = AmiProvider()
    _ready_lab(repo, "slow-1")
    image_id = keep_image("slow-1", repo, provider).image_id or ""  # type: ignore[arg-type]
    repo.images.update(
        image_key(repo.require("slow-1"), "none", "ec2"),
        image_state="available",
        snapshot_ids=["snap-1"],
    )
    ctx = _ctx(repo)

    with pytest.raises(ImageNotFoundError):
        remove_image(ctx, image_id, caller=BOB, provider=provider)
    with pytest.raises(ImageNotFoundError, match="allowed: an id listed by GET /images"):
        remove_image(ctx, "ami-1", caller=ALICE, provider=provider)
    provider.refuse_delete = True
    with pytest.raises(ImageRemovalFailed, match="nothing was forgotten"):
        remove_image(ctx, image_id, caller=ALICE, provider=provider)
    assert repo.images.get_by_id(image_id) is not None
    provider.refuse_delete = False

    removed = remove_image(ctx, image_id, caller=ADMIN, provider=provider)

    assert removed == {
        "image_id": image_id,
        "removed": True,
        "provider_image_id": "ami-1",
        "snapshot_ids": ["snap-1"],
    }
    assert provider.calls[-1] == ("delete", ("ami-1", ["snap-1"]))
    assert repo.images.get_by_id(image_id) is None
    with pytest.raises(ImageNotFoundError):  # removed once: a second removal finds nothing
        remove_image(ctx, image_id, caller=ADMIN, provider=provider)
    # The key is free again: the lab's next healthy deploy may keep a new image of it.
    assert keep_image("slow-1", repo, provider).image_id == image_id  # type: ignore[arg-type]
    assert repo.images.get_by_id(image_id) is not None


def test_given_an_image_being_made_when_removed_then_409_and_it_is_kept(
    repo: LabRepository,
) -> None:
    provider = AmiProvider()
    _ready_lab(repo, "slow-1")
    image_id = keep_image("slow-1", repo, provider).image_id or ""  # type: ignore[arg-type]
    repo.images.update(image_key(repo.require("slow-1"), "none", "ec2"), image_state="creating")

    with pytest.raises(ImageBusy) as busy:
        remove_image(_ctx(repo), image_id, caller=ALICE, provider=provider)

    assert busy.value.http_status == 409
    assert repo.images.get_by_id(image_id) is not None


def test_given_a_claim_left_creating_by_a_step_that_died_when_old_then_the_key_is_free_and_it_can_be_removed(
    repo: LabRepository,
) -> None:
    provider = AmiProvider()
    _ready_lab(repo, "slow-1")
    image_id = keep_image("slow-1", repo, provider).image_id or ""  # type: ignore[arg-type]
    key = image_key(repo.require("slow-1"), "none", "ec2")
    repo.images.update(key, image_state="creating")
    _ready_lab(repo, "slow-2")
    assert keep_image("slow-2", repo, provider).state == "exists"  # type: ignore[arg-type]

    # The claim's last write is older than any Keep Lab Image task may run.
    repo._table.update_item(
        Key={"lab_id": f"image#{key}"},
        UpdateExpression="SET updated_at = :old",
        ExpressionAttributeValues={":old": "2020-01-01T00:00:00.000Z"},
    )

    assert keep_image("slow-2", repo, provider).state == "pending"  # type: ignore[arg-type]
    assert repo.images.get(key).source_lab_id == "slow-2"  # type: ignore[union-attr]
    repo._table.update_item(
        Key={"lab_id": f"image#{key}"},
        UpdateExpression="SET updated_at = :old, image_state = :creating",
        ExpressionAttributeValues={":old": "2020-01-01T00:00:00.000Z", ":creating": "creating"},
    )
    assert remove_image(_ctx(repo), image_id, caller=ALICE, provider=provider)["removed"]
