"""What the alarms watch, seen from the workflow: a healthy lab's life raises none of it, a
failed deployment raises LabsFailed with the step.

The metrics are read the way CloudWatch reads them: the embedded metric format (EMF)
lines the handlers print. The Lambda `Errors` side is read from the invocations the local
control plane counted: a step that raised to be retried is a Lambda error on AWS.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ads.lab_metrics import (
    FAILURE_SIGNALS,
    HEALTHY_SIGNALS,
    LAMBDA_ERRORS_ARE_FAILURES,
    NAMESPACE,
    SERVICE,
    STEP_DIMENSION,
    LabMetric,
)
from ads.lab_record import LabStatus
from ads.local.runtime import LocalControlPlane

from .conftest import WorkflowDriver, failing_build_labspec, hello_web_labspec

Sample = tuple[str, tuple[tuple[str, str], ...], float]


@pytest.fixture
def emf(plane: LocalControlPlane, monkeypatch: pytest.MonkeyPatch, capsys) -> Iterator[Any]:
    """The EMF samples printed so far, as (metric, dimensions, value).

    The local control plane turns metrics off (there is no CloudWatch); here they are on,
    so the handlers print exactly what they would print in Lambda.
    """
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")

    def samples() -> list[Sample]:
        found: list[Sample] = []
        for line in capsys.readouterr().out.splitlines():
            try:
                blob = json.loads(line)
            except ValueError:
                continue
            if not isinstance(blob, dict) or "_aws" not in blob:
                continue
            for directive in blob["_aws"]["CloudWatchMetrics"]:
                assert directive["Namespace"] == NAMESPACE
                for dimension_set in directive["Dimensions"]:
                    dimensions = tuple(sorted((name, blob[name]) for name in dimension_set))
                    for metric in directive["Metrics"]:
                        values = blob[metric["Name"]]
                        for value in values if isinstance(values, list) else [values]:
                            found.append((metric["Name"], dimensions, float(value)))
        return found

    yield samples


def _totals(samples: list[Sample]) -> Counter[str]:
    """Sums of the metrics published without a Step: what the alarms watch."""
    alarmed_dimensions = (("service", SERVICE),)
    totals: Counter[str] = Counter()
    for name, dimensions, value in samples:
        if dimensions == alarmed_dimensions:
            totals[name] += value
    return totals


# The "not yet" a healthy deployment may raise, which its state retries: an agent slow to
# answer its first health check on a loaded machine (the check's timeout is 3 s).
NOT_YET = frozenset({"HealthCheckPending"})


def _errored_functions(
    plane: LocalControlPlane, lab_id: str, *, allowed: frozenset[str] = frozenset()
) -> Counter[str]:
    return Counter(
        f"{i.function}: {i.error_type}"
        for i in plane.ledger.for_lab(lab_id).invocations
        if i.error_type is not None and i.error_type not in allowed
    )


def test_given_a_healthy_lab_when_deployed_and_destroyed_then_nothing_alarm_worthy_is_emitted(
    plane: LocalControlPlane, driver: WorkflowDriver, hello_web_repo: Path, emf
) -> None:
    deployed = driver.deploy(hello_web_labspec(), hello_web_repo)
    assert deployed.execution["status"] == "SUCCEEDED", deployed.execution.get("cause")
    destroyed = driver.destroy(deployed.lab_id)
    assert destroyed.execution["status"] == "SUCCEEDED", destroyed.execution.get("cause")
    assert destroyed.record.status == LabStatus.DESTROYED

    samples = emf()
    totals = _totals(samples)
    emitted = {name for name, _, _ in samples}
    assert emitted <= set(HEALTHY_SIGNALS), emitted - set(HEALTHY_SIGNALS)
    assert not emitted & set(FAILURE_SIGNALS)
    assert totals[LabMetric.LABS_REQUESTED] == 1
    assert totals[LabMetric.LABS_READY] == 1
    assert totals[LabMetric.LABS_DESTROYED] == 1
    (time_to_ready,) = [v for n, _, v in samples if n == LabMetric.TIME_TO_READY and v is not None]
    assert time_to_ready > 0
    # Await Init waits for the install's event instead of raising InitInProgress: a
    # healthy deployment raises nothing locally but a retried "not yet" (on AWS, Wait
    # Until Running still adds VmNotReady Errors while the instance boots), and none of
    # the Lambdas whose Errors are alarmed raised at all.
    errored = _errored_functions(plane, deployed.lab_id)
    alarmed = {entry for entry in errored if entry.split(":")[0] in LAMBDA_ERRORS_ARE_FAILURES}
    assert not alarmed, errored
    assert not _errored_functions(plane, deployed.lab_id, allowed=NOT_YET), errored


def test_given_a_failing_build_when_deployed_then_labs_failed_is_emitted_with_the_step(
    plane: LocalControlPlane, driver: WorkflowDriver, emf
) -> None:
    outcome = driver.deploy(failing_build_labspec())
    assert outcome.record.status == LabStatus.FAILED
    assert outcome.record.failed_step == "Initialise VM"

    samples = emf()
    totals = _totals(samples)
    assert totals[LabMetric.LABS_FAILED] == 1
    by_step = [
        (dict(dimensions), value)
        for name, dimensions, value in samples
        if name == LabMetric.LABS_FAILED and STEP_DIMENSION in dict(dimensions)
    ]
    assert by_step == [({"service": SERVICE, STEP_DIMENSION: "Initialise VM"}, 1.0)]
    assert totals[LabMetric.LABS_READY] == 0
    # The compensating destroy worked: no VM was left behind.
    assert totals[LabMetric.VM_CLEANUPS_FAILED] == 0


def test_given_a_lab_destroyed_while_deploying_when_both_workflows_end_then_no_failure_is_emitted(
    plane: LocalControlPlane, driver: WorkflowDriver, hello_web_repo: Path, emf
) -> None:
    from ads.api_models import DeploymentRequest, LabSource
    from ads.deployments import request_deployment

    from .conftest import CALLER

    request = DeploymentRequest(
        labspec=hello_web_labspec(), source=LabSource(git=str(hello_web_repo))
    )
    accepted = request_deployment(driver.ctx, request, caller=CALLER)
    lab_id = accepted["lab_id"]
    deadline = time.monotonic() + 60
    while plane.repository().require(lab_id).status == LabStatus.REQUESTED:
        assert time.monotonic() < deadline, "the deployment never started"
        time.sleep(0.05)

    destroyed = driver.destroy(lab_id)
    plane.wait_for_execution(accepted["execution_arn"], 60)

    assert destroyed.record.status == LabStatus.DESTROYED
    # The destroy stopped the deployment (on AWS it ends ABORTED, hence no alarm on
    # DeployLab's aborts; moto's interpreter lets it run on, and its steps, seeing the
    # destroy, stop without counting a failed lab: the destroy's outcome is the one).
    samples = emf()
    emitted = {name for name, _, _ in samples}
    assert not emitted & set(FAILURE_SIGNALS), emitted
    assert _totals(samples)[LabMetric.LABS_DESTROYED] == 1
