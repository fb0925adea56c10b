"""Monitoring: alarms on real failures only, and one dashboard.

A healthy deployment raises named exceptions (VmNotReady, InitInProgress,
HealthCheckPending) that the state machine's Retry turns into waiting; Lambda counts each
of them in `Errors`. So no alarm watches the Errors of a step Lambda. The alarms watch:

- the failure metrics the steps publish (`ads.lab_metrics.FAILURE_SIGNALS`: LabsFailed,
  DestroysFailed, VmCleanupsFailed, ApiFaults);
- failed, timed-out and aborted executions of the state machines (DeployLab's aborted
  executions excepted: a destroy request stops a deployment still in flight);
- the Errors of the Lambdas for which an error is never a retry signal
  (`ads.lab_metrics.LAMBDA_ERRORS_ARE_FAILURES`);
- events in the CI dead-letter queue.

Every alarm notifies one SNS topic (`<name_prefix>-alarms`); the e-mail addresses in the
`alarm_emails` context are subscribed to it, and anything else (a chat webhook, an
incident tool) can subscribe to the topic too. The topic is encrypted with a key of its
own: CloudWatch cannot publish to a topic under the AWS-managed SNS key, because that
key's policy cannot be changed to let CloudWatch use it.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from ads import lab_metrics
from cdk_app.settings import Settings

PERIOD = Duration.minutes(5)
# State machines that ADS itself stops in normal operation (ads.deployments._stop_deploy:
# destroying a lab that is still deploying), so an abort is not a failure.
ABORTED_BY_DESIGN = frozenset({"DeployLab"})


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        state_machines: Mapping[str, sfn.StateMachine],
        functions: Mapping[str, lambda_.Function],
        dead_letter_queue: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        prefix = settings.name_prefix
        self.alarms: list[cloudwatch.Alarm] = []
        self.topic = self._alarm_topic(prefix, settings.alarm_emails)
        self._action = cloudwatch_actions.SnsAction(self.topic)
        workflow_widgets: list[cloudwatch.IWidget] = []

        for label, machine in state_machines.items():
            failed = machine.metric_failed(period=PERIOD, statistic="Sum")
            timed_out = machine.metric_timed_out(period=PERIOD, statistic="Sum")
            aborted = machine.metric_aborted(period=PERIOD, statistic="Sum")
            self._alarm(f"{label}ExecutionsFailed", f"{prefix} {label}: executions failed", failed)
            self._alarm(
                f"{label}ExecutionsTimedOut", f"{prefix} {label}: executions timed out", timed_out
            )
            if label not in ABORTED_BY_DESIGN:
                self._alarm(
                    f"{label}ExecutionsAborted", f"{prefix} {label}: executions aborted", aborted
                )
            workflow_widgets.append(
                cloudwatch.GraphWidget(
                    title=f"{label} executions",
                    left=[
                        machine.metric_started(period=PERIOD, statistic="Sum"),
                        machine.metric_succeeded(period=PERIOD, statistic="Sum"),
                        failed,
                        timed_out,
                        aborted,
                    ],
                    width=12,
                )
            )

        for metric_name in lab_metrics.FAILURE_SIGNALS:
            self._alarm(
                metric_name.value,
                f"{prefix}: {metric_name.value}: {lab_metrics.MEANING[metric_name]}",
                lab_metric(metric_name),
            )

        error_metrics = []
        for name, function in functions.items():
            error_metrics.append(function.metric_errors(period=PERIOD, statistic="Sum", label=name))
            if name in lab_metrics.LAMBDA_ERRORS_ARE_FAILURES:
                self._alarm(
                    f"{_pascal(name)}Errors",
                    f"{prefix} {name} Lambda: errors",
                    function.metric_errors(period=PERIOD, statistic="Sum"),
                )

        dead_letters = dead_letter_queue.metric_approximate_number_of_messages_visible(
            period=PERIOD, statistic="Maximum"
        )
        self._alarm(
            "CiDeadLetters", f"{prefix} CI trigger: events in the dead-letter queue", dead_letters
        )

        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"{prefix}-control-plane",
            default_interval=Duration.hours(6),
        )
        self.dashboard.add_widgets(*workflow_widgets)
        self.dashboard.add_widgets(*_lab_widgets())
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                # The step Lambdas' errors include every retried poll: a busy graph is normal.
                title="Lambda errors (step Lambdas: retried polls included)",
                left=error_metrics,
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Lambda duration (p95)",
                left=[
                    function.metric_duration(period=PERIOD, statistic="p95", label=name)
                    for name, function in functions.items()
                ],
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(title="ADS alarms", alarms=self.alarms, width=24)
        )

    def _alarm_topic(self, prefix: str, emails: tuple[str, ...]) -> sns.Topic:
        key = kms.Key(
            self,
            "AlarmTopicKey",
            description=f"{prefix}: encrypts the alarm notifications topic",
            enable_key_rotation=True,
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                # In a key policy "*" means this key.
                resources=["*"],
            )
        )
        topic = sns.Topic(
            self,
            "AlarmTopic",
            topic_name=f"{prefix}-alarms",
            display_name=f"{prefix} control plane alarms",
            master_key=key,
            enforce_ssl=True,
        )
        for email in emails:
            topic.add_subscription(subscriptions.EmailSubscription(email))
        return topic

    def _alarm(self, construct_id: str, description: str, metric: cloudwatch.Metric) -> None:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            alarm_description=description,
            metric=metric,
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(self._action)
        alarm.add_ok_action(self._action)
        self.alarms.append(alarm)


def _pascal(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))


def lab_metric(
    metric_name: lab_metrics.LabMetric, statistic: str = "Sum", label: str | None = None
) -> cloudwatch.Metric:
    """A metric the ADS Lambdas publish, in total (the dimension set without ``Step``)."""
    return cloudwatch.Metric(
        namespace=lab_metrics.NAMESPACE,
        metric_name=metric_name.value,
        dimensions_map={lab_metrics.SERVICE_DIMENSION: lab_metrics.SERVICE},
        period=PERIOD,
        statistic=statistic,
        label=label,
    )


def _by_step(metric_name: lab_metrics.LabMetric) -> cloudwatch.MathExpression:
    dimensions = ",".join(sorted((lab_metrics.SERVICE_DIMENSION, lab_metrics.STEP_DIMENSION)))
    return cloudwatch.MathExpression(
        expression=(
            f"SEARCH('{{{lab_metrics.NAMESPACE},{dimensions}}} "
            f"MetricName=\"{metric_name.value}\"', 'Sum', {int(PERIOD.to_seconds())})"
        ),
        using_metrics={},
        label=f"{metric_name.value} by step",
        period=PERIOD,
    )


def _lab_widgets() -> list[cloudwatch.IWidget]:
    metric = lab_metrics.LabMetric
    return [
        cloudwatch.GraphWidget(
            title="Labs",
            left=[
                lab_metric(m)
                for m in (
                    metric.LABS_REQUESTED,
                    metric.LABS_READY,
                    metric.LABS_FAILED,
                    metric.LABS_DESTROYED,
                    metric.VM_CLEANUPS_FAILED,
                )
            ],
            width=8,
        ),
        cloudwatch.GraphWidget(
            title="Failures by step",
            left=[_by_step(m) for m in lab_metrics.BY_STEP],
            width=8,
        ),
        cloudwatch.GraphWidget(
            title="Time to READY (seconds)",
            left=[lab_metric(metric.TIME_TO_READY, statistic=s, label=s) for s in ("p50", "p95")],
            width=8,
        ),
    ]
