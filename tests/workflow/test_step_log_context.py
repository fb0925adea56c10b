"""The step handlers' log lines carry the lab and the execution they belong to, as the real
workflow invokes them (the ASL passes ``$$.Execution.Id``)."""

from __future__ import annotations

from ads.lab_record import LabStatus

from .conftest import WorkflowDriver, failing_build_labspec

# What Create VM, Initialise VM, Destroy VM and Mark Failed log on the way.
STEP_MESSAGES = {"vm created", "init command sent", "vm destroyed", "status recorded"}


def test_given_a_deployment_when_its_steps_log_then_each_line_names_the_lab_and_the_execution(
    driver: WorkflowDriver, log_lines
) -> None:
    # A failing build runs every kind of step: create, wait, init, destroy, mark failed.
    outcome = driver.deploy(failing_build_labspec())
    assert outcome.record.status == LabStatus.FAILED

    lines = log_lines()
    from_steps = [line for line in lines if line["message"] in STEP_MESSAGES]
    assert {line["message"] for line in from_steps} == STEP_MESSAGES
    for line in from_steps:
        assert line["lab_id"] == outcome.lab_id, line
        assert line["execution_id"] == outcome.execution_arn, line
        assert line["correlation_id"] == outcome.execution_arn, line
    # The request was logged outside any step: it names no execution of a step.
    (requested,) = [line for line in lines if line["message"] == "deployment requested"]
    assert "execution_id" not in requested, requested
