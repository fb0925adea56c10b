"""Events: the bus ADS publishes lifecycle events to, and the CI request bus and rule.

A CI pipeline asks for a deployment by putting an `ads.ci` / `Lab Deployment Requested`
event on the CI bus `<name_prefix>-ci`. The default bus would accept that event from any
principal allowed `events:PutEvents`, and its body proves nothing about the sender; the
CI bus's resource policy admits only the configured CI principals (`ci_principals`,
default the CI role) and denies everyone else, even principals of this account whose
own policies allow PutEvents. The rule on that bus hands the event to the ci_trigger
Lambda, which takes the same code path as the API.

Ownership comes from what AWS asserts, never from the event body: the lab is owned by
the CI role `<name_prefix>-ci` (which pipelines assume to follow and destroy it), and the
event's `account` (set by EventBridge) must be one of the CI principals' accounts.

Failures reach one encrypted dead-letter queue: events EventBridge cannot deliver (the
target's DLQ) and invocations whose handler still fails after Lambda's retries (the
function's asynchronous on-failure destination).
"""

from __future__ import annotations

import re

from aws_cdk import Aws, Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from ads import api_routes
from cdk_app.compute_construct import FunctionSpec, LambdaFactory
from cdk_app.nag import acknowledge, nag_text
from cdk_app.settings import Settings
from cdk_app.storage_construct import Storage

CI_EVENT_SOURCE = "ads.ci"
CI_DETAIL_TYPE = "Lab Deployment Requested"
# Update in place of a lab the CI role owns (functions.ci_trigger.handler).
CI_UPDATE_DETAIL_TYPE = "Lab Update Requested"
# A lab for every member of a class (functions.ci_trigger.cohort_event).
CI_COHORT_DETAIL_TYPE = "Cohort Deployment Requested"
MAX_EVENT_AGE = Duration.hours(2)
RETRY_ATTEMPTS = 8
# Lambda's own retries of a failed asynchronous invocation (its maximum) before the
# event goes to the dead-letter queue.
HANDLER_RETRY_ATTEMPTS = 2
_ACCOUNT_OF_ARN = re.compile(r"^arn:[^:]+:iam::(\d{12}):")


def ci_api_routes() -> tuple[tuple[str, str], ...]:
    """(method, path) the CI role may call: every route of the API but the admin
    operations (the sweep). Each one acts only on the caller's own labs (or plans a lab),
    and the CI role owns the labs it requests, so a pipeline may request, plan, follow,
    power, run actions on and destroy them. Taken from the one route table;
    tests/infra/test_ci_role.py pins the set, so a route added later fails it until the
    grant is decided."""
    return api_routes.invoke_routes(include_admin=False)


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
            rest_api.arn_for_execute_api(method, path, stage) for method, path in ci_api_routes()
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


class CiBus(Construct):
    """``<name_prefix>-ci``: the bus CI requests arrive on, writable only by CI principals."""

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: Settings, principals: list[str]
    ) -> None:
        super().__init__(scope, construct_id)
        self.bus = events.EventBus(
            self,
            "Bus",
            event_bus_name=f"{settings.name_prefix}-ci",
            description="ADS: CI deployment requests (source ads.ci), from CI principals only",
        )
        self.bus.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CiPrincipalsPutEvents",
                actions=["events:PutEvents"],
                principals=[iam.ArnPrincipal(arn) for arn in principals],
                resources=[self.bus.event_bus_arn],
            )
        )
        # Same-account principals need no resource policy grant (their identity policy
        # suffices), so only an explicit deny keeps them off this bus.
        self.bus.add_to_resource_policy(
            iam.PolicyStatement(
                sid="NobodyElsePutsEvents",
                effect=iam.Effect.DENY,
                actions=["events:PutEvents"],
                principals=[iam.AnyPrincipal()],
                resources=[self.bus.event_bus_arn],
                conditions={"ArnNotEquals": {"aws:PrincipalArn": principals}},
            )
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
        self.principals = list(settings.ci_principals) or [self.ci_role.role.role_arn]
        self.ci_bus = CiBus(self, "CiBus", settings=settings, principals=self.principals)
        self.function = factory.create(
            self,
            FunctionSpec(
                "ci_trigger",
                "ADS: request a lab deployment for a CI event",
                Duration.seconds(30),
                environment={
                    **environment,
                    "ADS_CI_ROLE_NAME": self.ci_role.role_name,
                    "ADS_CI_OWNER_ARN": self.ci_role.role.role_arn,
                    "ADS_CI_ACCOUNTS": ",".join(ci_accounts(settings)),
                },
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
            "This queue is itself the dead-letter queue of the CI trigger rule and function.",
        )
        # A handler that raises (Step Functions unavailable, say) is retried by Lambda;
        # what still fails lands here with the error, not only undeliverable events.
        self.function.configure_async_invoke(
            on_failure=destinations.SqsDestination(self.dead_letter_queue),
            retry_attempts=HANDLER_RETRY_ATTEMPTS,
            max_event_age=MAX_EVENT_AGE,
        )
        self.rule = events.Rule(
            self,
            "Rule",
            description="ADS: CI deployment, update and cohort requests to the ci_trigger Lambda",
            event_bus=self.ci_bus.bus,
            event_pattern=events.EventPattern(
                source=[CI_EVENT_SOURCE],
                detail_type=[CI_DETAIL_TYPE, CI_UPDATE_DETAIL_TYPE, CI_COHORT_DETAIL_TYPE],
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


def ci_accounts(settings: Settings) -> list[str]:
    """The accounts CI events may come from: those of the CI principals (or this one)."""
    if not settings.ci_principals:
        return [Aws.ACCOUNT_ID]
    accounts: list[str] = []
    for arn in settings.ci_principals:
        match = _ACCOUNT_OF_ARN.match(arn)
        if match and match.group(1) not in accounts:
            accounts.append(match.group(1))
    return accounts
