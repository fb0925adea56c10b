"""Sizes in every spelling real labspecs use, instance type choice and root volume."""

from __future__ import annotations

import pytest

from ads.errors import LabspecError
from ads.lab.sizing import (
    DEFAULT_ALLOWED,
    INSTANCE_TYPES,
    choose_instance_type,
    format_mib,
    parse_size_mib,
    root_volume_gib,
)

PATH = "lab.runtime_requirements.platform.memory.min_required"


@pytest.mark.parametrize(
    ("raw", "mib"),
    [
        ("256mb", 256),
        ("2gb", 2048),
        ("10gb", 10240),
        ("1024M", 1024),
        ("4 GB", 4096),
        ("512 MiB", 512),
        ("1.5gb", 1536),
        ("2G", 2048),
        ("1GiB", 1024),
        ("1tb", 1024 * 1024),
        ("512kb", 1),
        ("  64MB  ", 64),
        ("300", 300),
        (512, 512),
        (0, 0),
        (100.2, 101),
    ],
)
def test_given_a_size_spelling_when_parsed_then_binary_mib_are_returned(raw, mib):
    assert parse_size_mib(raw, PATH) == mib


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_given_no_size_when_parsed_then_it_is_left_open(raw):
    assert parse_size_mib(raw, PATH) is None


@pytest.mark.parametrize(
    "raw",
    [
        "-1gb",
        "lots",
        "2 parsecs",
        "gb",
        "1..2gb",
        -5,
        True,
        [1],
        {"gb": 1},
        float("nan"),
        float("inf"),
        "1" * 400 + "tb",
    ],
)
def test_given_a_negative_or_garbage_size_when_parsed_then_a_field_problem_names_the_path(raw):
    with pytest.raises(LabspecError) as caught:
        parse_size_mib(raw, PATH)
    (problem,) = caught.value.problems
    assert problem.path == PATH
    assert '"2gb"' in problem.allowed


@pytest.mark.parametrize(
    ("mib", "text"),
    [(256, "256mb"), (2048, "2gb"), (1536, "1536mb"), (1024 * 1024, "1tb"), (0, "0mb")],
)
def test_given_mib_when_formatted_then_the_shortest_labspec_spelling_is_used(mib, text):
    assert format_mib(mib) == text


@pytest.mark.parametrize(
    ("memory", "arch", "chosen"),
    [
        (None, "x86_64", "t3.micro"),
        (256, "x86_64", "t3.micro"),
        (1024, "x86_64", "t3.micro"),
        (1025, "x86_64", "t3.small"),
        (2048, "x86_64", "t3.small"),
        (4096, "x86_64", "t3.medium"),
        (32 * 1024, "x86_64", "t3.2xlarge"),
        (256, "arm64", "t4g.micro"),
        (2048, "arm64", "t4g.small"),
    ],
)
def test_given_a_memory_minimum_when_sized_then_the_smallest_fitting_default_type_is_chosen(
    memory, arch, chosen
):
    assert choose_instance_type(memory, arch).instance_type.name == chosen


def test_given_a_small_lab_when_sized_then_the_next_two_larger_types_are_fallbacks():
    choice = choose_instance_type(256, "x86_64")
    assert choice.fallbacks == ("t3.small", "t3.medium")
    assert choose_instance_type(32 * 1024, "x86_64").fallbacks == ()


def test_given_the_default_lists_then_instance_memory_and_vcpus_match_the_catalogue():
    sizes = [
        (INSTANCE_TYPES[n].memory_mib // 1024, INSTANCE_TYPES[n].vcpus)
        for n in DEFAULT_ALLOWED["x86_64"]
    ]
    assert sizes == [(1, 2), (2, 2), (4, 2), (8, 2), (16, 4), (32, 8)]
    assert all(INSTANCE_TYPES[n].arch == "arm64" for n in DEFAULT_ALLOWED["arm64"])


def test_given_more_memory_than_any_allowed_type_when_sized_then_it_is_refused():
    with pytest.raises(LabspecError) as caught:
        choose_instance_type(64 * 1024, "x86_64")
    (problem,) = caught.value.problems
    assert problem.path == PATH
    assert problem.found.startswith("64gb")
    assert "t3.2xlarge" in problem.allowed


def test_given_a_configured_allowed_list_when_sized_then_only_those_types_are_considered():
    choice = choose_instance_type(256, "x86_64", ["t3.large", "t3a.medium", "t3.medium"])
    assert choice.instance_type.name == "t3a.medium"
    assert choice.fallbacks == ("t3.medium", "t3.large")


def test_given_an_allowed_list_with_an_unknown_type_when_sized_then_it_is_ignored_with_a_warning():
    choice = choose_instance_type(256, "x86_64", ["x9.huge", "t3.small"])
    assert choice.instance_type.name == "t3.small"
    assert "'x9.huge'" in choice.warnings[0]


def test_given_an_allowed_list_without_the_arch_when_sized_then_the_arch_is_refused():
    with pytest.raises(LabspecError) as caught:
        choose_instance_type(256, "arm64", ["t3.small"])
    (problem,) = caught.value.problems
    assert problem.path == "lab.runtime_requirements.platform.arch"
    assert "x86_64" in problem.allowed


@pytest.mark.parametrize(
    ("storage", "gib"),
    [(None, 8), (1024, 8), (8 * 1024, 8), (10 * 1024, 10), (15 * 1024, 15), (10 * 1024 + 1, 11)],
)
def test_given_a_storage_minimum_when_sized_then_root_volume_is_at_least_8_gib(storage, gib):
    assert root_volume_gib(storage) == gib


def test_given_storage_beyond_the_largest_ebs_volume_when_sized_then_it_is_refused():
    with pytest.raises(LabspecError) as caught:
        root_volume_gib(17 * 1024 * 1024)
    assert caught.value.problems[0].path.endswith("storage.min_required")
