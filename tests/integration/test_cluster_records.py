"""The per-VM entries of a cluster lab's record against moto's DynamoDB (nested SETs on
``vms.<name>``), and DynamoDB's refusal of a VM the lab does not have, pinned by Stubber."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from ads.cluster_model import VmStatus
from ads.cluster_records import ClusterVmNotFound, VmEntries, VmEntryChanged, VmEntryDestroyed
from ads.labs_table import create_table, from_dynamo

LAB = "two-roles-01jclusterrecords0000000"
NOW = datetime(2026, 12, 2, 6, 0, 0, tzinfo=UTC)


@pytest.fixture
def table() -> Any:
    with mock_aws():
        create_table(boto3.client("dynamodb", region_name="us-east-1"), "labs")
        table = boto3.resource("dynamodb", region_name="us-east-1").Table("labs")
        table.put_item(
            Item={
                "lab_id": LAB,
                "owner": "arn:aws:iam::123456789012:user/alice",
                "status": "PROVISIONING",
                "created_at": "2026-12-02T05:59:00.000Z",
                "updated_at": "2026-12-02T05:59:00.000Z",
                "vms": {
                    "db-1": {"name": "db-1", "role": "db", "status": "PENDING"},
                    "web-1": {"name": "web-1", "role": "web", "status": "PENDING"},
                },
            }
        )
        yield table


def _item(table: Any) -> dict[str, Any]:
    return from_dynamo(table.get_item(Key={"lab_id": LAB}, ConsistentRead=True)["Item"])


def test_given_a_cluster_lab_when_one_vm_is_updated_then_only_its_entry_changes(table: Any) -> None:
    entries = VmEntries(table, clock=lambda: NOW)

    entries.update_vm(
        LAB,
        "web-1",
        status=VmStatus.RUNNING.value,
        vm_id="i-0abc",
        agent_port=9089,
        vm_details={"subnet": "s-1", "lab_ports": [8080]},
    )

    item = _item(table)
    assert item["vms"]["web-1"] == {
        "name": "web-1",
        "role": "web",
        "status": "RUNNING",
        "vm_id": "i-0abc",
        "agent_port": 9089,
        "vm_details": {"subnet": "s-1", "lab_ports": [8080]},
        "updated_at": "2026-12-02T06:00:00.000Z",
    }
    assert item["vms"]["db-1"] == {"name": "db-1", "role": "db", "status": "PENDING"}
    # The lab's own status is untouched; its updated_at says something happened.
    assert item["status"] == "PROVISIONING"
    assert item["updated_at"] == "2026-12-02T06:00:00.000Z"


def test_given_several_vms_when_updated_in_one_write_then_every_entry_changes(table: Any) -> None:
    VmEntries(table).update_vms(
        LAB, {"db-1": {"status": "DESTROYED"}, "web-1": {"status": "DESTROYED"}}
    )

    assert {name: e["status"] for name, e in _item(table)["vms"].items()} == {
        "db-1": "DESTROYED",
        "web-1": "DESTROYED",
    }


def test_given_a_vm_the_lab_does_not_have_when_updated_then_it_is_refused_and_nothing_is_written(
    table: Any,
) -> None:
    before = _item(table)

    with pytest.raises(ClusterVmNotFound, match="has no VM named web-7"):
        VmEntries(table).update_vm(LAB, "web-7", status="RUNNING")
    with pytest.raises(ClusterVmNotFound):
        VmEntries(table).update_vms(LAB, {"db-1": {"status": "HEALTHY"}, "web-7": {}})

    assert _item(table) == before


def test_given_a_lab_that_does_not_exist_when_a_vm_is_updated_then_it_is_refused_not_created(
    table: Any,
) -> None:
    with pytest.raises(ClusterVmNotFound):
        VmEntries(table).update_vm("no-such-lab", "db-1", status="RUNNING")

    assert "Item" not in table.get_item(Key={"lab_id": "no-such-lab"})


def test_given_a_field_an_entry_does_not_have_when_updated_then_it_is_refused_before_any_write(
    table: Any,
) -> None:
    with pytest.raises(ValueError, match=r"vms.db-1: found fields \['status_history'\]"):
        VmEntries(table).update_vm(LAB, "db-1", status_history=[])


def _stubbed_table() -> Any:
    return boto3.resource(
        "dynamodb",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).Table("labs")


# The item AWS returns with the refusal (ReturnValuesOnConditionCheckFailure=ALL_OLD), in
# DynamoDB's low-level form: the resource layer does not deserialise error responses.
WITHOUT_WEB_3 = {
    "lab_id": {"S": LAB},
    "vms": {"M": {"db-1": {"M": {"name": {"S": "db-1"}, "status": {"S": "PENDING"}}}}},
}
WEB_3_DESTROYED = {
    "lab_id": {"S": LAB},
    "vms": {"M": {"web-3": {"M": {"name": {"S": "web-3"}, "status": {"S": "DESTROYED"}}}}},
}


@pytest.mark.parametrize(
    ("item", "refusal", "says"),
    [
        (None, ClusterVmNotFound, "lab two-roles-01jclusterrecords0000000 has no VM named web-3"),
        (WITHOUT_WEB_3, ClusterVmNotFound, "has no VM named web-3"),
        (WEB_3_DESTROYED, VmEntryDestroyed, "VM web-3 is DESTROYED already"),
    ],
)
def test_given_dynamodb_refuses_the_condition_when_updated_then_the_item_it_returns_says_why(
    item: dict[str, Any] | None, refusal: type[Exception], says: str
) -> None:
    # What AWS answers for a nested SET whose entry is absent: the condition fails (moto
    # agrees, but AWS would refuse the SET itself without the condition: "The document
    # path provided in the update expression is invalid for update"). A status write is
    # also conditioned on the entry not being DESTROYED. AWS sends no item for a lab that
    # does not exist.
    table = _stubbed_table()
    with Stubber(table.meta.client) as stub:
        stub.add_client_error(
            "update_item",
            service_error_code="ConditionalCheckFailedException",
            service_message="The conditional request failed",
            http_status_code=400,
            modeled_fields={} if item is None else {"Item": item},
            expected_params={
                "TableName": "labs",
                "Key": {"lab_id": LAB},
                "UpdateExpression": "SET #lab_updated = :now, #vms.#n0.#f0_0 = :v0_0, "
                "#vms.#n0.#f0_1 = :v0_1",
                "ConditionExpression": "attribute_exists(#vms.#n0) AND "
                "#vms.#n0.#status <> :destroyed",
                "ExpressionAttributeNames": {
                    "#vms": "vms",
                    "#lab_updated": "updated_at",
                    "#n0": "web-3",
                    "#status": "status",
                    "#f0_0": "status",
                    "#f0_1": "updated_at",
                },
                "ExpressionAttributeValues": ANY,
                "ReturnValues": "NONE",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            },
        )
        with pytest.raises(refusal) as refused:
            VmEntries(table, clock=lambda: NOW).update_vm(LAB, "web-3", status="HEALTHY")
        stub.assert_no_pending_responses()

    assert refused.value.details == {"lab_id": LAB, "vm_names": ["web-3"]}  # type: ignore[attr-defined]
    assert says in str(refused.value)


def test_given_a_destroyed_vm_when_a_late_step_writes_its_status_then_it_is_refused_and_kept(
    table: Any,
) -> None:
    entries = VmEntries(table, clock=lambda: NOW)
    entries.update_vms(LAB, {"web-1": {"status": "DESTROYED"}})
    before = _item(table)

    with pytest.raises(VmEntryDestroyed, match="VM web-1 is DESTROYED already"):
        entries.update_vm(LAB, "web-1", status=VmStatus.RUNNING.value, private_ip="10.0.0.9")
    with pytest.raises(VmEntryDestroyed, match="VM web-1 is DESTROYED"):
        entries.update_vms(LAB, {"db-1": {"status": "HEALTHY"}, "web-1": {"status": "FAILED"}})

    assert _item(table) == before
    # What does not change the status still lands: the failure's cause, a second DESTROYED.
    entries.update_vm(LAB, "web-1", cause="web-1: Initialise VM (web-1) failed")
    entries.update_vm(LAB, "web-1", status="DESTROYED")
    assert _item(table)["vms"]["web-1"]["cause"] == "web-1: Initialise VM (web-1) failed"
    assert _item(table)["vms"]["web-1"]["status"] == "DESTROYED"


def test_given_an_entry_read_without_a_vm_when_it_got_one_since_then_marking_it_destroyed_is_refused(
    table: Any,
) -> None:
    # Destroy VM found no VM for web-1; a late Create VM recorded one before its write.
    entries = VmEntries(table, clock=lambda: NOW)
    entries.update_vm(LAB, "web-1", status="CREATING", vm_id="i-0late")
    gone = {"db-1": {"status": "DESTROYED"}, "web-1": {"status": "DESTROYED"}}

    with pytest.raises(VmEntryChanged, match="VM web-1 got an instance while being destroyed"):
        entries.update_vms(LAB, gone, vm_less=["db-1", "web-1"])

    assert {n: e["status"] for n, e in _item(table)["vms"].items()} == {
        "db-1": "PENDING",
        "web-1": "CREATING",
    }
    # Still without one (db-1), or a vm_id recorded as null: the write lands.
    entries.update_vm(LAB, "web-1", vm_id=None)
    entries.update_vms(LAB, gone, vm_less=["db-1", "web-1"])
    assert {n: e["status"] for n, e in _item(table)["vms"].items()} == dict.fromkeys(
        ("db-1", "web-1"), "DESTROYED"
    )


def test_given_dynamodb_fails_otherwise_when_updated_then_the_error_is_not_taken_for_a_missing_vm() -> (
    None
):
    from botocore.exceptions import ClientError

    table = _stubbed_table()
    with Stubber(table.meta.client) as stub:
        stub.add_client_error(
            "update_item",
            service_error_code="ValidationException",
            service_message="The document path provided in the update expression is invalid",
            http_status_code=400,
        )
        with pytest.raises(ClientError, match="ValidationException"):
            VmEntries(table).update_vm(LAB, "web-1", status="HEALTHY")
