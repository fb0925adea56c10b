"""The labspec extension runtime_requirements.platform.deadlines: this lab's boot and
init deadlines, carried into the plan and read by DeployLab's waits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ads.config import MAX_BOOT_DEADLINE_S, MAX_INIT_DEADLINE_S
from ads.errors import LabspecError
from ads.lab.labspec import parse_labspec
from ads.lab.plan import PlanOptions, make_plan

HELLO_WEB = Path(__file__).resolve().parents[3] / "events" / "labs" / "hello-web" / "scripts"


def _spec(deadlines) -> dict:
    document = json.loads((HELLO_WEB / "labspec.json").read_text())
    document["lab"]["runtime_requirements"]["platform"]["deadlines"] = deadlines
    return document


def test_given_deadlines_when_planned_then_the_plan_carries_them():
    plan = make_plan(parse_labspec(_spec({"boot": 900, "init": 3600})), PlanOptions())

    assert plan.deadlines == {"boot": 900, "init": 3600}


def test_given_no_deadlines_when_planned_then_the_configuration_decides():
    document = json.loads((HELLO_WEB / "labspec.json").read_text())

    assert make_plan(parse_labspec(document), PlanOptions()).deadlines == {}


@pytest.mark.parametrize(
    ("deadlines", "path", "allowed"),
    [
        ({"init": 0}, "deadlines.init", f"whole seconds from 1 to {MAX_INIT_DEADLINE_S}"),
        ({"init": 90.5}, "deadlines.init", "whole seconds"),
        ({"boot": "soon"}, "deadlines.boot", f"whole seconds from 1 to {MAX_BOOT_DEADLINE_S}"),
        ({"boot": MAX_BOOT_DEADLINE_S + 1}, "deadlines.boot", "whole seconds"),
        ({"boot": True}, "deadlines.boot", "whole seconds"),
        ({"health": 30}, "deadlines", '"boot" or "init"'),
    ],
)
def test_given_a_deadline_that_cannot_be_used_when_parsed_then_the_problem_names_it(
    deadlines, path, allowed
):
    with pytest.raises(LabspecError) as error:
        parse_labspec(_spec(deadlines))

    problem = error.value.problems[0]
    assert path in problem.path
    assert allowed in problem.allowed
