"""Property tests: sizes round-trip, parsing never fails with anything but LabspecError, ids."""

from __future__ import annotations

import json
import string

from hypothesis import given, settings
from hypothesis import strategies as st

from ads.errors import LabspecError
from ads.lab.lab_id import is_valid_lab_id, new_lab_id, slugify
from ads.lab.labspec import parse_labspec
from ads.lab.plan import STEP_NAMES, PlanOptions, plan_from_labspec_source
from ads.lab.sizing import format_mib, parse_size_mib
from tests.unit.lab.specs import TODAY, minimal_spec, with_changes

PATH = "lab.runtime_requirements.platform.memory.min_required"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=30,
)


@given(st.integers(min_value=0, max_value=2**40))
def test_given_any_mib_when_formatted_and_parsed_then_the_same_mib_comes_back(mib):
    assert parse_size_mib(format_mib(mib), PATH) == mib


@given(
    st.integers(min_value=0, max_value=10**6),
    st.sampled_from(["mb", "MB", "M", "MiB", "gb", "G", "GiB", "GB"]),
    st.sampled_from(["", " "]),
)
def test_given_any_unit_spelling_when_parsed_then_units_are_binary(number, unit, space):
    factor = 1024 if unit.lower().startswith("g") else 1
    assert parse_size_mib(f"{number}{space}{unit}", PATH) == number * factor


@given(st.text(max_size=20))
def test_given_any_text_as_a_size_when_parsed_then_only_labspec_errors_escape(text):
    try:
        result = parse_size_mib(text, PATH)
    except LabspecError as exc:
        assert exc.problems[0].path == PATH
    else:
        assert result is None or result >= 0


@settings(max_examples=300)
@given(json_values)
def test_given_arbitrary_json_when_parsed_and_planned_then_only_labspec_errors_escape(value):
    for source in (value, json.dumps(value)):
        try:
            plan_from_labspec_source(source, PlanOptions(), today=TODAY)
        except LabspecError as exc:
            assert exc.problems
            assert all("\n" not in str(p) for p in exc.problems)


@settings(max_examples=200)
@given(
    st.sampled_from(
        ["os", "osVersion", "arch", "memory", "storage", "installer", "lab_actions", "health_probe"]
    ),
    json_values,
)
def test_given_any_value_in_a_runtime_field_when_planned_then_only_labspec_errors_escape(
    key, value
):
    try:
        plan = plan_from_labspec_source(minimal_spec(**{key: value}), PlanOptions(), today=TODAY)
    except LabspecError as exc:
        assert all(p.path.startswith("lab.runtime_requirements.platform") for p in exc.problems)
    else:
        assert tuple(s.name for s in plan.steps) == STEP_NAMES


@given(st.binary(max_size=200))
def test_given_arbitrary_bytes_when_parsed_then_only_labspec_errors_escape(data):
    try:
        spec = parse_labspec(data)
    except LabspecError as exc:
        assert exc.problems
    else:
        assert spec.name


@given(st.text(max_size=80))
def test_given_any_name_when_an_id_is_made_then_it_is_valid_and_starts_with_the_slug(name):
    lab_id = new_lab_id(name)
    assert is_valid_lab_id(lab_id)
    assert lab_id.startswith(slugify(name) + "-")
    assert len(lab_id) <= 64
    assert set(slugify(name)) <= set(string.ascii_lowercase + string.digits + "-")


@given(st.lists(st.text(max_size=10), min_size=2, max_size=20))
def test_given_a_sequence_of_ids_for_one_name_then_they_are_unique_and_sorted(names):
    ids = [new_lab_id("same name") for _ in names]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


@settings(max_examples=200)
@given(
    st.sampled_from(
        [
            "template",
            "lab.description",
            "lab.description.name",
            "lab.description.developer",
            "lab.build_requirements",
            "lab.build_requirements.platform",
            "lab.build_requirements.platform.build_steps",
            "lab.build_requirements.platform.osVersion",
            "lab.runtime_requirements",
            "lab.runtime_requirements.platform",
            "lab.runtime_requirements.platform.memory",
        ]
    ),
    json_values,
)
def test_given_any_value_anywhere_in_a_spec_when_planned_then_only_labspec_errors_escape(
    path, value
):
    try:
        plan = plan_from_labspec_source(with_changes(minimal_spec(), path, value), today=TODAY)
    except LabspecError as exc:
        assert exc.problems
    else:
        assert plan.lab_slug


# The two services' own rules, written out here rather than taken from lab_id.py, so the
# id generator is checked against AWS's rules and not against itself.
_SFN_FORBIDDEN = set(' <>{}[]?*"#%\\^|~`$&,;:/')


def _is_step_functions_execution_name(value: str) -> bool:
    return (
        1 <= len(value) <= 80
        and not any(c.isspace() for c in value)
        and not (set(value) & _SFN_FORBIDDEN)
        and not any(ord(c) <= 0x1F or 0x7F <= ord(c) <= 0x9F for c in value)
    )


def _is_ec2_client_token(value: str) -> bool:
    return 1 <= len(value) <= 64 and value.isascii()


def test_given_names_breaking_every_rule_then_the_aws_rule_checks_refuse_them():
    for bad in ("", "a b", "a/b", "a:b", "x" * 81, "tab\there", "nul\x00", "del\x7f", "c1\x85"):
        assert not _is_step_functions_execution_name(bad), repr(bad)
    assert not _is_ec2_client_token("x" * 65)
    assert not _is_ec2_client_token("café")


@settings(max_examples=300)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=120))
def test_given_any_lab_name_when_an_id_is_made_then_it_is_a_valid_execution_name_and_client_token(
    name,
):
    lab_id = new_lab_id(name)
    assert _is_step_functions_execution_name(lab_id), lab_id
    assert _is_ec2_client_token(lab_id), lab_id


@given(
    st.lists(st.text(max_size=30), min_size=2, max_size=30),
    st.integers(min_value=1_500_000_000_000, max_value=4_000_000_000_000),
)
def test_given_ids_made_at_increasing_times_for_any_names_then_suffixes_sort_by_time_and_ids_are_unique(
    names, start_ms
):
    ids = [new_lab_id(name, now_ms=start_ms + 7 * i) for i, name in enumerate(names)]
    assert len(set(ids)) == len(ids)
    suffixes = [lab_id.rsplit("-", 1)[1] for lab_id in ids]
    assert suffixes == sorted(suffixes)
