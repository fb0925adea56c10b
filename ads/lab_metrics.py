"""The metrics the workflow steps publish, and which of them mean something failed.

One source for the names: the steps emit them (through :mod:`ads.observability`), the
monitoring construct alarms on :data:`FAILURE_SIGNALS` and graphs the rest, and the tests
check both sides against this module. Importing it needs neither Powertools nor AWS
(the CDK app reads it at synth time).

A healthy deployment increments only :data:`HEALTHY_SIGNALS`; an alarm may never watch
one of those. The ``Step`` dimension says where a lab failed; every failure is also
published without it, because a CloudWatch alarm watches one exact dimension set and
should not need one alarm per step.
"""

from __future__ import annotations

from enum import StrEnum

# What the Lambdas get as POWERTOOLS_METRICS_NAMESPACE / POWERTOOLS_SERVICE_NAME; the
# EMF blobs carry `service` as a dimension, so the alarms name it too.
NAMESPACE = "ADS"
SERVICE = "ads"
SERVICE_DIMENSION = "service"
STEP_DIMENSION = "Step"


class LabMetric(StrEnum):
    LABS_REQUESTED = "LabsRequested"
    LABS_READY = "LabsReady"
    TIME_TO_READY = "TimeToReadySeconds"
    LABS_DESTROYED = "LabsDestroyed"
    LABS_FAILED = "LabsFailed"
    DESTROYS_FAILED = "DestroysFailed"
    VM_CLEANUPS_FAILED = "VmCleanupsFailed"
    API_FAULTS = "ApiFaults"


MEANING: dict[LabMetric, str] = {
    LabMetric.LABS_REQUESTED: "a deployment started: Create VM took the lab out of REQUESTED",
    LabMetric.LABS_READY: "Check Health (or Mark Ready) recorded READY",
    LabMetric.TIME_TO_READY: "seconds from the request to READY",
    LabMetric.LABS_DESTROYED: "Mark Destroyed recorded DESTROYED",
    LabMetric.LABS_FAILED: "a deployment failed at a step after its retries; the lab is FAILED",
    LabMetric.DESTROYS_FAILED: "DestroyLab failed; the lab stays DESTROYING, its VM may still run",
    LabMetric.VM_CLEANUPS_FAILED: (
        "a failed deployment's VM could not be destroyed afterwards: it may still run"
    ),
    LabMetric.API_FAULTS: (
        "the REST API answered 5xx: a fault of ADS or of Step Functions, never a user's mistake"
    ),
}

FAILURE_SIGNALS: tuple[LabMetric, ...] = (
    LabMetric.LABS_FAILED,
    LabMetric.DESTROYS_FAILED,
    LabMetric.VM_CLEANUPS_FAILED,
    LabMetric.API_FAULTS,
)
HEALTHY_SIGNALS: tuple[LabMetric, ...] = tuple(m for m in LabMetric if m not in FAILURE_SIGNALS)
# Published per step as well as in total (see the module docstring).
BY_STEP: tuple[LabMetric, ...] = (LabMetric.LABS_FAILED, LabMetric.DESTROYS_FAILED)
# The Lambdas for which an error is never a retry signal, so that each of their errors is
# a failure worth an alarm. The step Lambdas are not among them: they raise VmNotReady,
# InitInProgress, HealthCheckPending or DestroyFailed for the state machine to retry, and
# Lambda counts each such raise in `Errors` during every healthy deployment.
# The health watch (watch_labs) raises only when it could not run at all.
# The sweep raises only when it could not run at all (a finding's failure is in its report).
LAMBDA_ERRORS_ARE_FAILURES: tuple[str, ...] = (
    "api",
    "ci_trigger",
    "record_status",
    "watch_labs",
    "sweep",
    # An expiry, a lease warning or a working-hours stop/start that did not run.
    "lab_timer",
)
