"""Reading ``lab.roles`` (a lab of several VMs): the merge over the lab's sections, the
bootstrap order, and every problem named by its field path; single-VM specs unchanged."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from ads.errors import FieldProblem, LabspecError
from ads.lab.labspec import parse_labspec
from ads.lab.labspec_roles import MAX_LAB_VMS, deep_merge, role_waves
from ads.lab.plan import DeploymentPlan, make_plan
from tests.unit.lab.specs import BAD, FIXTURES, ROOT, TODAY, minimal_spec

HELLO_WEB = ROOT / "events" / "labs" / "hello-web" / "scripts" / "labspec.json"


def with_roles(roles: Any) -> dict[str, Any]:
    spec = minimal_spec()
    spec["lab"]["roles"] = roles
    return spec


def two_roles() -> dict[str, Any]:
    return with_roles(
        {
            "db": {
                "ports": [5432],
                "runtime_requirements": {
                    "platform": {"lab_actions": {"start": ["pg_ctl start"]}, "memory": None}
                },
            },
            "web": {"count": 2, "after": ["db"]},
        }
    )


def problems_of(spec: dict[str, Any]) -> list[FieldProblem]:
    with pytest.raises(LabspecError) as caught:
        parse_labspec(spec)
    return caught.value.problems


# The samples that declare roles; every other labspec kept in the repository is one VM.
CLUSTER_SAMPLES = {"two-role-lab.labspec.json"}


def _single_vm_specs() -> list[Path]:
    # events/labspecs holds the real Virtual Labs specs (byte for byte those of the shared
    # collection), ADS's samples and, under tests/fixtures, the broken ones.
    found = [*FIXTURES.glob("*.json"), *BAD.parent.rglob("*.json"), HELLO_WEB]
    return sorted(p for p in found if p.is_file() and p.name not in CLUSTER_SAMPLES)


# --- the happy path -------------------------------------------------------------------


def test_given_two_roles_when_parsed_then_each_role_reads_the_merged_document():
    spec = parse_labspec(two_roles())
    db, web = spec.roles
    assert (db.name, db.count, db.after, db.ports) == ("db", 1, (), (5432,))
    assert (web.name, web.count, web.after, web.ports) == ("web", 2, ("db",), (80,))
    # The role's start replaces the lab's; everything it does not name is the lab's.
    assert db.labspec.runtime.lab_actions["start"] == ["pg_ctl start"]
    assert db.labspec.runtime.installer == ["apt-get update"]
    assert db.labspec.build.build_steps["build"] == ["make"]
    assert db.labspec.runtime.ports == (5432,)
    assert web.labspec.runtime.lab_actions["start"] == ["service nginx start"]
    assert not db.labspec.roles and not web.labspec.roles


def test_given_a_role_without_sections_when_parsed_then_it_runs_the_labs_steps():
    spec = parse_labspec(with_roles({"app": {}}))
    (app,) = spec.roles
    assert app.labspec.build == spec.build
    assert app.labspec.runtime == spec.runtime


def test_given_unknown_keys_in_a_role_when_parsed_then_a_warning_names_them():
    spec = parse_labspec(with_roles({"app": {"colour": "blue"}}))
    assert any("lab.roles.app" in w and "'colour'" in w for w in spec.warnings)


def test_given_nested_objects_when_merged_then_objects_merge_and_lists_replace():
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    assert deep_merge(base, {"a": {"c": [3]}, "e": 2}) == {"a": {"b": 1, "c": [3]}, "d": 1, "e": 2}
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": 1}


def test_given_dependencies_when_ordered_then_waves_follow_after_and_keep_role_order():
    waves = role_waves({"web": ["db", "cache"], "db": [], "cache": [], "lb": ["web"]})
    assert waves == [["db", "cache"], ["web"], ["lb"]]


# --- the problems, each by its field path ----------------------------------------------


def test_given_roles_that_are_not_an_object_then_the_path_is_lab_roles():
    (problem,) = problems_of(with_roles(["db", "web"]))
    assert problem.path == "lab.roles"
    assert problem.found == "a list"


def test_given_a_role_that_is_not_an_object_then_the_role_is_named():
    (problem,) = problems_of(with_roles({"db": 3}))
    assert (problem.path, problem.found) == ("lab.roles.db", "3")


@pytest.mark.parametrize("name", ["Web", "1db", "web_server", "a" * 21, ""])
def test_given_a_bad_role_name_then_it_is_refused_with_the_pattern(name):
    (problem,) = problems_of(with_roles({name: {}}))
    assert "^[a-z][a-z0-9-]{0,19}$" in problem.allowed
    assert json.dumps(name) in problem.found or repr(name) in problem.found


@pytest.mark.parametrize("count", [0, 11, -1, 1.5, "2", True])
def test_given_a_count_out_of_range_then_the_count_field_is_named(count):
    (problem,) = problems_of(with_roles({"web": {"count": count}}))
    assert problem.path == "lab.roles.web.count"
    assert problem.allowed == "a whole number from 1 to 10"


def test_given_after_naming_an_unknown_role_then_the_item_is_named_with_the_known_roles():
    (problem,) = problems_of(with_roles({"db": {}, "web": {"after": ["cache"]}}))
    assert problem.path == "lab.roles.web.after[0]"
    assert problem.found == "'cache'"
    assert "'db'" in problem.allowed


def test_given_after_naming_the_role_itself_then_it_is_refused():
    (problem,) = problems_of(with_roles({"db": {"after": ["db"]}}))
    assert problem.path == "lab.roles.db.after[0]"
    assert "itself" in problem.found


def test_given_after_that_is_not_a_list_then_it_is_refused():
    (problem,) = problems_of(with_roles({"db": {}, "web": {"after": "db"}}))
    assert problem.path == "lab.roles.web.after"


def test_given_a_dependency_cycle_then_the_cycle_is_named():
    roles = {"a": {"after": ["c"]}, "b": {"after": ["a"]}, "c": {"after": ["b"]}, "d": {}}
    (problem,) = problems_of(with_roles(roles))
    assert problem.path == "lab.roles"
    assert problem.found == "a dependency cycle a -> c -> b -> a"


def test_given_more_vms_than_allowed_then_the_total_is_refused():
    roles = {"a": {"count": 10}, "b": {"count": 10}, "c": {"count": 1}}
    (problem,) = problems_of(with_roles(roles))
    assert problem.path == "lab.roles"
    assert problem.found == "21 VMs in all"
    assert str(MAX_LAB_VMS) in problem.allowed


def test_given_exactly_the_most_vms_then_the_spec_is_read():
    assert len(parse_labspec(with_roles({"a": {"count": 10}, "b": {"count": 10}})).roles) == 2


@pytest.mark.parametrize(
    ("ports", "path"),
    [
        ([0], "lab.roles.db.ports[0]"),
        ([80, 65536], "lab.roles.db.ports[1]"),
        (["x"], "lab.roles.db.ports[0]"),
        ([], "lab.roles.db.ports"),
        (5432, "lab.roles.db.ports"),
    ],
)
def test_given_bad_ports_then_the_port_is_named(ports, path):
    (problem,) = problems_of(with_roles({"db": {"ports": ports}}))
    assert problem.path == path


def test_given_a_role_section_that_is_not_an_object_then_it_is_named():
    (problem,) = problems_of(with_roles({"db": {"runtime_requirements": []}}))
    assert problem.path == "lab.roles.db.runtime_requirements"


def test_given_a_bad_value_in_a_role_section_then_the_path_points_into_the_role():
    roles = {"db": {"runtime_requirements": {"platform": {"memory": {"min_required": "lots"}}}}}
    paths = [p.path for p in problems_of(with_roles(roles))]
    assert paths == ["lab.roles.db.runtime_requirements.platform.memory.min_required"]


def test_given_problems_in_the_lab_and_in_its_roles_then_all_are_reported_at_once():
    spec = with_roles({"db": {"count": 0}, "web": {"after": ["nope"]}})
    spec["lab"]["runtime_requirements"]["platform"]["arch"] = "sparc"
    paths = [p.path for p in problems_of(spec)]
    assert paths == [
        "lab.runtime_requirements.platform.arch",
        "lab.roles.db.count",
        "lab.roles.web.after[0]",
    ]


def test_given_empty_roles_then_the_lab_is_one_vm_with_a_warning():
    spec = parse_labspec(with_roles({}))
    assert spec.roles == ()
    assert any("lab.roles is empty" in w for w in spec.warnings)


# --- every single-VM spec reads and plans as before ------------------------------------


@pytest.mark.parametrize("path", _single_vm_specs(), ids=lambda p: p.name)
def test_given_a_single_vm_spec_then_it_has_no_roles_and_its_plan_no_cluster(path):
    try:
        spec = parse_labspec(path.read_bytes())
    except LabspecError:
        return  # the broken fixtures stay broken, with their own tests
    assert spec.roles == ()
    try:
        plan = make_plan(spec, today=TODAY)
    except LabspecError:
        return
    assert plan.cluster is None
    # The same keys as before roles existed: nothing is added to a one-VM plan.
    assert set(plan.model_dump(mode="json")) == set(DeploymentPlan.model_fields) - {"cluster"}
    assert "cluster" not in json.loads(plan.model_dump_json())


def test_given_a_spec_when_roles_are_read_then_the_document_is_not_changed():
    document = two_roles()
    kept = copy.deepcopy(document)
    parse_labspec(document)
    assert document == kept


@pytest.mark.parametrize("name", sorted(CLUSTER_SAMPLES))
def test_given_a_cluster_sample_then_it_plans_a_vm_per_role_and_count(name):
    spec = parse_labspec((FIXTURES / name).read_bytes())
    plan = make_plan(spec, today=TODAY)
    assert plan.cluster is not None
    assert len(plan.cluster.vms) == sum(role.count for role in spec.roles) >= 2
