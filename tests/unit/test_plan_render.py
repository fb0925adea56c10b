"""One plan renderer: `ads plan` and the answers that embed a plan share every phrase."""

from __future__ import annotations

from pathlib import Path

import pytest

from ads.cli import render
from ads.cli.plan_render import plan_lines, render_plan
from ads.lab.plan import PlanOptions, plan_from_labspec_source

LABSPECS = sorted((Path(__file__).resolve().parents[2] / "events" / "labspecs").glob("*.json"))


def _plan(path: Path) -> dict:
    return plan_from_labspec_source(path.read_bytes(), PlanOptions(), None).model_dump(mode="json")


@pytest.mark.parametrize("labspec", LABSPECS[:4], ids=lambda p: p.name)
def test_given_a_plan_when_summarised_in_an_answer_then_each_line_is_a_line_of_ads_plan(labspec):
    plan = _plan(labspec)
    full = render_plan(plan)

    summary = plan_lines(plan)

    assert [line.split(":", 1)[0] for line in summary] == ["OS", "Arch", "Instance", "Cost"]
    full_values = {line.split(":", 1)[1].strip() for line in full.splitlines() if ":" in line}
    for line in summary:
        assert line.split(":", 1)[1].strip() in full_values, line


def test_given_a_deploy_answer_when_rendered_then_its_plan_reads_as_ads_plan_does():
    plan = _plan(LABSPECS[0])
    answer = {"lab_id": "l-1", "status": "REQUESTED", "plan": plan}

    text = render.render_deploy_answer(answer)

    for line in plan_lines(plan):
        assert line in text


def test_given_a_plan_missing_fields_when_rendered_then_it_shows_what_it_has():
    plan = {"os": {"family": "ubuntu", "version": "22.04"}, "instance_type": "t3.micro"}

    assert render_plan(plan).splitlines()[1] == "OS:           ubuntu 22.04"
    assert plan_lines(plan)[:2] == ["OS:       ubuntu 22.04", "Instance: t3.micro"]
    assert plan_lines(None) == []


@pytest.mark.parametrize(
    ("seconds", "shown"), [(None, "-"), (5, "5s"), (65, "1m 05s"), (3725, "1h 02m")]
)
def test_given_durations_when_formatted_then_one_formatter_serves_every_command(seconds, shown):
    from ads.cli import local_cmds

    assert render.format_duration(seconds) == shown
    assert not hasattr(local_cmds, "_duration")
