"""The labspec extension runtime_requirements.platform.timeouts, carried into the plan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ads.errors import LabspecError
from ads.lab.labspec import parse_labspec
from ads.lab.plan import PlanOptions, make_plan

HELLO_WEB = Path(__file__).resolve().parents[3] / "events" / "labs" / "hello-web" / "scripts"


def _spec(timeouts) -> dict:
    document = json.loads((HELLO_WEB / "labspec.json").read_text())
    document["lab"]["runtime_requirements"]["platform"]["timeouts"] = timeouts
    return document


def test_given_timeouts_when_planned_then_the_plan_carries_them_by_name():
    plan = make_plan(
        parse_labspec(_spec({"start": 2, "backup": 3600, "default": 900})), PlanOptions()
    )

    assert plan.timeouts == {"start": 2.0, "backup": 3600.0, "default": 900.0}


def test_given_no_timeouts_when_planned_then_the_plan_has_none_and_the_agent_default_applies():
    document = json.loads((HELLO_WEB / "labspec.json").read_text())

    assert make_plan(parse_labspec(document), PlanOptions()).timeouts == {}


@pytest.mark.parametrize(
    ("timeouts", "path"),
    [
        ({"start": 0}, "timeouts.start"),
        ({"start": "soon"}, "timeouts.start"),
        ({"start": 10**9}, "timeouts.start"),
        ({"no such step!": 5}, "timeouts"),
    ],
)
def test_given_a_timeout_that_cannot_be_used_when_parsed_then_the_problem_names_it(timeouts, path):
    with pytest.raises(LabspecError) as error:
        parse_labspec(_spec(timeouts))

    assert path in error.value.problems[0].path
