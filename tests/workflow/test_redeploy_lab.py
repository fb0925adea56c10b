"""RedeployLab end to end: the real ASL and handlers, the local provider and a real agent.
A lab deployed at v1 is updated to v2 on the same VM (the page says v2, the record keeps
the sha and the history); an update whose build exits 2 leaves the previous revision
serving and READY with the failed update recorded; a failure injected at each step ends
READY when the lab still answers, FAILED (VM destroyed) only when it answers on neither
revision; a second operation meanwhile is a 409."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ads import update_steps
from ads.errors import IllegalTransitionError, InvalidInputError, LabNotFoundError
from ads.lab_actions import request_action
from ads.lab_record import LabStatus
from ads.lab_updates import RedeployRequest, request_update
from ads.power import request_power
from ads.providers.local import LocalProvider

from .conftest import CALLER, Outcome, WorkflowDriver, hello_web_labspec

UPDATED_PATH = ["Start Update", "Wait For Update", "Check Health", "Record Update", "Lab Lost?"]
GIT_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/",
    "GIT_AUTHOR_NAME": "ADS tests",
    "GIT_AUTHOR_EMAIL": "tests@ads.invalid",
    "GIT_COMMITTER_NAME": "ADS tests",
    "GIT_COMMITTER_EMAIL": "tests@ads.invalid",
}


def versioned_labspec() -> dict[str, Any]:
    """hello-web whose build is the repository's scripts/build.sh."""
    labspec = hello_web_labspec()
    steps = labspec["lab"]["build_requirements"]["platform"]["build_steps"]
    steps["build"] = ["sh build.sh"]
    return labspec


def commit_version(repo: Path, version: str, build_exit: int = 0) -> str:
    (repo / "scripts").mkdir(parents=True, exist_ok=True)
    (repo / "scripts" / "build.sh").write_text(
        f"mkdir -p ../build\necho 'lab version {version}' > ../build/index.html\n"
        f"exit {build_exit}\n"
    )
    for command in (["git", "add", "-A"], ["git", "commit", "-q", "-m", version]):
        subprocess.run(command, cwd=repo, env=GIT_ENV, check=True)
    subprocess.run(["git", "tag", version], cwd=repo, env=GIT_ENV, check=True)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, env=GIT_ENV, check=True, capture_output=True
    )
    return head.stdout.decode().strip()


@pytest.fixture(scope="module")
def versioned_repo() -> Iterator[tuple[Path, dict[str, str]]]:
    """A lab repository with v1, v2 and a v3 whose build exits 2 (any user may read it)."""
    parent = Path(tempfile.mkdtemp(prefix="ads-versions-"))
    parent.chmod(0o755)
    repo = parent / "lab"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], env=GIT_ENV, check=True)
    shas = {v: commit_version(repo, v, 2 if v == "v3" else 0) for v in ("v1", "v2", "v3")}
    subprocess.run(["git", "checkout", "-q", "v1"], cwd=repo, env=GIT_ENV, check=True)
    yield repo, shas
    shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture
def lab_at_v1(driver: WorkflowDriver, versioned_repo: tuple[Path, dict[str, str]]) -> Outcome:
    repo, shas = versioned_repo
    outcome = driver.deploy(versioned_labspec(), source=repo)
    assert outcome.record.status == LabStatus.READY, outcome.record.cause
    # The first deploy's commit, as the agent reported it to Check Health.
    assert outcome.record.revision == shas["v1"]
    assert [(r["outcome"], r["sha"]) for r in outcome.record.revisions] == [
        ("deployed", shas["v1"])
    ]
    return outcome


