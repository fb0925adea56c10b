"""Lab commands run by the agent's command line: deploy and named actions, their history."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import time

from ads_agent.history import HistoryStore
from tests.integration.agent.conftest import REPO_ROOT, is_gone, wait_until


def _history(sandbox):
    path = sandbox.state_dir / "history.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_given_an_action_that_succeeds_when_run_then_it_exits_0_and_history_keeps_its_output(
    sandbox,
):
    sandbox.write_plan(actions={"backup": ["echo saving", "echo done"]})
    sandbox.write_lab()
    result = sandbox.lab_commands("action", "backup")
    assert result.returncode == 0, result.stderr
    [record] = _history(sandbox)
    assert record["action"] == "backup"
    assert (record["exit_code"], record["failed_command"], record["timed_out"]) == (0, None, False)
    assert "saving" in record["output_tail"] and "done" in record["output_tail"]
    assert record["started"] <= record["ended"]


def test_given_an_action_whose_second_command_fails_when_run_then_it_stops_there_and_reports_it_on_stderr(
    sandbox,
):
    after = sandbox.root / "third-ran"
    sandbox.write_plan(actions={"stop": ["echo one", "echo broken >&2; exit 5", f"touch {after}"]})
    sandbox.write_lab()
    result = sandbox.lab_commands("action", "stop")
    assert result.returncode == 5
    assert "echo broken >&2; exit 5" in result.stderr
    assert "broken" in result.stderr.split("--- output tail ---")[1]
    assert not after.exists()
    [record] = _history(sandbox)
    assert (record["exit_code"], record["failed_command"]) == (5, "echo broken >&2; exit 5")


def test_given_a_command_that_outlives_its_timeout_when_run_then_its_whole_process_group_is_killed(
    sandbox,
):
    child_pid_file = sandbox.root / "child.pid"
    sandbox.write_plan(actions={"stats": [f"sleep 300 & echo $! > {child_pid_file}; sleep 300"]})
    sandbox.write_lab()
    began = time.monotonic()
    result = sandbox.lab_commands("action", "stats", "--timeout", "1")
    assert time.monotonic() - began < 20
    assert result.returncode == 124
    assert "timed out" in result.stderr
    [record] = _history(sandbox)
    assert (record["timed_out"], record["exit_code"]) == (True, 124)
    child = int(child_pid_file.read_text())
    assert wait_until(lambda: is_gone(child), timeout=5)


def test_given_a_command_that_leaves_a_background_process_when_run_then_the_action_still_finishes(
    sandbox,
):
    sandbox.write_plan(actions={"start": ["sleep 60 &", "echo started"]})
    sandbox.write_lab()
    began = time.monotonic()
    result = sandbox.lab_commands("action", "start", timeout=30)
    assert result.returncode == 0
    assert time.monotonic() - began < 15  # a pipe would wait for the sleeper's end of output
    # The background sleeper keeps running (a lab's server must); the fixture ends it.


def test_given_actions_in_the_history_when_the_agent_restarts_then_the_history_is_still_served(
    sandbox,
):
    sandbox.write_plan(actions={"start": ["echo up"], "stop": ["false"]})
    sandbox.write_lab()
    sandbox.lab_commands("action", "start")
    sandbox.lab_commands("action", "stop")
    first = sandbox.start_agent()
    before = first.get("/api/1.0/actions").json()["actions"]
    first.stop()
    second = sandbox.start_agent()
    after = second.get("/api/1.0/actions").json()["actions"]
    assert [a["action"] for a in after] == ["stop", "start"]  # newest first
    assert after == before
    only_stop = second.get("/api/1.0/actions?action=stop&limit=5").json()["actions"]
    assert [(a["action"], a["exit_code"]) for a in only_stop] == [("stop", 1)]


def test_given_a_plan_when_deployed_then_steps_run_in_order_in_scripts_with_the_lab_environment(
    sandbox,
):
    trace = sandbox.root / "trace"
    sandbox.write_plan(
        steps=[
            ("configure", [f"echo configure $(pwd) >> {trace}"]),
            ("build", []),
            (
                "start",
                [
                    f'echo "start $ADS_LAB_ID $ADS_LAB_PORT $ADS_LAB_DIR $ADS_STATE_DIR $ADS_SANDBOX" >> {trace}'
                ],
            ),
        ]
    )
    sandbox.write_lab(lab_id="order-lab", lab_port=18123)
    result = sandbox.lab_commands("deploy")
    assert result.returncode == 0, result.stderr
    assert trace.read_text().splitlines() == [
        f"configure {sandbox.lab_dir / 'scripts'}",
        f"start order-lab 18123 {sandbox.lab_dir} {sandbox.state_dir} {sandbox.root}",
    ]
    deploy = json.loads((sandbox.state_dir / "deploy.json").read_text())
    assert deploy["status"] == "succeeded"


def test_given_a_failing_deploy_step_when_deployed_then_later_steps_do_not_run_and_the_step_is_named(
    sandbox,
):
    started = sandbox.root / "started"
    sandbox.write_plan(steps=[("build", ["make nothing-here"]), ("start", [f"touch {started}"])])
    sandbox.write_lab()
    result = sandbox.lab_commands("deploy")
    assert result.returncode != 0
    assert "in step 'build'" in result.stderr and "make nothing-here" in result.stderr
    assert not started.exists()
    deploy = json.loads((sandbox.state_dir / "deploy.json").read_text())
    assert (deploy["status"], deploy["failed_step"]) == ("failed", "build")


def test_given_a_chatty_command_when_run_then_the_output_tail_is_bounded_and_ends_with_the_last_lines(
    sandbox,
):
    sandbox.write_plan(actions={"publish": ["seq 1 50000"]})
    sandbox.write_lab()
    sandbox.lab_commands("action", "publish")
    [record] = _history(sandbox)
    assert len(record["output_tail"].encode()) <= 4096
    assert record["output_tail"].rstrip().endswith("50000")


def test_given_an_action_not_in_the_plan_when_run_then_exit_2_lists_the_allowed_actions(sandbox):
    sandbox.write_plan(actions={"start": [], "stop": []})
    result = sandbox.lab_commands("action", "explode")
    assert result.returncode == 2
    assert "action 'explode': not in the plan; allowed: start, stop" in result.stderr
    assert "Traceback" not in result.stderr


def test_given_a_plan_with_an_empty_command_when_deployed_then_exit_2_names_the_field(sandbox):
    (sandbox.state_dir / "plan.json").write_text(
        json.dumps({"steps": [{"name": "build", "commands": ["  "]}], "actions": {}})
    )
    result = sandbox.lab_commands("deploy")
    assert result.returncode == 2
    assert "steps[0].commands[0]: found '  ', allowed a non-empty string" in result.stderr
    assert "Traceback" not in result.stderr


def test_given_no_plan_when_deployed_then_exit_2_says_where_it_was_expected(sandbox):
    result = sandbox.lab_commands("deploy")
    assert result.returncode == 2
    assert "plan.json: not found" in result.stderr


def test_given_a_damaged_history_line_when_read_then_it_is_skipped_and_the_rest_kept(tmp_path):
    store = HistoryStore(tmp_path / "history.jsonl")
    store.append({"action": "start", "exit_code": 0})
    with (tmp_path / "history.jsonl").open("a") as handle:
        handle.write('{"action": "half-writ')
        handle.write("\n")
    store.append({"action": "stop", "exit_code": 1})
    assert [r["action"] for r in store.read()] == ["start", "stop"]
    assert [r["action"] for r in store.read(limit=1)] == ["stop"]


def test_given_an_action_running_when_another_starts_then_it_waits_and_the_runs_do_not_interleave(
    sandbox,
):
    release, trace = sandbox.root / "release", sandbox.root / "trace"
    sandbox.write_plan(
        actions={
            "backup": [f"echo backup-start >> {trace}", f"while [ ! -e {release} ]; do sleep 0.05; done",
                       f"echo backup-end >> {trace}"],
            "stats": [f"echo stats >> {trace}"],
        }
    )  # fmt: skip
    sandbox.write_lab()
    command = [sys.executable, "-m", "ads_agent", "action", "--state-dir", str(sandbox.state_dir),
               "--lab-dir", str(sandbox.lab_dir)]  # fmt: skip
    run = functools.partial(
        subprocess.Popen, cwd=str(REPO_ROOT), env=sandbox.env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    first = run([*command[:4], "backup", *command[4:]])
    assert wait_until(lambda: trace.exists())
    second = run([*command[:4], "stats", *command[4:]])
    try:
        assert wait_until(lambda: (sandbox.state_dir / "run.lock").exists())
        time.sleep(0.5)
        assert trace.read_text().splitlines() == ["backup-start"]
    finally:
        release.touch()
        first.communicate(timeout=30)
        _, second_err = second.communicate(timeout=30)
    assert trace.read_text().splitlines() == ["backup-start", "backup-end", "stats"]
    assert "another lab action is running; waiting for it" in second_err
