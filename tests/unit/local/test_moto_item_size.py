"""moto's item size check in one walk: the same sizes and the same refusals as moto's."""

from __future__ import annotations

import copy

import pytest
from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models.dynamo_type import DynamoType, Item

from ads.local import moto_item_size

VALUES = [
    {"S": "hello"},
    {"S": "ünïcode ✓"},
    {"N": "12.50"},
    {"BOOL": False},
    {"NULL": True},
    {"B": b"\x00\x01\x02"},
    {"SS": ["a", "bb", "ççç"]},
    {"NS": ["1", "22.5"]},
    {"BS": [b"ab", "Y2Q="]},
    {"L": [{"S": "x"}, {"N": "3"}, {"L": [{"BOOL": True}]}]},
    {
        "M": {
            "name": {"S": "Lab"},
            "plan": {"M": {"steps": {"L": [{"M": {"run": {"S": "make"}, "t": {"N": "60"}}}]}}},
            "tags": {"SS": ["a"]},
            "empty": {"M": {}},
        }
    },
]


@pytest.mark.parametrize("raw", VALUES, ids=lambda raw: next(iter(raw)))
def test_given_a_value_when_sized_then_it_is_the_size_moto_gives(raw):
    expected = DynamoType(copy.deepcopy(raw)).size()

    assert moto_item_size.value_size(DynamoType(copy.deepcopy(raw))) == expected


def _attrs(big: int) -> dict:
    return {
        "lab_id": {"S": "lab-1"},
        "a": {"S": "x" * 1000},
        "b": {"S": "y" * big},
        "c": {"N": "1"},
    }


# The item is 1,015 bytes plus ``big``; moto refuses more than 405,000.
@pytest.mark.parametrize(
    ("big", "refused_by_moto"), [(1000, False), (403_985, False), (403_986, True), (500_000, True)]
)
def test_given_items_near_the_limit_when_built_then_the_patch_refuses_what_moto_refuses(
    big: int, refused_by_moto: bool
):
    def refused() -> bool:
        try:
            Item(DynamoType({"S": "lab-1"}), None, _attrs(big))
        except ItemSizeTooLarge:
            return True
        return False

    by_moto = refused()
    undo = moto_item_size.install()
    try:
        by_patch = refused()
    finally:
        undo()

    assert by_moto is refused_by_moto
    assert by_patch is refused_by_moto


def test_given_the_patch_when_an_item_is_built_then_it_is_the_item_moto_builds():
    raw = {f"v{i}": copy.deepcopy(value) for i, value in enumerate(VALUES)}
    by_moto = Item(DynamoType({"S": "k"}), None, copy.deepcopy(raw))
    size_by_moto = by_moto.size()

    undo = moto_item_size.install()
    try:
        item = Item(DynamoType({"S": "k"}), None, copy.deepcopy(raw))
        size = item.size()
    finally:
        undo()

    assert item == by_moto
    assert list(item.attrs) == list(raw)
    assert size == size_by_moto
