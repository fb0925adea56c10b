"""Lab images with the ec2 provider against moto: Keep Lab Image makes an AMI of the READY
lab's instance (CreateImage, followed until available), and Create VM of a later lab of
the same key launches that AMI (RunInstances with its id, no public image parameter read)
while Initialise VM hands the agent only the init and start steps' commands."""

from __future__ import annotations

from typing import Any

from ads import image_steps, steps
from ads.lab_images import PER_VM_STEPS
from ads.lab_record import LabStatus
from ads.providers.images import ImagePending
from tests.integration.steps.conftest import OWNER, Ec2World, hello_web_plan


def _ready_lab(world: Ec2World, lab_id: str) -> None:
    repo = world.repository
    plan = {**hello_web_plan(), "reuse_image": True}
    repo.create(repo.new_record(lab_id, OWNER, lab_name="Hello Web", plan=plan, labspec={"a": 1}))


def _moto_create_image(ec2_world: Ec2World) -> None:
    """moto's CreateImage raises NotImplementedError for snapshot tag specifications, which
    EC2 accepts (the Stubber tests pin the real call): moto gets the image's tags only."""
    real = ec2_world.ec2._client.create_image

    def create_image(**kwargs: Any) -> Any:
        specs = [s for s in kwargs["TagSpecifications"] if s["ResourceType"] == "image"]
        return real(**{**kwargs, "TagSpecifications": specs})

    ec2_world.ec2.overrides["create_image"] = create_image


def test_given_a_ready_ec2_lab_when_its_image_is_kept_then_the_next_lab_of_the_key_launches_that_ami(
    ec2_world: Ec2World,
) -> None:
    _moto_create_image(ec2_world)
    repo, provider = ec2_world.repository, ec2_world.provider()
    _ready_lab(ec2_world, "hello-a")
    first = steps.create_vm("hello-a", repo, provider)
    assert first.keep_image is True and first.from_image is None
    repo.transition("hello-a", LabStatus.HEALTH_CHECKING, private_ip="10.0.0.1")
    repo.transition("hello-a", LabStatus.READY)

    started = image_steps.keep_image("hello-a", repo, provider)
    assert started.state == "pending"
    (call,) = ec2_world.ec2.called("create_image")
    assert call["InstanceId"] == first.vm_id and call["NoReboot"] is True
    assert [s["ResourceType"] for s in call["TagSpecifications"]] == ["image", "snapshot"]
    image_id = started.image_id or ""
    try:
        done = image_steps.check_image("hello-a", repo, provider, image_id)
    except ImagePending:  # moto may answer pending once
        done = image_steps.check_image("hello-a", repo, provider, image_id)
    assert done.state == "available"
    ami = repo.images.get_by_id(image_id).provider_image_id  # type: ignore[union-attr]

    _ready_lab(ec2_world, "hello-b")
    parameters_read = len(ec2_world.ssm.called("get_parameter"))
    second = steps.create_vm("hello-b", repo, provider)

    assert second.from_image == image_id and second.keep_image is False
    run = ec2_world.ec2.called("run_instances")[-1]
    assert run["ImageId"] == ami
    assert len(ec2_world.ssm.called("get_parameter")) == parameters_read
    record = repo.require("hello-b")
    assert record.vm_details["from_image"] == image_id
    plan = steps.init_request(record).plan
    assert {s["name"] for s in plan["steps"] if s["commands"]} <= set(PER_VM_STEPS)
    assert any(s["commands"] for s in plan["steps"] if s["name"] == "start")
