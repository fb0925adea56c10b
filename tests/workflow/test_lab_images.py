"""DeployLab with lab images: the real ASL, the real handlers, the local provider.

A lab that asks for images is kept as one after Mark Ready ("Keep Lab Image"); a later
deploy of the same key starts from it (Create VM hands the provider the image) and runs
only the per-VM steps; a failure to keep the image leaves the lab READY and says why on
the image item.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ads.api_models import DeploymentRequest
from ads.deployments import request_deployment
from ads.lab_images import PER_VM_STEPS
from ads.lab_record import LabStatus
from ads.local.runtime import LocalControlPlane
from ads.providers import local_images
from ads.providers.images import ImageFailed
from ads.providers.local import LocalProvider
from ads.providers.local_sandbox import read_lab_file

from .conftest import CALLER, Outcome, WorkflowDriver

BUILT_ONCE = Path(__file__).resolve().parents[2] / "events" / "labspecs" / "built-once.labspec.json"


def _labspec() -> dict[str, Any]:
    """The sample without its labspec opt-in: these tests ask per request."""
    labspec = json.loads(BUILT_ONCE.read_text())
    del labspec["lab"]["build_requirements"]["platform"]["reuse_image"]
    return labspec


def _deploy(driver: WorkflowDriver, *, reuse: bool = True) -> Outcome:
    request = DeploymentRequest(labspec=_labspec(), reuse_image=reuse)
    accepted = request_deployment(driver.ctx, request, caller=CALLER)
    return driver._finish(accepted["lab_id"], accepted["execution_arn"])


def _after_ready(outcome: Outcome) -> list[str]:
    """The states entered from Mark Ready on (the way there is the deploy's own business)."""
    return outcome.states[outcome.states.index("Mark Ready") :]


def _lab_file(outcome: Outcome, relative: str) -> str:
    sandbox = Path(outcome.record.vm_details["sandbox"])
    return read_lab_file(sandbox, f"vm/{relative}")


def _create_result(plane: LocalControlPlane, outcome: Outcome) -> dict[str, Any]:
    for event in plane.execution_history(outcome.execution_arn):
        details = event.get("stateExitedEventDetails") or {}
        if details.get("name") == "Create VM":
            return json.loads(details["output"])["create"]["result"]
    raise AssertionError("Create VM never exited")


def test_given_a_lab_asking_for_images_when_deployed_twice_then_the_second_starts_from_the_image_and_runs_only_init_and_start(
    plane: LocalControlPlane, driver: WorkflowDriver
) -> None:
    first = _deploy(driver)

    assert first.execution["status"] == "SUCCEEDED", first.execution.get("cause")
    assert _after_ready(first) == [
        "Mark Ready",
        "Keep Lab Image?",
        "Keep Lab Image",
        "Lab Image Pending?",
        "Lab Ready",
    ]
    images = plane.repository().images.list()
    assert [(i.image_state, i.source_lab_id) for i in images] == [("available", first.lab_id)]
    image = images[0]
    assert image.provider_image_id and Path(image.provider_image_id).stat().st_mode & 0o777 == 0o600
    assert Path(image.provider_image_id).parent.stat().st_mode & 0o777 == 0o700

    second = _deploy(driver)

    assert second.execution["status"] == "SUCCEEDED", second.execution.get("cause")
    assert second.record.status == LabStatus.READY
    # Started from the image: nothing more to keep.
    assert _after_ready(second) == ["Mark Ready", "Keep Lab Image?", "Lab Ready"]
    created = _create_result(plane, second)
    assert created["from_image"] == image.image_id and created["keep_image"] is False
    assert second.record.vm_details["from_image"] == image.image_id
    # The agent was handed only the per-VM steps' commands.
    plan = json.loads(_lab_file(second, "state/plan.json"))
    assert {s["name"] for s in plan["steps"] if s["commands"]} == set(PER_VM_STEPS)
    # The build ran once, for the first lab; the second ran its own init and start.
    log = _lab_file(second, "lab/build.log").splitlines()
    assert log == [
        f"build {first.lab_id}",
        f"init {first.lab_id}",
        f"start {first.lab_id}",
        f"init {second.lab_id}",
        f"start {second.lab_id}",
    ]
    assert plane.repository().images.get(image.image_key).used_by == [second.lab_id]  # type: ignore[union-attr]
    for outcome in (first, second):
        driver.destroy(outcome.lab_id)


def test_given_a_lab_not_asking_for_images_when_deployed_then_no_image_is_kept(
    plane: LocalControlPlane, driver: WorkflowDriver
) -> None:
    outcome = _deploy(driver, reuse=False)

    assert _after_ready(outcome) == ["Mark Ready", "Keep Lab Image?", "Lab Ready"]
    assert plane.repository().images.list() == []
    driver.destroy(outcome.lab_id)


def test_given_making_the_image_fails_when_deployed_then_the_lab_stays_ready_and_the_image_says_why(
    plane: LocalControlPlane, driver: WorkflowDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_args: Any) -> Any:
        raise ImageFailed("tar of the sandbox exited 2: No space left on device")

    monkeypatch.setattr(LocalProvider, "create_image", refuse)

    outcome = _deploy(driver)

    assert outcome.execution["status"] == "SUCCEEDED", outcome.execution.get("cause")
    assert outcome.states[-3:] == ["Keep Lab Image", "Lab Image Not Kept", "Lab Ready"]
    assert outcome.record.status == LabStatus.READY
    [image] = plane.repository().images.list()
    assert image.image_state == "failed"
    assert image.failure == "ImageFailed: tar of the sandbox exited 2: No space left on device"

    # A later deploy of the key finds no image to start from: it builds, and keeps one.
    monkeypatch.undo()
    again = _deploy(driver)
    assert again.execution["status"] == "SUCCEEDED", again.execution.get("cause")
    assert "from_image" not in again.record.vm_details
    assert "Keep Lab Image" in again.states
    [kept] = plane.repository().images.list()
    assert kept.image_state == "available" and kept.source_lab_id == again.lab_id
    for lab in (outcome, again):
        driver.destroy(lab.lab_id)


def test_given_a_sandbox_over_the_image_limit_when_kept_then_no_image_and_the_lab_stays_ready(
    plane: LocalControlPlane, driver: WorkflowDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_images, "MAX_IMAGE_BYTES", 10 * 1024)

    outcome = _deploy(driver)

    assert outcome.execution["status"] == "SUCCEEDED", outcome.execution.get("cause")
    assert outcome.record.status == LabStatus.READY
    [image] = plane.repository().images.list()
    assert image.image_state == "failed"
    assert "an image of more than 10,240 bytes (the local limit)" in (image.failure or "")
    images = plane.state_dir / "images"
    assert [p.name for p in images.iterdir()] == []  # the partial archive is gone
    driver.destroy(outcome.lab_id)


def test_given_an_image_still_being_made_when_the_key_is_deployed_then_it_builds_as_usual(
    plane: LocalControlPlane, driver: WorkflowDriver
) -> None:
    first = _deploy(driver)
    [image] = plane.repository().images.list()
    plane.repository().images.update(image.image_key, image_state="pending")

    second = _deploy(driver)

    assert second.execution["status"] == "SUCCEEDED", second.execution.get("cause")
    assert "from_image" not in second.record.vm_details
    assert f"build {second.lab_id}" in _lab_file(second, "lab/build.log")
    # The key's image is another lab's: this one keeps none.
    assert plane.repository().images.get(image.image_key).source_lab_id == first.lab_id  # type: ignore[union-attr]
    for lab in (first, second):
        driver.destroy(lab.lab_id)
