"""Events: the bus ADS publishes lifecycle events to, and the CI trigger rule.

A CI pipeline asks for a deployment by putting an `ads.ci` / `Lab Deployment Requested`
event on the default bus; the rule hands it to the ci_trigger Lambda, which takes the
same code path as the API. EventBridge retries failed deliveries and parks what it
cannot deliver in an encrypted dead-letter queue.

A lab requested by a pipeline URL rather than an IAM ARN is owned by the CI role
`<name_prefix>-ci` created here; a pipeline assumes that role to list and destroy it.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from cdk_app.compute_construct import FunctionSpec, LambdaFactory
from cdk_app.nag import acknowledge, nag_text
from cdk_app.settings import Settings
from cdk_app.storage_construct import Storage

CI_EVENT_SOURCE = "ads.ci"
CI_DETAIL_TYPE = "Lab Deployment Requested"
MAX_EVENT_AGE = Duration.hours(2)
RETRY_ATTEMPTS = 8
# (method, path) a pipeline calls: request and plan labs, follow them, destroy them.
# Listed on purpose rather than taken from the API's routes, so a route added later
# is not granted to CI without a decision.
CI_API_ROUTES = (
    ("GET", "/labs"),
    ("GET", "/labs/*"),
    ("GET", "/labs/*/history"),
    ("DELETE", "/labs/*"),
    ("POST", "/labs"),
    ("POST", "/plans"),
)


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


class CiRole(Construct):
    """``<name_prefix>-ci``: owns the labs CI events request, may call the lab routes."""

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: Settings, rest_api: apigw.RestApi
    ) -> None:
        super().__init__(scope, construct_id)
        self.role_name = f"{settings.name_prefix}-ci"
        self.role = iam.Role(
            self,
            "Role",
            role_name=self.role_name,
            description="ADS: owner of labs requested by CI events; pipelines assume it",
            # The account's own IAM policies (sts:AssumeRole grants) decide which
            # pipelines may act as CI; the trust policy only keeps other accounts out.
            assumed_by=iam.AccountRootPrincipal(),
        )
        stage = rest_api.deployment_stage.stage_name
        routes = [
            rest_api.arn_for_execute_api(method, path, stage) for method, path in CI_API_ROUTES
        ]
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="CallTheLabRoutes", actions=["execute-api:Invoke"], resources=routes
            )
        )
        for arn in routes:
            finding_text = nag_text(self, arn)
            if "*" in finding_text:
                acknowledge(
                    self.role,
                    f"AwsSolutions-IAM5[Resource::{finding_text}]",
                    "The wildcard is the lab id path segment, generated at run time; the grant "
                    "names the API, its stage, the method and the route.",
                )


class CiTrigger(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        factory: LambdaFactory,
        storage: Storage,
        deploy_machine: sfn.IStateMachine,
        rest_api: apigw.RestApi,
        environment: dict[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        self.ci_role = CiRole(self, "CiRole", settings=settings, rest_api=rest_api)
        self.function = factory.create(
            self,
            FunctionSpec(
                "ci_trigger",
                "ADS: request a lab deployment for a CI event",
                Duration.seconds(30),
                environment={**environment, "ADS_CI_ROLE_NAME": self.ci_role.role_name},
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
