"""Lab records outlive the local plane's process: every write to the labs table reaches SQLite.

In-process planes over moto (no daemon): the file is read while the first plane still
runs, which is all a `kill -9` would leave behind.
"""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path

import pytest

from ads.lab_record import LabStatus
from ads.local.record_store import keys_written
from ads.local.runtime import TABLE_NAME, LocalControlPlane

OWNER = "arn:aws:iam::123456789012:user/local"


def _stored(path: Path) -> dict[str, dict]:
    # A second connection, as the next process would open it.
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT key, item FROM items").fetchall()
    return {key: json.loads(item) for key, item in rows}


def test_given_a_durable_plane_when_records_change_then_the_file_has_each_change_before_any_stop(
    tmp_path: Path,
):
    records = tmp_path / "state" / "records.sqlite3"
    with LocalControlPlane(tmp_path / "plane-1", records_file=records) as plane:
        repository = plane.repository()
        repository.create(repository.new_record("lab-a-01", OWNER, lab_name="A"))
        repository.transition("lab-a-01", LabStatus.PROVISIONING, note="creating the VM")
        assert repository.idempotency_keys.claim(OWNER, "key-1", "lab-a-01") is None
        repository.create(repository.new_record("lab-b-01", OWNER))
        plane.client("dynamodb").delete_item(
            TableName=TABLE_NAME, Key={"lab_id": {"S": "lab-b-01"}}
        )

        stored = _stored(records)
        assert stored["lab-a-01"]["status"] == {"S": "PROVISIONING"}
        assert len(stored["lab-a-01"]["status_history"]["L"]) == 2
        assert "lab-b-01" not in stored
        assert any(key.startswith("idempotency#") for key in stored)
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in records.parent.iterdir()}
        assert set(modes.values()) == {0o600}, modes
        assert stat.S_IMODE(records.parent.stat().st_mode) == 0o700

    with LocalControlPlane(tmp_path / "plane-2", records_file=records) as plane:
        repository = plane.repository()
        record = repository.require("lab-a-01")
        # A clean stop recorded that the deployment in flight ended with the plane.
        assert record.status == LabStatus.FAILED
        assert "the local control plane stopped during Create VM" in (record.cause or "")
        assert [c.status for c in record.status_history][:2] == [
            LabStatus.REQUESTED,
            LabStatus.PROVISIONING,
        ]
        assert repository.idempotency_keys.claim(OWNER, "key-1", "other") == "lab-a-01"
        assert repository.list_for_owner(OWNER)[0][0].lab_id == "lab-a-01"
        assert plane.restored_records == 2


def test_given_a_plane_without_a_records_file_when_it_runs_then_nothing_is_persisted(
    tmp_path: Path,
):
    with LocalControlPlane(tmp_path / "plane") as plane:
        assert plane.record_store is None
        plane.repository().create(plane.repository().new_record("lab-c-01", OWNER))
    assert not list(tmp_path.rglob("*.sqlite3"))


@pytest.mark.parametrize(
    ("operation", "params", "expected"),
    [
        ("PutItem", {"TableName": TABLE_NAME, "Item": {"lab_id": "a"}}, ["a"]),
        ("PutItem", {"TableName": TABLE_NAME, "Item": {"lab_id": {"S": "a"}}}, ["a"]),
        ("PutItem", {"TableName": "another-table", "Item": {"lab_id": "a"}}, []),
        ("UpdateItem", {"TableName": TABLE_NAME, "Key": {"lab_id": {"S": "b"}}}, ["b"]),
        ("DeleteItem", {"TableName": TABLE_NAME, "Key": {"lab_id": "c"}}, ["c"]),
        (
            "BatchWriteItem",
            {
                "RequestItems": {
                    TABLE_NAME: [
                        {"PutRequest": {"Item": {"lab_id": "d"}}},
                        {"DeleteRequest": {"Key": {"lab_id": "e"}}},
                    ],
                    "another-table": [{"PutRequest": {"Item": {"lab_id": "x"}}}],
                }
            },
            ["d", "e"],
        ),
        (
            "TransactWriteItems",
            {
                "TransactItems": [
                    {"Put": {"TableName": TABLE_NAME, "Item": {"lab_id": "f"}}},
                    {"Update": {"TableName": TABLE_NAME, "Key": {"lab_id": "f"}}},
                    {"ConditionCheck": {"TableName": TABLE_NAME, "Key": {"lab_id": "g"}}},
                ]
            },
            ["f"],
        ),
    ],
)
def test_given_a_dynamodb_write_when_its_keys_are_read_then_only_the_labs_tables_are_named(
    operation, params, expected
):
    assert keys_written(TABLE_NAME, operation, params) == expected


def test_given_a_record_of_every_attribute_type_when_it_is_persisted_then_the_file_holds_what_getitem_answers(
    tmp_path: Path,
):
    # The store reads the item from moto's table, not through GetItem: the two must agree.
    records = tmp_path / "records.sqlite3"
    with LocalControlPlane(tmp_path / "plane", records_file=records) as plane:
        client = plane.client("dynamodb")
        item = {
            "lab_id": {"S": "lab-types-01"},
            "count": {"N": "42"},
            "ratio": {"N": "0.25"},
            "flag": {"BOOL": False},
            "nothing": {"NULL": True},
            "tags": {"SS": ["a", "b"]},
            "plan": {"M": {"ports": {"L": [{"N": "8080"}, {"S": "x"}]}, "os": {"M": {}}}},
            "history": {"L": [{"M": {"status": {"S": "REQUESTED"}, "at": {"S": "t"}}}]},
        }
        client.put_item(TableName=TABLE_NAME, Item=item)
        client.update_item(
            TableName=TABLE_NAME,
            Key={"lab_id": {"S": "lab-types-01"}},
            UpdateExpression="SET #c = #c + :one",
            ExpressionAttributeNames={"#c": "count"},
            ExpressionAttributeValues={":one": {"N": "1"}},
        )

        answered = client.get_item(TableName=TABLE_NAME, Key={"lab_id": {"S": "lab-types-01"}})
        stored = _stored(records)["lab-types-01"]
        assert stored == answered["Item"]
        assert stored["count"] == {"N": "43"}


def test_given_writes_inside_an_invocation_when_it_ends_then_all_of_them_are_on_disk(
    tmp_path: Path,
):
    records = tmp_path / "records.sqlite3"
    with LocalControlPlane(tmp_path / "plane", records_file=records) as plane:
        repository = plane.repository()
        with plane.record_store.deferred_durability():
            for n in range(20):
                repository.create(repository.new_record(f"lab-d-{n:02d}", OWNER))
            repository.transition("lab-d-00", LabStatus.PROVISIONING, note="creating the VM")
        stored = _stored(records)
        assert {f"lab-d-{n:02d}" for n in range(20)} <= set(stored)
        assert stored["lab-d-00"]["status"] == {"S": "PROVISIONING"}
