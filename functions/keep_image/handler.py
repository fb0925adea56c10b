"""Keep Lab Image / Wait For Lab Image / Lab Image Not Kept: after Mark Ready, keep an image
of the READY lab's VM (``phase``: start it, follow it, or record why it was not kept)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict

from ads import image_steps, steps
from ads.step_results import KeepImageResult
from functions.step_handler import step_handler
from functions.step_input import StepInput


class KeepImageInput(StepInput):
    model_config = ConfigDict(extra="ignore")

    phase: Literal["start", "check", "not_kept"]
    image_id: str | None = None
    # Lab Image Not Kept: the caught error ({"Error", "Cause"}).
    error: dict[str, Any] | None = None


def keep_image(request: KeepImageInput, deps: steps.StepDependencies) -> KeepImageResult:
    if request.phase == "start":
        return image_steps.keep_image(request.lab_id, deps.repository, deps.provider)
    if request.phase == "check":
        return image_steps.check_image(
            request.lab_id, deps.repository, deps.provider, request.image_id or ""
        )
    return image_steps.image_not_kept(
        request.lab_id, deps.repository, deps.provider, request.image_id, request.error or {}
    )


handler = step_handler(keep_image, model=KeepImageInput)
