"""The record store serialises moto's items as moto's Item.to_json() does, in one walk."""

from __future__ import annotations

import copy

from moto.dynamodb.models.dynamo_type import Item

from ads.local.record_store import typed_json

ATTRIBUTES = {
    "lab_id": {"S": "lab-a-01"},
    "version": {"N": "3"},
    "ready": {"BOOL": True},
    "cause": {"NULL": True},
    "tags": {"SS": ["a", "b"]},
    "ports": {"NS": ["22", "8080"]},
    "status_history": {
        "L": [
            {"M": {"status": {"S": "REQUESTED"}, "at": {"N": "1.5"}}},
            {"M": {"status": {"S": "READY"}, "notes": {"L": [{"S": "x"}, {"NULL": True}]}}},
        ]
    },
    "labspec": {
        "M": {
            "lab": {"M": {"description": {"M": {"name": {"S": "Hello"}, "n": {"N": "1"}}}}},
            "steps": {"L": [{"L": [{"S": "deep"}, {"M": {"k": {"SS": ["v"]}}}]}]},
            "empty": {"M": {}},
            "none": {"L": []},
        }
    },
}


def _item() -> Item:
    return Item(hash_key=None, range_key=None, attrs=copy.deepcopy(ATTRIBUTES))  # type: ignore[arg-type]


def test_given_a_nested_item_when_serialised_then_it_equals_motos_to_json():
    item = _item()

    ours = {name: typed_json(value) for name, value in item.attrs.items()}

    assert ours == item.to_json()["Attributes"] == ATTRIBUTES


def test_given_a_serialised_item_when_the_table_changes_it_then_the_copy_stays_as_it_was():
    item = _item()
    ours = {name: typed_json(value) for name, value in item.attrs.items()}

    item.attrs["labspec"].value["lab"].value["description"].value["name"].value = "Changed"
    item.attrs["tags"].value.append("c")
    item.attrs["status_history"].value.pop()

    assert ours == ATTRIBUTES


def test_given_a_binary_value_when_serialised_then_it_is_base64_text():
    item = Item(hash_key=None, range_key=None, attrs={"blob": {"M": {"b": {"B": b"\x00\xff"}}}})  # type: ignore[arg-type]

    assert typed_json(item.attrs["blob"]) == {"M": {"b": {"B": "AP8="}}}
