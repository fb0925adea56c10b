"""Reading labspecs: the real Virtual Labs specs, their tolerated variants, and bad specs."""

from __future__ import annotations

import json

import pytest

from ads.errors import FieldProblem, LabspecError
from ads.lab.labspec import parse_labspec
from ads.lab.labspec_model import ACTION_NAMES, BUILD_STEP_NAMES
from tests.unit.lab.specs import (
    BAD,
    REAL_SPECS,
    REMOVE,
    minimal_spec,
    real_spec,
    real_text,
    with_changes,
)

RUNTIME = "lab.runtime_requirements.platform"


def problems_of(source) -> list[FieldProblem]:
    with pytest.raises(LabspecError) as caught:
        parse_labspec(source)
    assert caught.value.problems, "a LabspecError always says what is wrong"
    return caught.value.problems


def paths_of(source) -> list[str]:
    return [p.path for p in problems_of(source)]


# --- the real specs -------------------------------------------------------------------


def test_given_the_fixture_folder_then_it_holds_the_four_real_specs():
    assert REAL_SPECS == [
        "databases-and-datamining-iiith.labspec.json",
        "kdm-iitkgp.labspec.json",
        "lab-usage-tracker.labspec.json",
        "test_nitk.labspec.json",
    ]


@pytest.mark.parametrize("name", REAL_SPECS)
def test_given_a_real_spec_as_text_bytes_or_dict_when_parsed_then_all_three_agree(name):
    from_text = parse_labspec(real_text(name))
    assert parse_labspec(real_text(name).encode()) == from_text
    assert parse_labspec(real_spec(name)) == from_text
    assert set(from_text.runtime.lab_actions) >= set(ACTION_NAMES)
    assert list(from_text.build.build_steps) == list(BUILD_STEP_NAMES)


def test_given_the_data_mining_spec_when_parsed_then_memory_storage_and_installer_are_read():
    spec = parse_labspec(real_text("databases-and-datamining-iiith.labspec.json"))
    assert spec.name == "Data Mining"
    assert spec.lab_code == "cse06"
    assert spec.runtime.memory_min_mib == 256
    assert spec.runtime.memory_max_mib == 10 * 1024
    assert spec.runtime.storage_min_mib == 15 * 1024
    assert spec.runtime.installer[-1] == "ansible-playbook labspec.yml"
    assert spec.runtime.platform.os == "ubuntu"
    assert spec.runtime.platform.os_version == "12"
    assert spec.runtime.platform.arch == "i386"


def test_given_the_nitk_spec_with_developer_as_an_object_when_parsed_then_it_is_tolerated():
    spec = parse_labspec(real_text("test_nitk.labspec.json"))
    assert spec.name == "Bio-technology"
    assert spec.build.build_steps["build"] == ["make -C ../src"]
    assert spec.runtime.lab_actions["init"] == [
        "mv /var/www/index.html index.html.default",
        "cp -r ../build/* /var/www/",
    ]


def test_given_the_usage_tracker_with_a_spaced_id_when_parsed_then_id_is_kept_and_sizes_read():
    spec = parse_labspec(real_text("lab-usage-tracker.labspec.json"))
    assert spec.lab_code == "vlabs analytics service"
    assert spec.runtime.memory_min_mib == 2048
    assert spec.build.build_steps["post_build"][0] == "apt-get install nginx -y"
    assert spec.warnings == []


# --- tolerated variants ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("lab.build_requirements.platform.service_pack", []),
        ("lab.description.developer", {"name": "One Person"}),
        ("lab.description.id", ""),
        ("lab.description.id", "  spaced id  "),
        ("lab.description.favourite_colour", "green"),
        (f"{RUNTIME}.memory", None),
        (f"{RUNTIME}.memory", {"min_required": None, "max_required": ""}),
        (f"{RUNTIME}.storage", REMOVE),
        (f"{RUNTIME}.lab_actions", REMOVE),
        (f"{RUNTIME}.hosting", "dedicated"),
        ("lab.build_requirements", REMOVE),
        ("unknown_top_level", {"anything": [1, 2]}),
    ],
)
def test_given_a_real_world_variant_when_parsed_then_it_is_accepted(path, value):
    spec = parse_labspec(with_changes(minimal_spec(), path, value))
    assert spec.name == "Small Lab"


def test_given_a_numeric_os_version_when_parsed_then_it_is_read_as_text():
    spec = parse_labspec(minimal_spec(osVersion=14.04))
    assert spec.runtime.platform.os_version == "14.04"


def test_given_no_memory_when_parsed_then_minimum_is_left_open():
    spec = parse_labspec(minimal_spec(memory=None))
    assert spec.runtime.memory_min_mib is None


def test_given_no_template_when_parsed_then_it_is_read_as_1_0_with_a_warning():
    spec = parse_labspec(with_changes(minimal_spec(), "template", REMOVE))
    assert spec.template == "1.0"
    assert any("template" in w for w in spec.warnings)


