"""The agent's ``update``: a lab moved to another revision on the same machine, the
previous one deployed again when the new one fails, and the outcome it reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ads_agent import update

REPO_ROOT = Path(__file__).resolve().parents[3]
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@ads.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@ads.invalid",
    "PATH": "/usr/bin:/bin",
    "HOME": "/nonexistent",
}
# The build writes the page from VERSION; build.sh exits with BUILD_EXIT; start leaves a
# process running in the background, as a lab's server does.
PLAN = {
    "steps": [
        {"name": "build", "commands": ["sh build.sh"]},
        {"name": "start", "commands": ["nohup sleep 300 >/dev/null 2>&1 & echo $! > ../app.pid"]},
    ],
    "actions": {"stop": ['test ! -f ../app.pid || kill "$(cat ../app.pid)" || true']},
}


def _commit(repo: Path, version: str, build_exit: int = 0) -> str:
    scripts = repo / "scripts"
    scripts.mkdir(parents=True, exist_ok=True)
    (scripts / "build.sh").write_text(
        f"echo building {version}\necho {version} > ../page.txt\nexit {build_exit}\n"
    )
    subprocess.run(["git", "add", "-A"], cwd=repo, env=GIT_ENV, check=True)
    subprocess.run(["git", "commit", "-q", "-m", version], cwd=repo, env=GIT_ENV, check=True)
    subprocess.run(["git", "tag", version], cwd=repo, env=GIT_ENV, check=True)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, env=GIT_ENV, check=True, capture_output=True
    )
    return head.stdout.decode().strip()


@pytest.fixture
def deployed(tmp_path: Path):
    """A lab deployed at v1 (checkout, plan, lab.json, a running 'server'), with v2 and a
    v3 whose build exits 2 in its repository."""
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], env=GIT_ENV, check=True)
    shas = {"v1": _commit(repo, "v1"), "v2": _commit(repo, "v2"), "v3": _commit(repo, "v3", 2)}
    prefix = tmp_path / "vm"
    state_dir, lab_dir = prefix / "state", prefix / "lab"
    state_dir.mkdir(parents=True)
    subprocess.run(["git", "clone", "-q", str(repo), str(lab_dir)], env=GIT_ENV, check=True)
    subprocess.run(["git", "checkout", "-q", "v1"], cwd=lab_dir, env=GIT_ENV, check=True)
    (state_dir / "plan.json").write_text(json.dumps(PLAN))
    (state_dir / "lab.json").write_text(
        json.dumps({"lab_id": "lab-1", "lab_port": 8080, "source_revision": shas["v1"]})
    )
    started = _agent(state_dir, lab_dir, "deploy")
    assert started.returncode == 0, started.stderr
    yield repo, state_dir, lab_dir, shas
    update.stop_lab_processes(state_dir)


def _agent(state_dir: Path, lab_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "HOME": "/nonexistent"}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "ads_agent",
            *args,
            "--state-dir",
            str(state_dir),
            "--lab-dir",
            str(lab_dir),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _result(stdout: str) -> dict:
    line = stdout.strip().splitlines()[-1]
    assert line.startswith(update.RESULT_PREFIX), stdout
    return json.loads(line[len(update.RESULT_PREFIX) :])


def _server_pid(lab_dir: Path) -> int:
    return int((lab_dir / "app.pid").read_text().strip())


def _alive(pid: int) -> bool:
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
        time.sleep(0.05)
    return True


def test_given_a_lab_at_v1_when_updated_to_v2_then_v2_is_deployed_and_its_sha_reported(deployed):
    repo, state_dir, lab_dir, shas = deployed
    old_server = _server_pid(lab_dir)

    run = _agent(state_dir, lab_dir, "update", "--source-git", str(repo), "--source-ref", "v2")

    assert run.returncode == update.EXIT_UPDATED, run.stdout + run.stderr
    result = _result(run.stdout)
    assert result["outcome"] == "updated"
    assert result["revision"] == shas["v2"] and result["previous_revision"] == shas["v1"]
    assert (lab_dir / "page.txt").read_text().strip() == "v2"
    assert not _alive(old_server), "the v1 server must be stopped before v2 starts"
    assert _alive(_server_pid(lab_dir))
    assert json.loads((state_dir / "lab.json").read_text())["source_revision"] == shas["v2"]
    assert json.loads((state_dir / "deploy.json").read_text())["status"] == "succeeded"
    assert (lab_dir.parent / "lab.previous" / "page.txt").read_text().strip() == "v1"


def test_given_a_build_that_exits_2_when_updated_then_the_previous_revision_serves_again(
    deployed,
):
    repo, state_dir, lab_dir, shas = deployed

    run = _agent(state_dir, lab_dir, "update", "--source-git", str(repo), "--source-ref", "v3")

    assert run.returncode == update.EXIT_ROLLED_BACK, run.stdout + run.stderr
    result = _result(run.stdout)
    assert result["outcome"] == "rolled_back"
    assert result["failed_step"] == "deploy"
    assert result["cause"].startswith("build exited 2: command 'sh build.sh'")
    assert result["revision"] == shas["v3"] and result["previous_revision"] == shas["v1"]
    assert (lab_dir / "page.txt").read_text().strip() == "v1"
    assert _alive(_server_pid(lab_dir))
    assert json.loads((state_dir / "lab.json").read_text())["source_revision"] == shas["v1"]
    assert json.loads((state_dir / "deploy.json").read_text())["status"] == "succeeded"


def test_given_an_unknown_ref_when_updated_then_nothing_stops_and_the_fetch_is_the_cause(
    deployed,
):
    repo, state_dir, lab_dir, _shas = deployed
    server = _server_pid(lab_dir)

    run = _agent(state_dir, lab_dir, "update", "--source-git", str(repo), "--source-ref", "v9")

    assert run.returncode == update.EXIT_ROLLED_BACK, run.stdout + run.stderr
    result = _result(run.stdout)
    assert result["failed_step"] == "fetch" and "'v9'" in result["cause"]
    assert _alive(server), "a ref that cannot be fetched must leave the lab running"
    assert not (lab_dir.parent / "lab.next").exists()


def test_given_a_previous_revision_that_fails_too_when_updated_then_both_causes_are_reported(
    deployed,
):
    repo, state_dir, lab_dir, _shas = deployed
    # The checkout the restore would deploy again is broken as well.
    (lab_dir / "scripts" / "build.sh").write_text("exit 4\n")

    run = _agent(state_dir, lab_dir, "update", "--source-git", str(repo), "--source-ref", "v3")

    assert run.returncode == update.EXIT_RESTORE_FAILED, run.stdout + run.stderr
    result = _result(run.stdout)
    assert result["outcome"] == "restore_failed"
    assert result["cause"].startswith("build exited 2")
    assert result["restore_cause"].startswith("build exited 4")


def test_given_a_lab_stopped_by_the_caller_and_an_unknown_ref_then_the_previous_revision_starts_again(
    deployed,
):
    repo, state_dir, lab_dir, shas = deployed
    old_server = _server_pid(lab_dir)
    update.stop_lab_processes(state_dir)  # as the local provider does from outside
    assert not _alive(old_server)

    run = _agent(
        state_dir,
        lab_dir,
        "update",
        "--source-git",
        str(repo),
        "--source-ref",
        "v9",
        "--already-stopped",
    )

    assert run.returncode == update.EXIT_ROLLED_BACK, run.stdout + run.stderr
    result = _result(run.stdout)
    assert result["outcome"] == "rolled_back" and result["failed_step"] == "fetch"
    assert result["previous_revision"] == shas["v1"]
    assert _alive(_server_pid(lab_dir)), "the previous revision must serve again"
    assert (lab_dir / "page.txt").read_text().strip() == "v1"
