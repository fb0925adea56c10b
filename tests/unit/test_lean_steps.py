"""Lean steps: what a step asks DynamoDB for, and the clients a handler builds.

Stubber pins the requests themselves (moto answers a whole item whatever is asked, so
only the request shows whether a step projects its read and narrows its write's
answer); the client getters are raced from many threads, as the local plane runs them.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from ads import steps
from ads.built_once import built_once
from ads.config import AdsConfig
from ads.providers.base import VmInfo, VmState
from ads.record_projection import STEP_READ, projection
from ads.records import LabRepository

REGION = "us-east-1"
LAB = "hello-web-01jlean"


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


@pytest.fixture
def table() -> Any:
    return boto3.resource("dynamodb", region_name=REGION).Table("labs")


class RunningVm:
    """A provider whose VM runs: Wait Until Running has nothing to wait for."""

    name = "local"

    def describe_vm(self, vm_id: str) -> VmState:
        return VmState(vm_id=vm_id, state="running", private_ip="127.0.0.1")

    def health_url(self, vm: VmInfo) -> str:
        return f"http://127.0.0.1:{vm.agent_port}/health"


def _item() -> dict[str, Any]:
    return {
        "lab_id": {"S": LAB},
        "owner": {"S": "arn:aws:iam::123456789012:user/alice"},
        "created_at": {"S": "2026-12-01T00:00:00Z"},
        "updated_at": {"S": "2026-12-01T00:00:01Z"},
        "status": {"S": "PROVISIONING"},
        "vm_id": {"S": "local-1"},
        "provider": {"S": "local"},
        "agent_port": {"N": "41000"},
    }


def test_given_wait_running_when_it_reads_the_lab_then_only_the_step_attributes_are_asked_for_and_its_write_answers_nothing(
    table: Any,
) -> None:
    read = projection(STEP_READ)
    assert "labspec" not in read["ExpressionAttributeNames"].values()
    assert "status_history" not in read["ExpressionAttributeNames"].values()
    with Stubber(table.meta.client) as stub:
        stub.add_response(
            "get_item",
            {"Item": _item()},
            {
                "TableName": "labs",
                "Key": {"lab_id": LAB},
                "ConsistentRead": True,
                **read,
            },
        )
        stub.add_response(
            "update_item",
            {},
            {
                "TableName": "labs",
                "Key": {"lab_id": LAB},
                "UpdateExpression": ANY,
                "ConditionExpression": ANY,
                "ExpressionAttributeNames": ANY,
                "ExpressionAttributeValues": ANY,
                "ReturnValues": "NONE",
            },
        )
        provider: Any = RunningVm()
        result = steps.wait_running(LAB, LabRepository(table), provider, launch_grace_s=30)
        stub.assert_no_pending_responses()
    assert result.endpoint == "http://127.0.0.1:41000"


def test_given_a_move_to_a_status_that_releases_quota_when_written_then_the_record_comes_back_for_its_hold(
    table: Any,
) -> None:
    # DESTROYED releases the owner's quota share: the write must answer the quota hold,
    # which ReturnValues NONE would not.
    with Stubber(table.meta.client) as stub:
        stub.add_response(
            "update_item",
            {"Attributes": {**_item(), "status": {"S": "DESTROYED"}}},
            {
                "TableName": "labs",
                "Key": {"lab_id": LAB},
                "UpdateExpression": ANY,
                "ConditionExpression": ANY,
                "ExpressionAttributeNames": ANY,
                "ExpressionAttributeValues": ANY,
                "ReturnValues": "ALL_NEW",
            },
        )
        LabRepository(table).move(LAB, "DESTROYED", note="destroyed")
        stub.assert_no_pending_responses()


def test_given_many_threads_when_they_first_ask_for_a_built_once_value_together_then_it_is_built_once() -> (
    None
):
    built: list[int] = []

    @built_once(maxsize=2)
    def client(name: str) -> object:
        built.append(1)
        time.sleep(0.05)  # long enough for every thread to miss at once
        return object()

    gate = threading.Barrier(16)

    def first_call(_: int) -> object:
        gate.wait()
        return client("dynamodb")

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(first_call, range(16)))
    assert len(built) == 1
    assert all(answer is answers[0] for answer in answers)


def test_given_concurrent_first_steps_when_they_ask_for_the_repository_then_one_is_built_and_no_other_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[str] = []
    real = LabRepository.from_name

    def counted(table_name: str, region: str, session: Any = None) -> LabRepository:
        built.append("dynamodb")
        time.sleep(0.05)
        return real(table_name, region, session)

    monkeypatch.setattr(LabRepository, "from_name", staticmethod(counted))
    steps.dependencies_for.cache_clear()
    config = AdsConfig(provider="local", region=REGION, table_name="labs")
    gate = threading.Barrier(12)

    def step(_: int) -> LabRepository:
        gate.wait()
        return steps.dependencies_for(config).repository

    try:
        with ThreadPoolExecutor(12) as pool:
            repositories = list(pool.map(step, range(12)))
        deps = steps.dependencies_for(config)
        assert built == ["dynamodb"]
        assert all(r is repositories[0] for r in repositories)
        # A step that reads and writes its record built no provider and no events client.
        assert set(deps._parts) == {"session", "repository"}
    finally:
        steps.dependencies_for.cache_clear()