def test_given_no_description_name_when_parsed_then_the_id_names_the_lab_with_a_warning():
    spec = parse_labspec(with_changes(minimal_spec(), "lab.description.name", REMOVE))
    assert spec.name == "small01"
    assert any("description.name" in w for w in spec.warnings)


def test_given_build_and_runtime_os_disagree_when_parsed_then_runtime_wins_with_a_warning():
    doc = with_changes(minimal_spec(), "lab.build_requirements.platform.osVersion", "12")
    spec = parse_labspec(doc)
    assert spec.runtime.platform.os_version == "22.04"
    assert any("runtime section decides the OS" in w for w in spec.warnings)


def test_given_build_and_runtime_arch_disagree_when_parsed_then_a_warning_says_runtime_wins():
    doc = with_changes(minimal_spec(), "lab.build_requirements.platform.arch", "arm64")
    spec = parse_labspec(doc)
    assert any("decides the architecture" in w for w in spec.warnings)


def test_given_arch_aliases_in_both_sections_when_parsed_then_no_disagreement_is_reported():
    doc = with_changes(minimal_spec(arch="amd64"), "lab.build_requirements.platform.arch", "x64")
    assert parse_labspec(doc).warnings == []


def test_given_an_unknown_build_step_when_parsed_then_it_is_ignored_with_a_warning():
    doc = with_changes(
        minimal_spec(), "lab.build_requirements.platform.build_steps", {"compile": ["make"]}
    )
    spec = parse_labspec(doc)
    assert "compile" not in spec.build.build_steps
    assert any("'compile'" in w for w in spec.warnings)


def test_given_a_custom_lab_action_when_parsed_then_it_is_kept_next_to_the_known_ones():
    spec = parse_labspec(minimal_spec(lab_actions={"reindex": ["./reindex.sh"]}))
    assert spec.runtime.lab_actions["reindex"] == ["./reindex.sh"]
    assert spec.runtime.lab_actions["start"] == []


def test_given_a_byte_order_mark_when_parsed_then_it_is_ignored():
    text = "\ufeff" + json.dumps(minimal_spec())
    assert parse_labspec(text.encode("utf-8")).name == "Small Lab"
    assert parse_labspec(text).name == "Small Lab"


def test_given_max_memory_below_min_when_parsed_then_a_warning_says_max_is_ignored():
    spec = parse_labspec(minimal_spec(memory={"min_required": "2gb", "max_required": "1gb"}))
    assert any("max_required" in w for w in spec.warnings)


def test_given_a_health_probe_when_parsed_then_defaults_fill_missing_keys():
    spec = parse_labspec(minimal_spec(health_probe={"path": "/status", "port": 8080}))
    probe = spec.runtime.health_probe
    assert (probe.path, probe.port, probe.expect_status, probe.timeout_s) == (
        "/status",
        8080,
        200,
        3.0,
    )


def test_given_no_health_probe_when_parsed_then_there_is_none():
    assert parse_labspec(minimal_spec()).runtime.health_probe is None


# --- bad specs from files ---------------------------------------------------------------

BAD_SPECS = {
    "invalid-json.labspec.json": ["$"],
    "empty.labspec.json": ["$"],
    "whitespace-only.labspec.json": ["$"],
    "top-level-list.labspec.json": ["$"],
    "not-utf8.labspec.json": ["$"],
    "missing-lab.labspec.json": ["lab"],
    "unwrapped-requirements.labspec.json": ["lab"],
    "lab-not-object.labspec.json": ["lab"],
    "wrong-template.labspec.json": ["template"],
    "missing-runtime.labspec.json": ["lab.runtime_requirements"],
    "runtime-platform-not-object.labspec.json": [RUNTIME],
    "installer-is-string.labspec.json": [f"{RUNTIME}.installer"],
    "empty-build-command.labspec.json": ["lab.build_requirements.platform.build_steps.build[2]"],
    "command-not-string.labspec.json": [
        f"{RUNTIME}.lab_actions.start[1]",
        f"{RUNTIME}.lab_actions.start[2]",
    ],
    "memory-garbage.labspec.json": [f"{RUNTIME}.memory.min_required"],
    "memory-negative.labspec.json": [f"{RUNTIME}.memory.min_required"],
    "storage-wrong-type.labspec.json": [f"{RUNTIME}.storage.min_required"],
    "os-wrong-type.labspec.json": [f"{RUNTIME}.os", f"{RUNTIME}.osVersion"],
    "unknown-arch.labspec.json": [f"{RUNTIME}.arch"],
    "build-steps-not-object.labspec.json": ["lab.build_requirements.platform.build_steps"],
    "bad-health-probe.labspec.json": [
        f"{RUNTIME}.health_probe.path",
        f"{RUNTIME}.health_probe.port",
        f"{RUNTIME}.health_probe.timeout",
    ],
    "many-problems.labspec.json": [
        "lab.description.name",
        "lab.build_requirements.platform.build_steps.configure",
        "lab.build_requirements.platform.installer[0]",
        f"{RUNTIME}.memory.min_required",
        f"{RUNTIME}.lab_actions.start",
        f"{RUNTIME}.installer[1]",
    ],
}


