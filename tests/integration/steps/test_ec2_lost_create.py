"""A Create VM that dies after RunInstances, before the record learns the instance id.

The compensating Destroy VM then finds the instance only by its tag, and EC2 (eventually
consistent) may not list it yet: moto always does, so EC2's real answers are pinned
with botocore's Stubber. Until the attempt could have launched plus the launch grace
has passed, "nothing tagged with the lab" is not believed; after that it is.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.stub import ANY

from ads.config import MAX_LAUNCH_GRACE_S
from ads.lab_record import LabStatus
from ads.providers.consistency import (
    CREATE_VM_TIMEOUT_S,
    LAUNCH_ATTEMPTED_AT,
    launch_attempt_details,
    within_launch_attempt_grace,
)
from ads.providers.local import LocalProvider
from functions.create_vm.handler import handler as create_vm
from functions.destroy_vm.handler import handler as destroy_vm
from tests.integration.steps.conftest import ROOT, Ec2World
from tests.integration.steps.test_ec2_real_aws import (
    CONTEXT,
    INSTANCE_ID,
    StubbedEc2,
    _described,
    _seed_image,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def ec2(ec2_world: Ec2World) -> Iterator[StubbedEc2]:
    stubbed = StubbedEc2()
    ec2_world.ec2 = stubbed.client  # type: ignore[assignment]
    with stubbed.stub:
        yield stubbed
        stubbed.stub.assert_no_pending_responses()


class LambdaKilled(Exception):
    """The create_vm Lambda ends here (its timeout, the sandbox gone)."""


def _create_dies_after_run_instances(world: Ec2World, ec2: StubbedEc2) -> None:
    _seed_image(world)
    world.new_lab()
    ec2.launch()

    def killed(**_: Any) -> None:
        raise LambdaKilled("create_vm ended after RunInstances returned")

    ec2.client.meta.events.register("after-call.ec2.RunInstances", killed)
    with pytest.raises(LambdaKilled):
        create_vm(world.state("create_vm"), CONTEXT)
    ec2.client.meta.events.unregister("after-call.ec2.RunInstances", killed)


def test_given_create_vm_died_after_run_instances_when_ec2_lists_nothing_by_tag_yet_then_destroy_looks_again_and_terminates_it(
    ec2_world: Ec2World, ec2: StubbedEc2
) -> None:
    _create_dies_after_run_instances(ec2_world, ec2)
    record = ec2_world.repository.require(ec2_world.lab_id)
    assert ec2.run_calls and record.vm_id is None
    assert record.vm_details[LAUNCH_ATTEMPTED_AT]
    ec2.none_listed_by_tag()

    with pytest.raises(Exception) as raised:
        destroy_vm(ec2_world.state("destroy_vm"), CONTEXT)

    # DestroyInProgress is what the ASL retries; a success here would leak the instance.
    assert type(raised.value).__name__ == "DestroyInProgress"
    assert "no VM recorded" in str(raised.value)

    # The retry: EC2 now lists the instance by its tag; it is terminated and confirmed.
    ec2.stub.add_response("describe_instances", _described("running"), {"Filters": ANY})
    ec2.terminate_accepted()
    ec2.describe("terminated")
    assert destroy_vm(ec2_world.state("destroy_vm"), CONTEXT) == {
        "vm_id": INSTANCE_ID,
        "state": "terminated",
    }


def test_given_create_vm_started_long_ago_and_recorded_no_vm_when_nothing_is_tagged_then_destroy_is_confirmed(
    ec2_world: Ec2World, ec2: StubbedEc2
) -> None:
    ec2_world.new_lab()
    long_ago = datetime.now(UTC) - timedelta(seconds=CREATE_VM_TIMEOUT_S + MAX_LAUNCH_GRACE_S)
    ec2_world.repository.transition(
        ec2_world.lab_id,
        LabStatus.PROVISIONING,
        provider="ec2",
        vm_details={LAUNCH_ATTEMPTED_AT: long_ago.isoformat()},
    )
    ec2.none_listed_by_tag()

    assert destroy_vm(ec2_world.state("destroy_vm"), CONTEXT) == {"vm_id": None, "state": "absent"}


def test_given_a_lab_create_vm_never_started_when_nothing_is_tagged_then_destroy_is_confirmed(
    ec2_world: Ec2World, ec2: StubbedEc2
) -> None:
    ec2_world.new_lab()
    ec2.none_listed_by_tag()

    assert destroy_vm(ec2_world.state("destroy_vm"), CONTEXT) == {"vm_id": None, "state": "absent"}


@pytest.mark.parametrize(
    ("seconds_ago", "inside"),
    [(0, True), (CREATE_VM_TIMEOUT_S + 119, True), (CREATE_VM_TIMEOUT_S + 120, False)],
)
def test_given_a_create_attempt_when_its_age_is_weighed_then_the_window_is_the_create_timeout_plus_the_grace(
    seconds_ago: int, inside: bool
) -> None:
    details = {LAUNCH_ATTEMPTED_AT: (NOW - timedelta(seconds=seconds_ago)).isoformat()}

    assert within_launch_attempt_grace(details, 120, now=NOW) is inside
    assert within_launch_attempt_grace({}, 120, now=NOW) is False


def test_given_a_provider_that_lists_vms_at_once_when_create_starts_then_no_attempt_is_kept() -> (
    None
):
    assert launch_attempt_details(LocalProvider.__new__(LocalProvider)) == {}


def _retry_budget_s(retrier: dict[str, Any]) -> float:
    interval, total = float(retrier["IntervalSeconds"]), 0.0
    for _ in range(retrier["MaxAttempts"]):
        total += min(interval, retrier.get("MaxDelaySeconds", interval))
        interval *= retrier["BackoffRate"]
    return total


@pytest.mark.parametrize("name", ["deploy_lab.asl.json", "destroy_lab.asl.json"])
def test_given_a_lost_create_when_destroy_looks_again_then_the_asl_retries_outlast_the_longest_window(
    name: str,
) -> None:
    definition = json.loads((ROOT / "statemachine" / name).read_text())
    [retrier] = [
        r
        for r in definition["States"]["Destroy VM"]["Retry"]
        if "DestroyInProgress" in r["ErrorEquals"]
    ]

    assert _retry_budget_s(retrier) > CREATE_VM_TIMEOUT_S + MAX_LAUNCH_GRACE_S


def test_given_every_launch_refused_when_create_vm_fails_then_destroy_is_confirmed_at_once(
    ec2_world: Ec2World,
) -> None:
    from botocore.exceptions import ClientError

    _seed_image(ec2_world)
    ec2_world.new_lab()

    def no_capacity(**_: Any) -> Any:
        raise ClientError(
            {"Error": {"Code": "InsufficientInstanceCapacity", "Message": "none left"}},
            "RunInstances",
        )

    ec2_world.ec2.overrides["run_instances"] = no_capacity
    with pytest.raises(Exception) as raised:
        create_vm(ec2_world.state("create_vm"), CONTEXT)
    assert type(raised.value).__name__ == "VmCreateFailed"

    # Nothing was launched, so nothing can show up by its tag later: no launch window.
    record = ec2_world.repository.require(ec2_world.lab_id)
    assert LAUNCH_ATTEMPTED_AT not in record.vm_details
    assert destroy_vm(ec2_world.state("destroy_vm"), CONTEXT) == {"vm_id": None, "state": "absent"}
