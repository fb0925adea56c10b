"""Initialise VM: send the install script once, then report InitInProgress until it ends."""

from __future__ import annotations

from ads import steps
from ads.step_results import InitVmResult
from functions.step_handler import step_handler
from functions.step_input import StepInput


def init_vm(request: StepInput, deps: steps.StepDependencies) -> InitVmResult:
    return steps.init_vm(request.lab_id, deps.repository, deps.provider)


handler = step_handler(init_vm)
