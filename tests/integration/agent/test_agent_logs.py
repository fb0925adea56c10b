"""`python3 -m ads_agent logs`: the output of each deploy step and action run, kept for
successful runs too, read back as one bounded JSON document, paged by byte offset."""

from __future__ import annotations

import json

from ads_agent.run_logs import read_logs


def _logs(sandbox, *args: str) -> tuple[int, dict]:
    result = sandbox.lab_commands("logs", *args)
    return result.returncode, json.loads(result.stdout)


def test_given_a_successful_deploy_when_its_logs_are_read_then_every_step_and_its_output_is_there(
    sandbox,
):
    sandbox.write_plan(
        steps=[("build", ["echo compiling", "echo linked"]), ("start", ["echo serving"])]
    )
    sandbox.write_lab()
    assert sandbox.lab_commands("deploy").returncode == 0

    code, everything = _logs(sandbox)
    assert code == 0
    assert (everything["kind"], everything["status"], everything["exit_code"]) == (
        "deploy",
        "succeeded",
        0,
    )
    assert everything["steps"] == [
        {"step": "build", "exit_code": 0},
        {"step": "start", "exit_code": 0},
    ]
    assert "compiling" in everything["lines"] and "serving" in everything["lines"]
    assert everything["next_offset"] is None

    code, build = _logs(sandbox, "--step", "build")
    assert code == 0
    assert build["lines"] == ["$ echo compiling", "compiling", "$ echo linked", "linked"]


def test_given_a_failing_action_when_its_logs_are_read_then_its_exit_code_and_output_are_there(
    sandbox,
):
    sandbox.write_plan(actions={"selftest": ["echo checking", "echo broken >&2; exit 5"]})
    sandbox.write_lab()
    assert sandbox.lab_commands("action", "selftest").returncode == 5

    code, document = _logs(sandbox, "--action", "selftest")
    assert code == 0
    assert (document["status"], document["exit_code"]) == ("failed", 5)
    assert "broken" in document["lines"] and "[exit status 5]" in document["lines"]


def test_given_an_unknown_step_or_action_when_read_then_exit_3_lists_the_known_ones(sandbox):
    sandbox.write_plan(steps=[("build", ["true"])], actions={"backup": ["true"]})
    sandbox.write_lab()
    assert sandbox.lab_commands("deploy").returncode == 0
    assert sandbox.lab_commands("action", "backup").returncode == 0

    code, step = _logs(sandbox, "--step", "nope")
    assert code == 3 and step["known"] == ["build"]
    code, action = _logs(sandbox, "--action", "restore")
    assert code == 3 and action["known"] == ["backup"]


def test_given_long_output_when_read_in_pages_then_pages_join_to_the_whole_on_line_bounds(
    sandbox,
):
    sandbox.write_plan(steps=[("build", ["seq 1 5000"])])
    sandbox.write_lab()
    assert sandbox.lab_commands("deploy").returncode == 0

    lines: list[str] = []
    offset: int | None = 0
    pages = 0
    while offset is not None:
        page = read_logs(sandbox.state_dir, offset=offset, max_bytes=4000)
        assert len("\n".join(page["lines"])) <= 4000
        lines += page["lines"]
        offset = page["next_offset"]
        pages += 1
    assert pages > 3
    assert lines == ["$ seq 1 5000", *[str(n) for n in range(1, 5001)]]
