"""A cohort larger than EC2's RunInstances bucket, against moto, with the bucket emulated.

EC2 throttles RunInstances with a token bucket (5 calls, refilled at 2 a second, per
account and region) and answers RequestLimitExceeded (HTTP 503) when it is empty; moto
never does. Here a bucket of the same size stands in moto's RunInstances itself, on the
server side of the wire, so botocore's own retries meet the error as they would meet
EC2's. (A client ``before-send`` hook, tried first, let some concurrent calls through
uncounted: 12 instances for 10 or 11 grants in a third of the runs, most likely botocore's
event handling shared between the threads.) Twelve
members' Create VM steps run the way DeployCohort runs them: at most the Map's
MaxConcurrency at once, each after its Pace Start, each retried on ProviderThrottled as
DeployLab's Create VM retries it (intervals scaled down). No throttle may reach a lab.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models.instances import InstanceBackend

from ads.api_models import LabSource
from ads.cohort_model import CohortMember, CohortRequest
from ads.cohorts import request_cohort
from ads.deployment_context import DeploymentContext
from ads.lab_record import LabStatus
from ads.providers.throttling import client_config
from functions.create_vm.handler import handler as create_vm
from tests.integration.steps.conftest import (
    HELLO_WEB,
    OWNER,
    REGION,
    Ec2World,
    FakeLambdaContext,
    RecordingClient,
)

ROOT = Path(__file__).resolve().parents[3]
COHORT_ASL = json.loads((ROOT / "statemachine" / "deploy_cohort.asl.json").read_text())
DEPLOY_ASL = json.loads((ROOT / "statemachine" / "deploy_lab.asl.json").read_text())
MEMBERS = 12
# The ASL's waits at 5% of their length: the bucket refills in real time all the same.
TIME_SCALE = 0.05


class TokenBucket:
    """EC2's RunInstances bucket: ``size`` tokens, ``rate`` new ones a second."""

    def __init__(self, size: int = 5, rate: float = 2.0) -> None:
        self.size, self.rate = size, rate
        self.tokens = float(size)
        self.stamp = time.monotonic()
        self.lock = threading.Lock()
        self.granted = 0
        self.refused = 0

    def take(self) -> bool:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.size, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1:
                self.tokens -= 1
                self.granted += 1
                return True
            self.refused += 1
            return False

    def drain(self) -> None:
        with self.lock:
            self.tokens, self.stamp = 0.0, time.monotonic()

    def guard(self, run_instances: Any) -> Any:
        """moto's RunInstances behind the bucket: RequestLimitExceeded when it is empty."""

        def throttled(backend: Any, *args: Any, **kwargs: Any) -> Any:
            if not self.take():
                raise RequestLimitExceeded()
            return run_instances(backend, *args, **kwargs)

        return throttled


class RequestLimitExceeded(EC2ClientError):
    code = 503  # the HTTP status EC2 answers a throttle with

    def __init__(self) -> None:
        super().__init__("RequestLimitExceeded", "Request limit exceeded.")


def _retrier(state: dict[str, Any], error: str) -> dict[str, Any]:
    (found,) = [r for r in state["Retry"] if error in r["ErrorEquals"]]
    return found


def _map_state() -> dict[str, Any]:
    return COHORT_ASL["States"]["Deploy Member Labs"]


def _create_like_deploy_lab(lab_id: str) -> dict[str, Any]:
    """Create VM, with the Pace Start before it and its ProviderThrottled retries."""
    pace = _map_state()["ItemProcessor"]["States"]["Pace Start"]["Seconds"]
    time.sleep(pace * TIME_SCALE)
    retry = _retrier(DEPLOY_ASL["States"]["Create VM"], "ProviderThrottled")
    interval = retry["IntervalSeconds"]
    for attempt in range(1, retry["MaxAttempts"] + 2):
        try:
            return create_vm({"lab_id": lab_id}, FakeLambdaContext())
        except Exception as exc:
            if type(exc).__name__ != "ProviderThrottled" or attempt > retry["MaxAttempts"]:
                raise
        time.sleep(min(interval, retry["MaxDelaySeconds"]) * TIME_SCALE)
        interval *= retry["BackoffRate"]
    raise AssertionError("unreachable")


def test_given_a_cohort_of_twelve_when_their_vms_are_created_through_a_throttling_bucket_then_every_lab_gets_its_vm_and_no_throttle_escapes(
    ec2_world: Ec2World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The step's EC2 client as ADS builds its own: botocore's standard retries first.
    ec2 = boto3.client("ec2", region_name=REGION, config=client_config())
    bucket = TokenBucket()
    monkeypatch.setattr(
        InstanceBackend, "run_instances", bucket.guard(InstanceBackend.run_instances)
    )
    ec2_world.ec2 = RecordingClient(ec2)
    sfn = boto3.client("stepfunctions", region_name=REGION)
    role = "arn:aws:iam::123456789012:role/ads-workflow"
    stand_in = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})
    machines = {
        name: sfn.create_state_machine(name=name, definition=stand_in, roleArn=role)[
            "stateMachineArn"
        ]
        for name in (f"DeployLab-{ec2_world.lab_id}", f"DeployCohort-{ec2_world.lab_id}")
    }
    deploy, cohort_machine = machines.values()
    config = ec2_world.config.model_copy(
        update={"deploy_state_machine_arn": deploy, "cohort_state_machine_arn": cohort_machine}
    )
    ctx = DeploymentContext(repository=ec2_world.repository, stepfunctions=sfn, config=config)
    request = CohortRequest(
        labspec=json.loads(HELLO_WEB.read_text()),
        source=LabSource(git="https://example.org/labs/hello-web.git"),
        members=[
            CohortMember(principal=f"arn:aws:iam::123456789012:user/t-{n:02d}")
            for n in range(MEMBERS)
        ],
    )
    _, view = request_cohort(ctx, request, caller=OWNER)
    lab_ids = [m["lab_id"] for m in view["members"]]

    # The cohort starts when the account's bucket is spent (other calls drained it): the
    # worst moment, and one that throttles however slowly this host runs the steps.
    bucket.drain()
    with ThreadPoolExecutor(max_workers=_map_state()["MaxConcurrency"]) as pool:
        results = list(pool.map(_create_like_deploy_lab, lab_ids))

    # The bucket did throttle (the emulation is in the path), and nothing leaked from it.
    assert bucket.refused > 0, "the bucket never refused a call: the test proves nothing"
    assert bucket.granted == MEMBERS
    vms = {r["vm_id"] for r in results}
    assert len(vms) == MEMBERS
    for lab_id in lab_ids:
        record = ec2_world.repository.require(lab_id)
        assert record.status == LabStatus.PROVISIONING and record.vm_id in vms
        assert not record.cause and not record.failed_step
        text = json.dumps(record.model_dump(mode="json"))
        assert "RequestLimitExceeded" not in text and "Throttl" not in text
    # Clean the module's shared moto account of this test's instances.
    ec2.terminate_instances(InstanceIds=sorted(vms))
