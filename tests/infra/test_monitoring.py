"""The alarms: each watches a real failure, none a metric a healthy deployment increments.

What a healthy deployment increments is derived rather than listed: the ADS metrics
`ads.lab_metrics` calls healthy (the workflow tier checks the steps emit only those on
the happy path), the started/succeeded executions of both machines, DeployLab's aborted
executions (a destroy stops a deployment in flight), and the `Errors` of every Lambda
whose workflow task retries a waiting signal: each retried raise is a Lambda error.
"""

from __future__ import annotations

import json
from typing import Any

from ads import lab_metrics
from ads.providers.base import RETRIED_ERRORS, ProviderThrottled
from cdk_app.monitoring_construct import ABORTED_BY_DESIGN
from tests.infra.template_queries import ads_functions, of_type

# What steps raise, in every healthy lab's life, to have the state machine wait for them.
# Throttling is left out: every task retries it (record_status too, which never raises it),
# and it is no part of a healthy life.
WAITING_SIGNALS = {e.__name__ for e in RETRIED_ERRORS if e is not ProviderThrottled}
MACHINE_LABELS = {
    "DeployLab": "deploy_lab",
    "DestroyLab": "destroy_lab",
    "PowerLab": "power_lab",
    "ActionLab": "action_lab",
    "RedeployLab": "redeploy_lab",
    "DeployCohort": "deploy_cohort",
}

Watched = tuple[str, str, tuple[tuple[str, str], ...]]


def _machines(synthesis) -> dict[str, tuple[str, dict[str, Any]]]:
    """Label (DeployLab, DestroyLab, PowerLab) -> (logical id, properties), by the ASL's Comment."""
    found = {}
    for logical_id, machine in of_type(
        synthesis.template, "AWS::StepFunctions::StateMachine"
    ).items():
        definition = json.loads(machine["Properties"]["DefinitionString"])
        label = definition["Comment"].split(":", 1)[0]
        found[label] = (logical_id, machine["Properties"])
    assert set(found) == set(MACHINE_LABELS), found
    return found


def _dimension_value(value: Any) -> str:
    if isinstance(value, dict) and "Ref" in value:
        return value["Ref"]
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return value["Fn::GetAtt"][0]
    return str(value)


def _watched(synthesis) -> dict[str, Watched]:
    """Alarm logical id -> (namespace, metric, dimensions with logical ids for references)."""
    watched = {}
    for logical_id, alarm in of_type(synthesis.template, "AWS::CloudWatch::Alarm").items():
        props = alarm["Properties"]
        assert "Metrics" not in props, f"{logical_id}: a math alarm; this test reads one metric"
        dimensions = tuple(
            sorted((d["Name"], _dimension_value(d["Value"])) for d in props.get("Dimensions", []))
        )
        watched[logical_id] = (props["Namespace"], props["MetricName"], dimensions)
    return watched


def _functions_that_wait(synthesis) -> set[str]:
    """Logical ids of the Lambdas whose task, in either machine, retries a waiting signal."""
    waiting = set()
    for _, props in _machines(synthesis).values():
        definition = json.loads(props["DefinitionString"])
        substitutions = props["DefinitionSubstitutions"]
        for state in definition["States"].values():
            if state["Type"] != "Task":
                continue
            retried = {e for r in state.get("Retry", []) for e in r["ErrorEquals"]}
            if retried & WAITING_SIGNALS:
                placeholder = state["Parameters"]["FunctionName"].strip("${}")
                waiting.add(substitutions[placeholder]["Fn::GetAtt"][0])
    return waiting


def _healthy_increments(synthesis) -> set[Watched]:
    service = ((lab_metrics.SERVICE_DIMENSION, lab_metrics.SERVICE),)
    healthy: set[Watched] = {
        (lab_metrics.NAMESPACE, metric.value, service) for metric in lab_metrics.HEALTHY_SIGNALS
    }
    for label, (logical_id, _) in _machines(synthesis).items():
        machine = (("StateMachineArn", logical_id),)
        healthy |= {
            ("AWS/States", m, machine) for m in ("ExecutionsStarted", "ExecutionsSucceeded")
        }
        if label in ABORTED_BY_DESIGN:
            healthy.add(("AWS/States", "ExecutionsAborted", machine))
    for function in _functions_that_wait(synthesis):
        dimensions = (("FunctionName", function),)
        healthy |= {("AWS/Lambda", m, dimensions) for m in ("Errors", "Invocations", "Duration")}
    return healthy


