"""What install.sh configures (the lab's bind address, the default command timeout) holds
for every lab command the agent runs, not only the first deploy: a later action starts
from systemd or an operator's shell, whose environment the install never touched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.integration.agent.conftest import INSTALL_SH, REPO_ROOT, free_port

BIND_FILE = "bind.txt"
ACTIONS = {
    # $ADS_STATE_DIR is where the agent keeps its state; the action writes what it was told.
    "show": [f'printf %s "$ADS_LAB_BIND" > "$ADS_STATE_DIR/{BIND_FILE}"'],
    "hang": ["sleep 3600"],
    "slow": ["sleep 2"],
}


def _install(sandbox, *options: str, timeouts: dict | None = None) -> Path:
    plan = {
        "lab_name": "Configured Lab",
        "steps": [{"name": "start", "commands": ["echo started"]}],
        "actions": ACTIONS,
        "health_probe": None,
    }
    if timeouts:
        plan["timeouts"] = timeouts
    plan_path = sandbox.root / "plan.json"
    plan_path.write_text(json.dumps(plan))
    prefix = sandbox.root / "prefix"
    command = [
        "sh", str(INSTALL_SH), "--prefix", str(prefix), "--lab-id", "configured-lab",
        "--plan", str(plan_path), "--host", "127.0.0.1", "--port", str(free_port()),
        "--lab-port", str(free_port()), "--service", "background", "--python", sys.executable,
        *options,
    ]  # fmt: skip
    result = subprocess.run(command, env=sandbox.env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return prefix / "state"


def _action(sandbox, state_dir: Path, name: str, env_extra: dict | None = None):
    # The environment of a later start: the sandbox marker and nothing the install set.
    env = {k: v for k, v in sandbox.env.items() if k != "ADS_LAB_BIND"}
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "ads_agent", "action", name, "--state-dir", str(state_dir)],
        cwd=str(REPO_ROOT),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_given_an_install_with_lab_bind_when_an_action_runs_later_then_it_gets_that_bind(
    sandbox,
):
    state_dir = _install(sandbox, "--lab-bind", "0.0.0.0")

    result = _action(sandbox, state_dir, "show")

    assert result.returncode == 0, result.stderr
    assert (state_dir / BIND_FILE).read_text() == "0.0.0.0"
    assert json.loads((state_dir / "lab.json").read_text())["lab_bind"] == "0.0.0.0"


def test_given_an_install_without_lab_bind_when_the_environment_says_otherwise_then_loopback_wins(
    sandbox,
):
    state_dir = _install(sandbox)

    result = _action(sandbox, state_dir, "show", {"ADS_LAB_BIND": "0.0.0.0"})

    assert result.returncode == 0, result.stderr
    assert (state_dir / BIND_FILE).read_text() == "127.0.0.1"


def test_given_an_install_timeout_when_an_action_hangs_later_then_it_times_out_after_it(
    sandbox,
):
    state_dir = _install(sandbox, "--timeout", "1")
    began = time.monotonic()

    result = _action(sandbox, state_dir, "hang")

    assert time.monotonic() - began < 30
    assert result.returncode == 124, result.stderr
    assert "command 'sleep 3600' timed out after 1 s" in result.stderr


def test_given_an_install_timeout_when_the_labspec_sets_one_for_the_action_then_the_labspec_wins(
    sandbox,
):
    state_dir = _install(sandbox, "--timeout", "1", timeouts={"slow": 30})

    result = _action(sandbox, state_dir, "slow")

    assert result.returncode == 0, result.stderr


def test_given_a_bind_that_is_not_an_address_when_installing_then_exit_2_names_the_option(
    sandbox,
):
    plan = sandbox.root / "p.json"
    plan.write_text(json.dumps({"lab_name": "x", "steps": [], "actions": {}}))
    result = subprocess.run(
        ["sh", str(INSTALL_SH), "--prefix", str(sandbox.root / "p"), "--lab-id", "x-lab",
         "--plan", str(plan), "--lab-bind", "0.0.0.0; id"],
        env=sandbox.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert result.returncode == 2
    assert "--lab-bind: found '0.0.0.0; id'" in result.stderr
    assert not os.path.exists(sandbox.root / "p")
