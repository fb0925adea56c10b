"""A VM of a lab of several VMs: install.sh's --vm-name, --vm-role and --cluster-facts are
kept in lab.json, so every step of the deploy and every later action (started from
systemd or an operator's shell, whose environment the install never touched) runs with
ADS_VM_NAME, ADS_VM_ROLE and ADS_CLUSTER_FACTS; a single-VM lab gets none of them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.agent.conftest import INSTALL_SH, REPO_ROOT, free_port

SHOW = (
    'printf "%s|%s|%s" "${ADS_VM_NAME-unset}" "${ADS_VM_ROLE-unset}" '
    '"${ADS_CLUSTER_FACTS-unset}" > "$ADS_STATE_DIR/{file}"'
)
CLUSTER = ["--vm-name", "web-2", "--vm-role", "web", "--cluster-facts", "/etc/ads/facts.json"]


def _install(sandbox, *options: str) -> tuple[subprocess.CompletedProcess, Path]:
    plan = {
        "lab_name": "Cluster Lab",
        "steps": [{"name": "start", "commands": [SHOW.replace("{file}", "step.txt")]}],
        "actions": {"show": [SHOW.replace("{file}", "action.txt")]},
        "health_probe": None,
    }
    plan_path = sandbox.root / "plan.json"
    plan_path.write_text(json.dumps(plan))
    prefix = sandbox.root / "prefix"
    command = [
        "sh", str(INSTALL_SH), "--prefix", str(prefix), "--lab-id", "cluster-lab",
        "--plan", str(plan_path), "--host", "127.0.0.1", "--port", str(free_port()),
        "--lab-port", str(free_port()), "--service", "background", "--python", sys.executable,
        *options,
    ]  # fmt: skip
    result = subprocess.run(command, env=sandbox.env, capture_output=True, text=True, timeout=120)
    return result, prefix / "state"


def _action(sandbox, state_dir: Path) -> subprocess.CompletedProcess:
    # A later start's environment: the sandbox marker, nothing of the install.
    return subprocess.run(
        [sys.executable, "-m", "ads_agent", "action", "show", "--state-dir", str(state_dir)],
        cwd=str(REPO_ROOT),
        env=dict(sandbox.env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_given_a_cluster_vm_install_when_its_steps_and_a_later_action_run_then_both_see_its_name_role_and_facts(
    sandbox,
):
    result, state_dir = _install(sandbox, *CLUSTER)
    assert result.returncode == 0, result.stdout + result.stderr

    action = _action(sandbox, state_dir)

    assert action.returncode == 0, action.stderr
    assert (state_dir / "step.txt").read_text() == "web-2|web|/etc/ads/facts.json"
    assert (state_dir / "action.txt").read_text() == "web-2|web|/etc/ads/facts.json"
    lab = json.loads((state_dir / "lab.json").read_text())
    assert (lab["vm_name"], lab["vm_role"], lab["cluster_facts"]) == (
        "web-2",
        "web",
        "/etc/ads/facts.json",
    )


def test_given_a_single_vm_install_when_its_steps_run_then_no_cluster_variable_is_set(sandbox):
    result, state_dir = _install(sandbox)
    assert result.returncode == 0, result.stdout + result.stderr

    assert (state_dir / "step.txt").read_text() == "unset|unset|unset"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--vm-name", "Web_1", "--vm-role", "web"], "--vm-name: found 'Web_1'"),
        (["--vm-name", "web-1", "--vm-role", "-x"], "--vm-role: found '-x'"),
        (["--vm-name", "web-1", "--vm-role", "web", "--cluster-facts", "f.json"],
         "--cluster-facts: found 'f.json'"),
    ],
)  # fmt: skip
def test_given_a_bad_vm_option_when_installing_then_exit_2_names_it(sandbox, options, message):
    result, _ = _install(sandbox, *options)

    assert result.returncode == 2
    assert message in result.stderr
