"""The local plane's DynamoDB transactions: rolled back item by item, no table copied.

moto copies every table a transaction names to undo a cancelled one; each lab request is
a transaction, so the cost of a request grew with the number of labs. The plane keeps
a copy of the items the transaction names instead (:mod:`ads.local.moto_transactions`).
"""

from __future__ import annotations

import copy

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models.table import Table

from ads.local import moto_transactions


@pytest.fixture
def table():
    with mock_aws():
        undo = moto_transactions.install()
        try:
            client = boto3.client("dynamodb", region_name="us-east-1")
            client.create_table(
                TableName="labs",
                KeySchema=[{"AttributeName": "lab_id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "lab_id", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            for i in range(50):
                client.put_item(
                    TableName="labs", Item={"lab_id": {"S": f"lab-{i}"}, "n": {"N": "1"}}
                )
            client.put_item(
                TableName="labs", Item={"lab_id": {"S": "quota#alice"}, "labs": {"N": "1"}}
            )
            yield client
        finally:
            undo()


def _new_lab_and_count(limit: int) -> list[dict]:
    return [
        {
            "Put": {
                "TableName": "labs",
                "Item": {"lab_id": {"S": "lab-new"}, "n": {"N": "7"}},
                "ConditionExpression": "attribute_not_exists(lab_id)",
            }
        },
        {
            "Update": {
                "TableName": "labs",
                "Key": {"lab_id": {"S": "quota#alice"}},
                "UpdateExpression": "SET labs = labs + :one",
                "ConditionExpression": "labs < :limit",
                "ExpressionAttributeValues": {":one": {"N": "1"}, ":limit": {"N": str(limit)}},
            }
        },
    ]


def _item(client, key: str):
    return client.get_item(TableName="labs", Key={"lab_id": {"S": key}}).get("Item")


def test_given_a_transaction_within_its_conditions_when_written_then_every_item_changes(table):
    table.transact_write_items(TransactItems=_new_lab_and_count(limit=5))

    assert _item(table, "lab-new")["n"] == {"N": "7"}
    assert _item(table, "quota#alice")["labs"] == {"N": "2"}


def test_given_a_failing_condition_after_a_put_when_cancelled_then_the_put_is_undone(table):
    with pytest.raises(ClientError) as raised:
        table.transact_write_items(TransactItems=_new_lab_and_count(limit=1))

    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert _item(table, "lab-new") is None
    assert _item(table, "quota#alice")["labs"] == {"N": "1"}
    assert _item(table, "lab-3") == {"lab_id": {"S": "lab-3"}, "n": {"N": "1"}}


def test_given_an_update_that_fails_after_another_update_when_cancelled_then_both_are_as_before(
    table,
):
    items = [
        {
            "Update": {
                "TableName": "labs",
                "Key": {"lab_id": {"S": "lab-1"}},
                "UpdateExpression": "SET n = :v",
                "ExpressionAttributeValues": {":v": {"N": "9"}},
            }
        },
        {
            "Update": {
                "TableName": "labs",
                "Key": {"lab_id": {"S": "quota#alice"}},
                "UpdateExpression": "SET labs = :v",
                "ConditionExpression": "labs > :v",
                "ExpressionAttributeValues": {":v": {"N": "5"}},
            }
        },
    ]
    with pytest.raises(ClientError):
        table.transact_write_items(TransactItems=items)

    assert _item(table, "lab-1")["n"] == {"N": "1"}
    assert _item(table, "quota#alice")["labs"] == {"N": "1"}


def test_given_a_table_of_many_items_when_a_transaction_runs_then_the_table_is_not_copied(
    table, monkeypatch
):
    copied_tables = []
    real_deepcopy = copy.deepcopy

    def watching_deepcopy(value, memo=None):
        if isinstance(value, Table):
            copied_tables.append(value.name)
        return real_deepcopy(value, memo)

    monkeypatch.setattr(copy, "deepcopy", watching_deepcopy)
    table.transact_write_items(TransactItems=_new_lab_and_count(limit=5))
    with pytest.raises(ClientError):
        table.transact_write_items(TransactItems=_new_lab_and_count(limit=1))

    assert copied_tables == []
