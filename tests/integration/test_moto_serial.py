"""The local plane's serialisation of moto backend calls, under threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import boto3
from moto import mock_aws

from ads.labs_table import create_table
from ads.local import moto_serial

REGION = "us-east-1"


def _hammer_one_item(table, writers: int = 8, writes: int = 25) -> list[BaseException]:
    """Concurrent updates of one item, each adding an attribute (as the API and a
    workflow step do when they both write a lab record)."""
    table.put_item(Item={"lab_id": "lab-1", "owner": "o", "created_at": "t"})

    def write(worker: int) -> BaseException | None:
        try:
            for n in range(writes):
                table.update_item(
                    Key={"lab_id": "lab-1"},
                    UpdateExpression="SET #a = :v",
                    ExpressionAttributeNames={"#a": f"w{worker}_{n}"},
                    ExpressionAttributeValues={":v": "x" * 200},
                    ReturnValues="ALL_NEW",
                )
        except BaseException as exc:  # the test reports whatever broke
            return exc
        return None

    with ThreadPoolExecutor(max_workers=writers) as pool:
        return [e for e in pool.map(write, range(writers)) if e is not None]


def test_given_serialised_backends_when_threads_update_one_item_then_no_call_fails(
    monkeypatch,
):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    undo = moto_serial.install()
    try:
        with mock_aws():
            create_table(boto3.client("dynamodb", region_name=REGION), "labs")
            table = boto3.resource("dynamodb", region_name=REGION).Table("labs")

            errors = _hammer_one_item(table)

            assert errors == []
            item = table.get_item(Key={"lab_id": "lab-1"})["Item"]
            assert len([k for k in item if k.startswith("w")]) == 8 * 25
    finally:
        undo()


def test_given_the_patch_undone_when_moto_is_called_then_its_own_call_action_is_back():
    from moto.core.responses import BaseResponse

    before = BaseResponse.call_action
    undo = moto_serial.install()
    assert BaseResponse.call_action is not before
    undo()

    assert BaseResponse.call_action is before