def page(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def _update(driver: WorkflowDriver, lab_id: str, ref: str, **body: Any) -> Outcome:
    accepted = request_update(driver.ctx, lab_id, RedeployRequest(ref=ref, **body), caller=CALLER)
    assert accepted["status"] == "UPDATING" and accepted["ref"] == ref
    return driver._finish(lab_id, accepted["execution_arn"])


def test_given_a_lab_at_v1_when_redeployed_to_v2_then_v2_serves_and_its_sha_is_recorded(
    driver: WorkflowDriver, lab_at_v1: Outcome, versioned_repo: tuple[Path, dict[str, str]]
) -> None:
    _, shas = versioned_repo
    assert "lab version v1" in page(str(lab_at_v1.record.app_url))

    outcome = _update(driver, lab_at_v1.lab_id, "v2")

    assert outcome.execution["status"] == "SUCCEEDED", outcome.execution
    assert outcome.states == [*UPDATED_PATH, "Lab Updated"]
    record = outcome.record
    assert record.status == LabStatus.READY and record.update_in_progress is None
    assert record.vm_id == lab_at_v1.record.vm_id, "an update keeps the VM"
    assert record.revision == shas["v2"] and record.source and record.source["ref"] == "v2"
    assert [(r["outcome"], r["sha"]) for r in record.revisions] == [
        ("deployed", shas["v1"]),
        ("updated", shas["v2"]),
    ]
    assert record.revisions[-1]["requested_by"] == CALLER and record.revisions[-1]["ref"] == "v2"
    assert "lab version v2" in page(str(record.app_url))


def test_given_a_build_that_exits_2_when_redeployed_then_the_previous_revision_serves_and_ready(
    driver: WorkflowDriver, lab_at_v1: Outcome, versioned_repo: tuple[Path, dict[str, str]]
) -> None:
    _, shas = versioned_repo

    outcome = _update(driver, lab_at_v1.lab_id, "v3")

    assert outcome.execution["status"] == "SUCCEEDED", outcome.execution
    assert outcome.states == [*UPDATED_PATH, "Update Rolled Back"]
    record = outcome.record
    assert record.status == LabStatus.READY
    assert record.revision == shas["v1"]
    failed = record.revisions[-1]
    assert failed["outcome"] == "rolled_back" and failed["sha"] == shas["v3"]
    assert failed["cause"].startswith("build exited 2: command 'sh build.sh'")
    assert "lab version v1" in page(str(record.app_url))


def test_given_an_update_running_when_another_operation_is_asked_then_409_names_updating(
    driver: WorkflowDriver, lab_at_v1: Outcome
) -> None:
    lab_id = lab_at_v1.lab_id
    accepted = request_update(driver.ctx, lab_id, RedeployRequest(ref="v2"), caller=CALLER)

    for ask in (
        lambda: request_update(driver.ctx, lab_id, RedeployRequest(ref="v2"), caller=CALLER),
        lambda: request_power(driver.ctx, lab_id, "stop", caller=CALLER),
        lambda: request_action(driver.ctx, lab_id, "stop", caller=CALLER),
    ):
        with pytest.raises(IllegalTransitionError) as refused:
            ask()
        assert refused.value.http_status == 409 and "is UPDATING" in refused.value.message

    finished = driver._finish(lab_id, accepted["execution_arn"])
    assert finished.execution["status"] == "SUCCEEDED", finished.execution


def test_given_a_stopped_or_unknown_lab_when_updated_then_409_or_404(
    driver: WorkflowDriver, lab_at_v1: Outcome
) -> None:
    with pytest.raises(LabNotFoundError):
        request_update(driver.ctx, "nope-01h0000000", RedeployRequest(ref="v2"), caller=CALLER)
    stop = request_power(driver.ctx, lab_at_v1.lab_id, "stop", caller=CALLER)
    driver._finish(lab_at_v1.lab_id, stop["execution_arn"])

    with pytest.raises(IllegalTransitionError) as refused:
        request_update(driver.ctx, lab_at_v1.lab_id, RedeployRequest(ref="v2"), caller=CALLER)

    assert "is STOPPED" in refused.value.message and "only from READY" in refused.value.message


def test_given_a_labspec_for_another_machine_when_updated_then_400_names_labspec(
    driver: WorkflowDriver, lab_at_v1: Outcome
) -> None:
    labspec = versioned_labspec()
    labspec["lab"]["runtime_requirements"]["platform"]["memory"]["min_required"] = "16gb"

    with pytest.raises(InvalidInputError) as refused:
        request_update(
            driver.ctx, lab_at_v1.lab_id, RedeployRequest(ref="v2", labspec=labspec), caller=CALLER
        )

    assert refused.value.problems[0].path == "labspec"
    assert "instance_type" in refused.value.problems[0].found
    assert driver.plane.repository().require(lab_at_v1.lab_id).status == LabStatus.READY


def test_given_the_update_cannot_be_sent_then_the_lab_is_ready_with_the_cause_recorded(
    driver: WorkflowDriver, lab_at_v1: Outcome, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: LocalProvider, *args: Any) -> str:
        raise OSError("sandbox unreadable")

    monkeypatch.setattr(LocalProvider, "start_update", refuse)

    outcome = _update(driver, lab_at_v1.lab_id, "v2")

    assert outcome.execution["status"] == "SUCCEEDED", outcome.execution
    assert outcome.states[0] == "Start Update" and outcome.states[-1] == "Update Rolled Back"
    assert outcome.record.status == LabStatus.READY
    failed = outcome.record.revisions[-1]
    assert failed["outcome"] == "failed"
    assert failed["cause"].startswith("Start Update failed: OSError: sandbox unreadable")


def test_given_the_update_cannot_be_followed_then_the_lab_is_ready_with_the_cause_recorded(
    driver: WorkflowDriver, lab_at_v1: Outcome, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(LocalProvider, "start_update", lambda self, *args: "update-0-0")

    def unreadable(self: LocalProvider, *args: Any) -> Any:
        raise OSError("log unreadable")

    monkeypatch.setattr(LocalProvider, "update_status", unreadable)

    outcome = _update(driver, lab_at_v1.lab_id, "v2")

    assert outcome.record.status == LabStatus.READY
    assert "Wait For Update" in outcome.states and outcome.states[-1] == "Update Rolled Back"
    cause = outcome.record.revisions[-1]["cause"]
    assert cause.startswith("Wait For Update failed: OSError: log unreadable")


def test_given_a_lab_that_answers_on_neither_revision_then_its_vm_is_destroyed_and_failed(
    driver: WorkflowDriver, lab_at_v1: Outcome, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The agent answers nowhere after the update: the lab is lost.
    monkeypatch.setattr(LocalProvider, "health_url", lambda self, vm: "http://127.0.0.1:9/health")

    outcome = _update(driver, lab_at_v1.lab_id, "v2")

    assert outcome.execution["status"] == "FAILED", outcome.execution
    assert outcome.execution.get("error") == "LabUpdateFailed"
    assert outcome.states[-4:] == ["Lab Lost?", "Destroy VM", "Mark Failed", "Update Failed"]
    record = outcome.record
    assert record.status == LabStatus.FAILED and record.failed_step == "Update"
    assert "Check Health failed: HealthCheckPending" in str(record.cause)
    assert record.revisions[-1]["outcome"] == "restore_failed"
    assert LocalProvider(driver.plane.config).describe_vm(str(record.vm_id)).state == "absent"


def test_given_the_outcome_cannot_be_recorded_then_the_execution_fails_and_the_lab_stays_updating(
    driver: WorkflowDriver, lab_at_v1: Outcome, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError("table unavailable")

    monkeypatch.setattr(update_steps, "record_update", broken)

    outcome = _update(driver, lab_at_v1.lab_id, "v2")

    assert outcome.execution["status"] == "FAILED"
    assert outcome.execution.get("error") == "LabUpdateNotRecorded"
    assert outcome.record.status == LabStatus.UPDATING
    monkeypatch.undo()
    # Asked again, the update runs anew (the lab is not stuck).
    again = _update(driver, lab_at_v1.lab_id, "v2")
    assert again.record.status == LabStatus.READY, again.record.revisions
    assert json.loads(json.dumps(again.record.revisions))[-1]["outcome"] == "updated"
