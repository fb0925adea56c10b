"""Lab ids: readable slug plus a sortable unique suffix, valid for Step Functions and EC2."""

from __future__ import annotations

import re
import threading

import pytest

from ads.lab.lab_id import is_valid_lab_id, new_lab_id, slugify


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Data Mining", "data-mining"),
        ("Kinematics & Dynamics of Mechanism", "kinematics-dynamics-of"),
        ("Bio-technology", "bio-technology"),
        ("  Café  Über  ", "cafe-uber"),
        ("", "lab"),
        ("!!!", "lab"),
        ("数据", "lab"),
        ("a" * 40, "a" * 30),
    ],
)
def test_given_a_lab_name_when_slugified_then_a_short_readable_slug_is_returned(name, slug):
    assert slugify(name) == slug


def test_given_a_lab_name_when_an_id_is_made_then_it_is_slug_dash_ulid():
    lab_id = new_lab_id("Data Mining")
    assert re.fullmatch(r"data-mining-[0-9a-hjkmnp-tv-z]{26}", lab_id)
    assert is_valid_lab_id(lab_id)


def test_given_ids_made_in_the_same_millisecond_then_they_sort_in_creation_order():
    ids = [new_lab_id("lab", now_ms=1_800_000_000_000) for _ in range(50)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 50


def test_given_ids_made_at_later_times_then_they_sort_by_time():
    first = new_lab_id("x", now_ms=1_900_000_000_000)
    second = new_lab_id("x", now_ms=1_900_000_000_001)
    assert first < second


def test_given_many_threads_making_ids_then_all_are_unique():
    made: list[str] = []

    def make() -> None:
        made.extend(new_lab_id("same") for _ in range(200))

    threads = [threading.Thread(target=make) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(made)) == 1600


@pytest.mark.parametrize(
    "value",
    ["", "-lab", "lab-", "Lab-01", "lab_01", "a" * 65, "lab id", None, 42],
)
def test_given_something_that_is_not_a_lab_id_when_checked_then_it_is_invalid(value):
    assert not is_valid_lab_id(value)


def test_given_the_longest_name_then_the_id_still_fits_64_characters():
    assert len(new_lab_id("z" * 200)) == 30 + 1 + 26 <= 64
