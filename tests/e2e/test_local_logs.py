"""End to end on the local plane over HTTP: `ads logs` prints the output the lab's agent
kept — every deploy step of a successful deploy, one step, a failing action's output and
exit code, and `--follow` of a running action until it ends; a destroyed lab answers 409
(exit 4) naming its status."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.harness import GIT_ENV

pytestmark = pytest.mark.e2e

HELLO_WEB = Path("events/labs/hello-web")


@pytest.fixture
def lab_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "hello-web"
    shutil.copytree(HELLO_WEB, repo)
    tmp_path.chmod(0o755)
    labspec_path = repo / "scripts" / "labspec.json"
    labspec = json.loads(labspec_path.read_text())
    actions = labspec["lab"]["runtime_requirements"]["platform"]["lab_actions"]
    actions["selftest"] = ["echo checking the page", "echo 'the page check failed' >&2; exit 5"]
    actions["ticker"] = ["for i in 1 2 3 4; do echo tick $i; sleep 1; done"]
    labspec_path.write_text(json.dumps(labspec))
    for command in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "-A"],
        ["git", "commit", "-q", "-m", "hello-web with selftest and ticker"],
    ):
        subprocess.run(command, cwd=repo, env=GIT_ENV, check=True)
    return repo


def test_given_a_deployed_lab_when_its_logs_are_read_then_steps_actions_and_follow_answer(
    local_plane, lab_repo: Path
):
    deployed = local_plane.ads("deploy", f"{lab_repo}@main", "--wait", "--json")
    assert deployed.returncode == 0, deployed.explain()
    lab_id = deployed.json()["lab_id"]
    steps = [s["name"] for s in deployed.json()["plan"]["steps"] if s["commands"]]
    try:
        everything = local_plane.ads("logs", lab_id, "--json")
        assert everything.returncode == 0, everything.explain()
        document = everything.json()
        assert (document["status"], document["exit_code"]) == ("succeeded", 0)
        assert [s["step"] for s in document["steps"]] == steps
        assert all(s["exit_code"] == 0 for s in document["steps"])
        assert document["lines"][0].startswith("$ ")

        start = local_plane.ads("logs", lab_id, "--step", "start")
        assert start.returncode == 0, start.explain()
        assert start.stdout.startswith("$ ")
        assert "deploy step start of lab" in start.stderr and "succeeded (exit 0)" in start.stderr

        unknown = local_plane.ads("logs", lab_id, "--step", "nope")
        assert unknown.returncode == 3, unknown.explain()
        assert "no step 'nope'" in unknown.stderr and "start" in unknown.stderr

        failed = local_plane.ads("action", lab_id, "selftest", "--wait")
        assert failed.returncode == 1, failed.explain()
        selftest = local_plane.ads("logs", lab_id, "--action", "selftest")
        assert selftest.returncode == 0, selftest.explain()
        assert "the page check failed" in selftest.stdout
        assert "[exit status 5]" in selftest.stdout
        assert "failed (exit 5)" in selftest.stderr

        ticking = local_plane.ads("action", lab_id, "ticker")
        assert ticking.returncode == 0, ticking.explain()
        deadline = time.monotonic() + 30
        while True:
            followed = local_plane.ads("logs", lab_id, "--action", "ticker", "--follow")
            if followed.returncode != 3 or time.monotonic() > deadline:
                break  # 3 (not found): the agent has not started the run yet
            time.sleep(0.5)
        assert followed.returncode == 0, followed.explain()
        assert [line for line in followed.stdout.splitlines() if line.startswith("tick")] == [
            "tick 1", "tick 2", "tick 3", "tick 4",
        ]  # fmt: skip
        assert "succeeded (exit 0)" in followed.stderr
    finally:
        destroyed = local_plane.ads("destroy", lab_id, "--wait")
        assert destroyed.returncode == 0, destroyed.explain()
    gone = local_plane.ads("logs", lab_id)
    assert gone.returncode == 4, gone.explain()
    assert "is DESTROYED: it has no VM to read logs from" in gone.stderr
