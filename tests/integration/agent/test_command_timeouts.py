"""Timeouts per deploy step and per action, from the plan's ``timeouts`` (the labspec's
``runtime_requirements.platform.timeouts``): a hung command ends the run, named, with
"timed out after N s"."""

from __future__ import annotations

import json
import time

from ads_agent.runner import DEFAULT_TIMEOUT_S, timeout_for


def _write_plan_with_timeouts(sandbox, timeouts, **plan):
    written = sandbox.write_plan(**plan)
    written["timeouts"] = timeouts
    (sandbox.state_dir / "plan.json").write_text(json.dumps(written))


def test_given_a_start_step_that_hangs_when_deployed_then_it_fails_naming_the_command_and_limit(
    sandbox,
):
    _write_plan_with_timeouts(
        sandbox,
        {"start": 1},
        steps=[("init", ["echo ready"]), ("start", ["sleep 3600"])],
    )
    sandbox.write_lab()
    began = time.monotonic()

    result = sandbox.lab_commands("deploy")

    assert time.monotonic() - began < 30
    assert result.returncode == 124
    assert "failed in step 'start': command 'sleep 3600' timed out after 1 s" in result.stderr
    tail = result.stderr.split("--- output tail ---")[1]
    assert "[command 'sleep 3600' timed out after 1 s" in tail
    deploy = json.loads((sandbox.state_dir / "deploy.json").read_text())
    assert (deploy["status"], deploy["failed_step"], deploy["timed_out"]) == (
        "failed",
        "start",
        True,
    )
    assert deploy["timeout_s"] == 1


def test_given_a_step_without_its_own_timeout_when_deployed_then_the_default_entry_applies(
    sandbox,
):
    _write_plan_with_timeouts(
        sandbox, {"default": 1, "start": 600}, steps=[("build", ["sleep 3600"])]
    )
    sandbox.write_lab()

    result = sandbox.lab_commands("deploy")

    assert result.returncode == 124
    assert "timed out after 1 s" in result.stderr


def test_given_an_action_with_a_timeout_when_it_hangs_then_it_ends_after_that_many_seconds(
    sandbox,
):
    _write_plan_with_timeouts(sandbox, {"backup": 1}, actions={"backup": ["sleep 3600"]})
    sandbox.write_lab()
    began = time.monotonic()

    result = sandbox.lab_commands("action", "backup")

    assert time.monotonic() - began < 30
    assert result.returncode == 124
    assert "command 'sleep 3600' timed out after 1 s" in result.stderr


def test_given_plan_timeouts_when_looked_up_then_the_name_wins_then_default_then_the_flag():
    plan = {"timeouts": {"start": 5, "default": 60, "bad": -1, "flag": True}}

    assert timeout_for(plan, "start", DEFAULT_TIMEOUT_S) == 5
    assert timeout_for(plan, "build", DEFAULT_TIMEOUT_S) == 60
    assert timeout_for({"timeouts": {"bad": -1}}, "bad", 7.0) == 7.0
    assert timeout_for({"timeouts": {"flag": True}}, "flag", 7.0) == 7.0
    assert timeout_for({}, "start", 7.0) == 7.0
