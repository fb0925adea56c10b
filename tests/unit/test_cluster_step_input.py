"""A step's input names a VM of a lab of several VMs (``vm_name``): the handlers hand such
a step to ads/cluster_steps.py and any other to the single-VM logic, unchanged."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from ads import cluster_steps, steps
from ads.cluster_model import vm_of_step, vm_step
from functions.step_input import StepInput

LAB = "two-roles-01jstepinput"


@pytest.mark.parametrize("name", ["db-1", "web-2", "web-10", "a-b-c-99", "x" * 20 + "-1"])
def test_given_a_vm_name_of_role_and_index_when_parsed_then_it_is_kept(name: str) -> None:
    assert StepInput(lab_id=LAB, vm_name=name).vm_name == name


@pytest.mark.parametrize(
    "name", ["web", "Web-1", "web-100", "1web-1", "x" * 21 + "-1", "web_1", ""]
)
def test_given_a_malformed_vm_name_when_parsed_then_it_is_refused_naming_the_field(
    name: str,
) -> None:
    with pytest.raises(ValidationError) as refused:
        StepInput(lab_id=LAB, vm_name=name)

    (problem,) = refused.value.errors()
    assert problem["loc"] == ("vm_name",)
    assert problem["type"] == "string_pattern_mismatch"


def test_given_no_vm_name_when_parsed_then_the_step_is_a_single_vm_labs() -> None:
    assert StepInput.model_validate({"lab_id": LAB, "execution_id": "x"}).vm_name is None


@pytest.mark.parametrize(
    ("step", "vm"),
    [
        ("Initialise VM (web-2)", "web-2"),
        ("Check VM Health (db-1)", "db-1"),
        ("Initialise VM", None),
        ("Create VM (Web)", None),
        (None, None),
    ],
)
def test_given_a_failed_step_when_read_then_the_vm_it_names_is_found(
    step: str | None, vm: str | None
) -> None:
    assert vm_of_step(step) == vm
    if vm:
        assert vm_step(step.rsplit(" (", 1)[0], vm) == step  # type: ignore[union-attr]


class Deps:
    repository = object()
    provider = object()
    config: Any = None


@pytest.mark.parametrize("vm_name", [None, "web-2"])
def test_given_a_create_vm_input_when_handled_then_it_goes_to_the_cluster_steps_only_with_a_vm_name(
    vm_name: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.create_vm.handler import create_vm

    called: list[tuple[str, tuple[Any, ...]]] = []
    monkeypatch.setattr(cluster_steps, "create_vm", lambda *a: called.append(("cluster", a)))
    monkeypatch.setattr(steps, "create_vm", lambda *a: called.append(("single", a)))

    create_vm(StepInput(lab_id=LAB, vm_name=vm_name), Deps())  # type: ignore[arg-type]

    deps = (Deps.repository, Deps.provider)
    assert called == (
        [("cluster", (LAB, vm_name, *deps))] if vm_name else [("single", (LAB, *deps))]
    )
