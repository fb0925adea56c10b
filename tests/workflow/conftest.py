"""Fixtures of the workflow tier: the real ASL, run by the local control plane.

Each test gets its own control plane (moto, the DeployLab / DestroyLab state machines,
the step handlers in-process, the ``local`` provider) in a fresh directory, with retry
waits compressed. Deployments are requested the way the API requests them
(``ads.deployments.request_deployment``). After every test no process of any of its
sandboxes may be left running.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ads.api_models import DeploymentRequest, LabSource
from ads.deployments import request_deployment, request_destroy
from ads.lab_record import LabRecord
from ads.local.runtime import LocalControlPlane
from ads.providers.local_processes import processes_under

REPO = Path(__file__).resolve().parents[2]
HELLO_WEB = REPO / "events" / "labs" / "hello-web"
FAILING_BUILD = REPO / "events" / "labspecs" / "failing-build.labspec.json"
CALLER = "arn:aws:iam::123456789012:user/local"
# Retry waits at 2% of their AWS length: "never running" gives up after ~7 s, not ~6 min.
# The Choice a DeployLab starts with: a lab of one VM goes on to Create VM from it.
CLUSTER_CHOICE = "Cluster Lab?"
# The Task states of a DeployLab that succeeds (no image asked for), in order.
DEPLOY_PATH = [
    "Create VM",
    "Wait Until Running",
    "Initialise VM",
    "Await Init",
    "Check Health",
    "Mark Ready",
]
TIME_SCALE = 0.02
EXECUTION_TIMEOUT_S = 120


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A directory the unprivileged lab user can traverse (pytest's tmp dirs are 0700:
    under root, the provider would put the sandboxes elsewhere)."""
    path = Path(tempfile.mkdtemp(prefix="ads-workflow-"))
    path.chmod(0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(autouse=True)
def no_process_left(workdir: Path) -> Iterator[None]:
    yield
    leftovers = processes_under(workdir)
    for pid in leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert leftovers == [], f"processes of lab sandboxes left running: {leftovers}"


@pytest.fixture
def plane(workdir: Path) -> Iterator[LocalControlPlane]:
    with LocalControlPlane(workdir / "plane", time_scale=TIME_SCALE) as running:
        yield running


def plane_with_env(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, **env: str
) -> Iterator[LocalControlPlane]:
    """A local plane whose configuration reads ``env`` (ADS_* variables) on top."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with LocalControlPlane(workdir / "plane", time_scale=TIME_SCALE) as running:
        yield running


@pytest.fixture(scope="session")
def hello_web_repo() -> Iterator[Path]:
    """The hello-web sample lab as a git repository (what a lab's source is), where any
    local user may read it: a root control plane reads local sources without root's rights."""
    parent = Path(tempfile.mkdtemp(prefix="ads-sources-"))
    parent.chmod(0o755)
    path = parent / "hello-web"
    shutil.copytree(HELLO_WEB, path)
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(path.parent),
        "GIT_AUTHOR_NAME": "ADS tests",
        "GIT_AUTHOR_EMAIL": "tests@ads.invalid",
        "GIT_COMMITTER_NAME": "ADS tests",
        "GIT_COMMITTER_EMAIL": "tests@ads.invalid",
    }
    for command in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"]):
        subprocess.run(command, cwd=path, env=env, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "hello-web"], cwd=path, env=env, check=True)
    yield path
    shutil.rmtree(parent, ignore_errors=True)


def hello_web_labspec() -> dict[str, Any]:
    return json.loads((HELLO_WEB / "scripts" / "labspec.json").read_text())


def failing_build_labspec() -> dict[str, Any]:
    return json.loads(FAILING_BUILD.read_text())


@dataclass
class Outcome:
    lab_id: str
    execution_arn: str
    execution: dict[str, Any]
    record: LabRecord
    states: list[str]


class WorkflowDriver:
    """Requests deployments and destroys as the API does and waits for their end."""

    def __init__(self, plane: LocalControlPlane) -> None:
        self.plane = plane
        self.ctx = plane.deployment_context()

    def deploy(self, labspec: dict[str, Any], source: Path | None = None) -> Outcome:
        request = DeploymentRequest(
            labspec=labspec, source=LabSource(git=str(source)) if source else None
        )
        accepted = request_deployment(self.ctx, request, caller=CALLER)
        return self._finish(accepted["lab_id"], accepted["execution_arn"])

    def destroy(self, lab_id: str) -> Outcome:
        accepted = request_destroy(self.ctx, lab_id, caller=CALLER)
        return self._finish(lab_id, accepted["execution_arn"])

    def _finish(self, lab_id: str, execution_arn: str) -> Outcome:
        execution = self.plane.wait_for_execution(execution_arn, EXECUTION_TIMEOUT_S)
        return Outcome(
            lab_id=lab_id,
            execution_arn=execution_arn,
            execution=execution,
            record=self.plane.repository().require(lab_id),
            states=self.plane.states_entered(execution_arn),
        )


@pytest.fixture
def driver(plane: LocalControlPlane) -> WorkflowDriver:
    return WorkflowDriver(plane)