def test_given_the_workflows_when_read_then_the_step_lambdas_that_wait_are_known(synthesis):
    functions = {
        logical_id: name for name, (logical_id, _) in ads_functions(synthesis.template).items()
    }
    waiting = {functions[f] for f in _functions_that_wait(synthesis)}
    # The derivation below would prove nothing if it found no waiting step.
    # Await Init (init_vm) waits for a task token, not by raising a waiting error.
    assert {"wait_running", "health_check"} <= waiting
    assert not waiting & set(lab_metrics.LAMBDA_ERRORS_ARE_FAILURES)


def test_given_the_stack_when_synthesized_then_no_alarm_watches_a_metric_a_healthy_deployment_increments(
    synthesis,
):
    healthy = _healthy_increments(synthesis)
    noisy = {alarm: metric for alarm, metric in _watched(synthesis).items() if metric in healthy}
    assert noisy == {}


def test_given_the_stack_when_synthesized_then_the_alarms_are_exactly_the_failure_signals(
    synthesis,
):
    functions = ads_functions(synthesis.template)
    service = ((lab_metrics.SERVICE_DIMENSION, lab_metrics.SERVICE),)
    expected: set[Watched] = {
        (lab_metrics.NAMESPACE, metric.value, service) for metric in lab_metrics.FAILURE_SIGNALS
    }
    for label, (logical_id, _) in _machines(synthesis).items():
        machine = (("StateMachineArn", logical_id),)
        expected |= {("AWS/States", m, machine) for m in ("ExecutionsFailed", "ExecutionsTimedOut")}
        if label not in ABORTED_BY_DESIGN:
            expected.add(("AWS/States", "ExecutionsAborted", machine))
    for name in lab_metrics.LAMBDA_ERRORS_ARE_FAILURES:
        expected.add(("AWS/Lambda", "Errors", (("FunctionName", functions[name][0]),)))

    watched = _watched(synthesis)
    queues = set(of_type(synthesis.template, "AWS::SQS::Queue"))
    dead_letters = {m for m in watched.values() if m[0] == "AWS/SQS"}
    assert dead_letters, "no alarm on the CI dead-letter queue"
    for _, metric, dimensions in dead_letters:
        assert metric == "ApproximateNumberOfMessagesVisible"
        assert dict(dimensions)["QueueName"] in queues
    assert sorted(set(watched.values()) - dead_letters) == sorted(expected)
    assert len(watched) == len(set(watched.values())), "two alarms watch the same metric"
    assert "DestroyLab" not in ABORTED_BY_DESIGN


def test_given_the_failure_alarms_when_synthesized_then_one_failure_in_five_minutes_fires_them(
    synthesis,
):
    for alarm in of_type(synthesis.template, "AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        assert props["Threshold"] == 1
        assert props["EvaluationPeriods"] == 1
        assert props["Period"] == 300
        assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert props["TreatMissingData"] == "notBreaching"
        if props["Namespace"] != "AWS/SQS":
            assert props["Statistic"] == "Sum"


def test_given_the_lambdas_when_synthesized_then_they_publish_where_the_alarms_look(synthesis):
    for name, (_, props) in ads_functions(synthesis.template).items():
        variables = props["Environment"]["Variables"]
        assert variables["POWERTOOLS_METRICS_NAMESPACE"] == lab_metrics.NAMESPACE, name
        assert variables["POWERTOOLS_SERVICE_NAME"] == lab_metrics.SERVICE, name
        assert variables.get("POWERTOOLS_METRICS_DISABLED", "false") == "false", name


def test_given_the_dashboard_when_synthesized_then_it_shows_failures_by_step(synthesis):
    (dashboard,) = of_type(synthesis.template, "AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    assert "SEARCH(" in body
    for metric in lab_metrics.BY_STEP:
        assert metric.value in body
    assert lab_metrics.STEP_DIMENSION in body
    assert lab_metrics.LabMetric.TIME_TO_READY.value in body
