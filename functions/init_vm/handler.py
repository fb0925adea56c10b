"""Initialise VM: send the install script once, then follow it to its end.

DeployLab invokes it twice: Initialise VM (``send_only``) sends the command and returns;
Await Init, a ``.waitForTaskToken`` task (``task_token`` given), registers the token under
the command and completes it itself when the command has already ended, otherwise the
command's status-change event does (``functions/step_callback``). Invoked with neither (a
workflow that still polls: RedeployLab, PowerLab) it reports InitInProgress until the end.

A lab of several VMs: with ``vm_name`` both act on that VM's install command; Share Cluster
Facts (``share_facts``) delivers the cluster facts to every VM, InitInProgress until done.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from ads import cluster_steps, steps
from ads.init_wait import await_init, send_init, wait_dependencies_for
from functions.step_handler import step_handler
from functions.step_input import StepInput


class InitVmInput(StepInput):
    # Initialise VM of DeployLab: send the command and return (Await Init waits).
    send_only: bool = False
    # Share Cluster Facts of DeployLab's cluster path.
    share_facts: bool = False
    # Step Functions' task tokens are up to 1024 characters (AWS) and opaque.
    task_token: str | None = Field(default=None, min_length=1, max_length=2048)


def init_vm(request: InitVmInput, deps: steps.StepDependencies) -> BaseModel:
    if request.share_facts:
        return cluster_steps.share_cluster_facts(request.lab_id, deps.repository, deps.provider)
    if request.send_only:
        return send_init(request.lab_id, deps.repository, deps.provider, request.vm_name)
    if request.task_token is None:
        return steps.init_vm(request.lab_id, deps.repository, deps.provider)
    return await_init(
        request.lab_id,
        request.task_token,
        wait_dependencies_for(deps.config),
        deadline_s=deps.config.init_deadline,
        vm_name=request.vm_name,
    )


handler = step_handler(init_vm, model=InitVmInput)
