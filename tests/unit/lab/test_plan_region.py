"""`ads plan --region` prices a what-if and says so: a plan never claims a region a lab
deployed from it would run in unless it is the one it will run in."""

from __future__ import annotations

import json
import os

import pytest

from ads.cli.main import main
from ads.config import reset_config
from tests.unit.lab.specs import FIXTURES

TRACKER = str(FIXTURES / "lab-usage-tracker.labspec.json")


@pytest.fixture(autouse=True)
def clean_config(monkeypatch):
    for name in list(os.environ):
        if name.startswith("ADS_") or name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
            monkeypatch.delenv(name)
    reset_config()
    yield
    reset_config()


def _plan(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["plan", TRACKER, *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_given_a_region_option_when_planned_then_the_plan_says_it_is_a_what_if(capsys):
    code, out, _ = _plan(capsys, "--json", "--region", "ap-south-1")

    plan = json.loads(out)
    assert (code, plan["region"]) == (0, "ap-south-1")
    [note] = [w for w in plan["warnings"] if "what-if" in w]
    assert note.startswith("--region ap-south-1 prices the plan as a what-if")
    assert "control plane's region" in note


def test_given_a_region_option_when_summarised_then_the_what_if_is_among_the_warnings(capsys):
    code, out, _ = _plan(capsys, "--region", "ap-south-1")

    assert code == 0
    assert "in ap-south-1" in out
    warnings = out.split("Warnings:", 1)[1]
    assert "--region ap-south-1 prices the plan as a what-if" in warnings


def test_given_no_region_option_when_planned_then_no_what_if_is_claimed(capsys, monkeypatch):
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    reset_config()

    code, out, _ = _plan(capsys, "--json")

    plan = json.loads(out)
    assert (code, plan["region"]) == (0, "eu-west-1")
    assert not any("what-if" in w for w in plan["warnings"])


def test_given_the_help_when_read_then_region_is_offered_as_a_price_what_if_only(capsys):
    with pytest.raises(SystemExit):
        main(["plan", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--region REGION price the plan as if in this region: a what-if" in text
