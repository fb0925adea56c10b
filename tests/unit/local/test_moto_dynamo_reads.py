"""moto's DynamoDB projections and answers at the cost of what they carry: the same
answers as moto's own, for every value type, projected or whole, read or written."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models.dynamo_type import Item

from ads.local import moto_dynamo_reads

REGION = "us-east-1"

ITEM = {
    "pk": {"S": "lab-1"},
    "x_text": {"S": "ünïcode ✓"},
    "x_number": {"N": "12.50"},
    "x_flag": {"BOOL": False},
    "x_nothing": {"NULL": True},
    "x_blob": {"B": b"\x00\x01\xff"},
    "x_words": {"SS": ["a", "bb"]},
    "x_numbers": {"NS": ["1", "22.5"]},
    "x_blobs": {"BS": [b"ab", b"\x00"]},
    "x_list": {"L": [{"S": "x"}, {"N": "3"}, {"L": [{"BOOL": True}, {"B": b"\x01"}]}]},
    "x_plan": {
        "M": {
            "name": {"S": "Lab"},
            "steps": {"L": [{"M": {"run": {"S": "make"}, "t": {"N": "60"}}}]},
            "tags": {"SS": ["a"]},
            "empty": {"M": {}},
            "bin": {"B": b"\x02"},
        }
    },
}


def _requests(client: Any) -> dict[str, Callable[[], dict[str, Any]]]:
    key = {"pk": {"S": "lab-1"}}
    return {
        "get whole": lambda: client.get_item(TableName="t", Key=key, ConsistentRead=True),
        "get top-level": lambda: client.get_item(
            TableName="t",
            Key=key,
            ProjectionExpression="#t, #b, x_words, x_plan, x_missing",
            ExpressionAttributeNames={"#t": "x_text", "#b": "x_blob"},
        ),
        "get nested": lambda: client.get_item(
            TableName="t",
            Key=key,
            ProjectionExpression="#p.steps[0].run, x_list[2], #p.#n",
            ExpressionAttributeNames={"#p": "x_plan", "#n": "name"},
        ),
        "query projected": lambda: client.query(
            TableName="t",
            KeyConditionExpression="pk = :k",
            ExpressionAttributeValues={":k": {"S": "lab-1"}},
            ProjectionExpression="pk, x_numbers, x_blobs, #nothing, x_flag",
            ExpressionAttributeNames={"#nothing": "x_nothing"},
            ReturnConsumedCapacity="TOTAL",
        ),
        "scan whole": lambda: client.scan(TableName="t", Limit=1),
        "update all new": lambda: client.update_item(
            TableName="t",
            Key=key,
            UpdateExpression="SET #n = :n, #l = list_append(#l, :l)",
            ExpressionAttributeNames={"#n": "x_number", "#l": "x_list"},
            ExpressionAttributeValues={":n": {"N": "13"}, ":l": {"L": [{"M": {"b": {"B": b"z"}}}]}},
            ReturnValues="ALL_NEW",
        ),
        "update updated old": lambda: client.update_item(
            TableName="t",
            Key=key,
            UpdateExpression="SET #p.#name = :v",
            ExpressionAttributeNames={"#p": "x_plan", "#name": "name"},
            ExpressionAttributeValues={":v": {"S": "Lab 2"}},
            ReturnValues="UPDATED_OLD",
        ),
        "batch get": lambda: client.batch_get_item(
            RequestItems={"t": {"Keys": [key], "ProjectionExpression": "pk, x_plan"}}
        ),
    }


def _unordered_sets(value: Any) -> Any:
    """A DynamoDB set has no order (moto's own projection passes one through a Python
    set, whose order changes from run to run): sets compared as sorted lists."""
    if isinstance(value, dict):
        return {
            key: sorted(inner) if key in {"SS", "NS", "BS"} else _unordered_sets(inner)
            for key, inner in value.items()
        }
    if isinstance(value, list):
        return [_unordered_sets(inner) for inner in value]
    return value


@pytest.fixture
def answers() -> Iterator[Callable[[bool], dict[str, Any]]]:
    with mock_aws():

        def answer(patched: bool) -> dict[str, Any]:
            client = boto3.client("dynamodb", region_name=REGION)
            client.create_table(
                TableName="t",
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            client.put_item(TableName="t", Item=copy.deepcopy(ITEM))
            undo = moto_dynamo_reads.install() if patched else None
            try:
                answered = {}
                for name, request in _requests(client).items():
                    response = request()
                    response.pop("ResponseMetadata")
                    answered[name] = response
                return answered
            finally:
                if undo:
                    undo()
                client.delete_table(TableName="t")

        yield answer


def test_given_every_value_type_when_read_and_written_then_the_answers_are_moto_s_own(
    answers: Callable[[bool], dict[str, Any]],
) -> None:
    expected = answers(False)
    got = answers(True)

    assert got.keys() == expected.keys()
    for name in expected:
        assert _unordered_sets(got[name]) == _unordered_sets(expected[name]), name
    assert got["get whole"]["Item"]["x_blob"] == {"B": b"\x00\x01\xff"}
    assert got["get top-level"]["Item"].keys() == {"x_text", "x_blob", "x_words", "x_plan"}
    assert got["get nested"]["Item"] == {
        "x_plan": {"M": {"steps": {"L": [{"M": {"run": {"S": "make"}}}]}, "name": {"S": "Lab"}}},
        "x_list": {"L": [{"L": [{"BOOL": True}, {"B": b"\x01"}]}]},
    }


def test_given_a_projection_of_top_level_attributes_when_projected_then_the_item_is_not_converted_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with mock_aws():
        undo = moto_dynamo_reads.install()
        try:
            item = Item(hash_key=None, range_key=None, attrs=copy.deepcopy(ITEM))
            conversions: list[int] = []
            original = Item.to_regular_json
            monkeypatch.setattr(
                Item, "to_regular_json", lambda self: conversions.append(1) or original(self)
            )

            projected = item.project([["pk"], ["x_plan"], ["x_missing"]])
            nested = item.project([["x_plan", "name"], ["x_list[0]"], ["x_text"]])
        finally:
            undo()

    assert conversions == [1]  # the nested projection converts the item once, not 3 times
    assert set(projected.attrs) == {"pk", "x_plan"}
    assert projected.attrs["x_plan"] == item.attrs["x_plan"]
    assert projected.attrs["x_plan"] is not item.attrs["x_plan"]  # a copy, not moto's stored value
    assert set(nested.attrs) == {"x_plan", "x_list", "x_text"}


def test_given_a_value_of_an_unknown_shape_when_encoded_then_moto_s_serializer_is_left_to_do_it() -> (
    None
):
    assert moto_dynamo_reads.encoded({"S": "x"}) == {"S": "x"}
    assert moto_dynamo_reads.encoded({"X": "x"}) is None
    assert moto_dynamo_reads.encoded({"M": {"a": "not typed"}}) is None
    assert moto_dynamo_reads.encoded({"S": 5}) is None
