"""The quality gates stay wired: make test runs make lint, make lint runs all three, and the
settings the gates read say what docs/development.md says; plus the behaviour the type
fixes made explicit."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from ads.api_input import checked_event
from ads.errors import InvalidInputError
from cdk_app.nag import acknowledge

ROOT = Path(__file__).resolve().parents[2]


def _make_rule(target: str) -> tuple[list[str], list[str]]:
    """The prerequisites and recipe lines of ``target`` in the Makefile."""
    lines = (ROOT / "Makefile").read_text().splitlines()
    for index, line in enumerate(lines):
        match = re.match(rf"^{re.escape(target)}:(.*)$", line)
        if match:
            recipe = []
            for body in lines[index + 1 :]:
                if not body.startswith("\t"):
                    break
                recipe.append(body.strip())
            return match.group(1).split(), recipe
    raise AssertionError(f"the Makefile has no {target!r} target")


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_given_the_makefile_when_make_test_runs_then_make_lint_runs_first():
    prerequisites, _ = _make_rule("test")

    assert "lint" in prerequisites


def test_given_the_makefile_when_make_lint_runs_then_ruff_its_format_check_and_mypy_run():
    _, recipe = _make_rule("lint")

    assert any(line.endswith("ruff check .") for line in recipe), recipe
    assert any(line.endswith("ruff format --check .") for line in recipe), recipe
    assert any(line.split()[0].endswith("/mypy") for line in recipe), recipe


def test_given_the_ruff_settings_when_read_then_complexity_and_unused_arguments_are_gates():
    lint = _pyproject()["tool"]["ruff"]["lint"]

    assert {"C90", "ARG"} <= set(lint["select"])
    assert lint["mccabe"]["max-complexity"] == 12
    # Only the tests are spared ARG (fixtures by name, fakes keeping signatures).
    assert {pattern for pattern, rules in lint["per-file-ignores"].items() if "ARG" in rules} == {
        "tests/**"
    }


def test_given_the_mypy_settings_when_read_then_every_package_is_checked_with_pydantic():
    mypy = _pyproject()["tool"]["mypy"]

    assert set(mypy["files"]) == {"ads", "functions", "cdk_app", "ads_agent"}
    assert "pydantic.mypy" in mypy["plugins"]
    assert mypy["python_version"] == "3.11"
    assert mypy["disallow_untyped_defs"] is True
    assert mypy["warn_unused_ignores"] is True
    # No package of ADS's own may opt out of its imports being checked.
    for override in mypy.get("overrides", []):
        modules = override["module"]
        modules = [modules] if isinstance(modules, str) else modules
        assert not [m for m in modules if m.split(".")[0] in set(mypy["files"])], override


def test_given_a_finding_on_a_missing_role_when_acknowledged_then_synth_fails_naming_it():
    with pytest.raises(ValueError, match=r"AwsSolutions-IAM5\[Resource::\*\].*found None"):
        acknowledge(None, "AwsSolutions-IAM5[Resource::*]", "Describe needs '*'.")


def test_given_a_base64_marked_body_that_is_not_text_when_checked_then_400_names_the_body():
    with pytest.raises(InvalidInputError) as raised:
        checked_event({"body": 12345, "isBase64Encoded": True})

    assert [problem.path for problem in raised.value.problems] == ["body"]
    assert "base64" in raised.value.problems[0].found