def test_given_the_bad_fixture_folder_then_every_file_has_an_expectation():
    assert sorted(p.name for p in BAD.glob("*.json")) == sorted(BAD_SPECS)


@pytest.mark.parametrize(("name", "paths"), sorted(BAD_SPECS.items()))
def test_given_a_bad_spec_when_parsed_then_every_problem_names_its_path(name, paths):
    problems = problems_of((BAD / name).read_bytes())
    assert sorted(p.path for p in problems) == sorted(paths)
    for problem in problems:
        assert problem.found and problem.allowed
        assert "\n" not in str(problem)


def test_given_invalid_json_when_parsed_then_the_problem_says_line_and_column():
    (problem,) = problems_of((BAD / "invalid-json.labspec.json").read_text())
    assert "invalid JSON at line 3 column" in problem.found


def test_given_an_empty_file_when_parsed_then_the_problem_says_it_is_empty():
    (problem,) = problems_of("")
    assert problem.found == "an empty document"
    assert '"lab"' in problem.allowed


def test_given_requirements_outside_the_lab_wrapper_when_parsed_then_the_fix_is_suggested():
    (problem,) = problems_of((BAD / "unwrapped-requirements.labspec.json").read_text())
    assert "top level" in problem.found
    assert '{"lab": {...}}' in problem.allowed


def test_given_an_empty_command_when_parsed_then_the_message_names_the_index():
    with pytest.raises(LabspecError) as caught:
        parse_labspec((BAD / "empty-build-command.labspec.json").read_text())
    assert caught.value.message.startswith(
        "invalid labspec: lab.build_requirements.platform.build_steps.build[2]: found an empty command"
    )
    assert caught.value.to_dict()["error"] == "invalid_labspec"


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"lab_actions": {"start": ["ok", "bad\x00cmd"]}}, f"{RUNTIME}.lab_actions.start[1]"),
        ({"lab_actions": {"": ["x"]}}, f'{RUNTIME}.lab_actions[""]'),
        ({"lab_actions": {"re index; rm": ["x"]}}, f'{RUNTIME}.lab_actions["re index; rm"]'),
        ({"lab_actions": ["start"]}, f"{RUNTIME}.lab_actions"),
        ({"memory": "2gb"}, f"{RUNTIME}.memory"),
        ({"memory": {"min_required": True}}, f"{RUNTIME}.memory.min_required"),
        ({"memory": {"min_required": -1}}, f"{RUNTIME}.memory.min_required"),
        ({"memory": {"max_required": "ten"}}, f"{RUNTIME}.memory.max_required"),
        ({"arch": 64}, f"{RUNTIME}.arch"),
        ({"health_probe": {"expect_status": 42}}, f"{RUNTIME}.health_probe.expect_status"),
        ({"health_probe": {"timeout_s": 0}}, f"{RUNTIME}.health_probe.timeout_s"),
        ({"health_probe": {"port": True}}, f"{RUNTIME}.health_probe.port"),
        ({"health_probe": "/"}, f"{RUNTIME}.health_probe"),
    ],
)
def test_given_a_wrong_value_in_the_runtime_when_parsed_then_its_path_is_reported(change, path):
    assert paths_of(minimal_spec(**change)) == [path]


@pytest.mark.parametrize(
    ("path", "value", "problem_path"),
    [
        ("lab.description", "Data Mining", "lab.description"),
        ("lab.description.name", 7, "lab.description.name"),
        ("lab.build_requirements", [], "lab.build_requirements"),
        ("lab.runtime_requirements", None, "lab.runtime_requirements"),
        ("template", True, "template"),
    ],
)
def test_given_a_wrong_type_outside_the_runtime_when_parsed_then_its_path_is_reported(
    path, value, problem_path
):
    assert paths_of(with_changes(minimal_spec(), path, value)) == [problem_path]


@pytest.mark.parametrize("source", [None, 42, ["lab"], 3.5])
def test_given_something_that_is_not_a_document_when_parsed_then_it_is_refused(source):
    assert paths_of(source) == ["$"]


@pytest.mark.parametrize("text", ["NaN", '{"lab": Infinity}', "[" * 100_000, "1" * 5000])
def test_given_json_python_would_accept_or_choke_on_when_parsed_then_it_is_refused(text):
    assert paths_of(text) == ["$"]


@pytest.mark.parametrize("kind", [str, bytes])
def test_given_a_document_over_one_mib_when_parsed_then_it_is_refused_before_decoding(kind):
    text = '{"lab": {}, "padding": "' + "x" * (1024 * 1024) + '"}'
    source = text if kind is str else text.encode()
    with pytest.raises(LabspecError) as caught:
        parse_labspec(source)
    (problem,) = caught.value.problems
    assert problem.path == "$"
    assert problem.found.startswith(f"a document of {len(source)} ")
    assert problem.allowed == "a labspec of at most 1048576 bytes (1 MiB)"
