"""Events: the bus ADS publishes lifecycle events to, and the CI trigger rule.

A CI pipeline asks for a deployment by putting an `ads.ci` / `Lab Deployment Requested`
event on the default bus; the rule hands it to the ci_trigger Lambda, which takes the
same code path as the API. EventBridge retries failed deliveries and parks what it
cannot deliver in an encrypted dead-letter queue.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from cdk_app.compute_construct import FunctionSpec, LambdaFactory
from cdk_app.nag import acknowledge
from cdk_app.settings import Settings
from cdk_app.storage_construct import Storage

CI_EVENT_SOURCE = "ads.ci"
CI_DETAIL_TYPE = "Lab Deployment Requested"
MAX_EVENT_AGE = Duration.hours(2)
RETRY_ATTEMPTS = 8


class LifecycleBus(Construct):
    """The custom bus for "Lab Ready" / "Lab Failed" / "Lab Destroyed" (source `ads`)."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings) -> None:
        super().__init__(scope, construct_id)
        self.bus = events.EventBus(
            self,
            "Bus",
            event_bus_name=settings.lifecycle_bus_name,
            description="ADS lab lifecycle events (source ads)",
        )


class CiTrigger(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: LambdaFactory,
        storage: Storage,
        deploy_machine: sfn.IStateMachine,
        environment: dict[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = factory.create(
            self,
            FunctionSpec(
                "ci_trigger",
                "ADS: request a lab deployment for a CI event",
                Duration.seconds(30),
                environment=environment,
            ),
        )
        storage.grant_lab_records(self.function)
        deploy_machine.grant_start_execution(self.function)

        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        acknowledge(
            self.dead_letter_queue,
            "AwsSolutions-SQS3",
            "This queue is itself the dead-letter queue of the CI trigger rule.",
        )
        self.rule = events.Rule(
            self,
            "Rule",
            description="ADS: CI deployment requests to the ci_trigger Lambda",
            event_pattern=events.EventPattern(
                source=[CI_EVENT_SOURCE], detail_type=[CI_DETAIL_TYPE]
            ),
        )
        self.rule.add_target(
            targets.LambdaFunction(
                self.function,
                dead_letter_queue=self.dead_letter_queue,
                max_event_age=MAX_EVENT_AGE,
                retry_attempts=RETRY_ATTEMPTS,
            )
        )
