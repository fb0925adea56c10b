"""API: the REST front door. Every method is IAM-authorised (SigV4) and proxied to one Lambda."""

from __future__ import annotations

import json

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct
from pydantic import BaseModel

from ads import api_routes
from ads.api_models import DeploymentRequest, LeaseRenewal, PlanRequest
from ads.cohort_model import CohortRenewal, CohortRequest
from ads.lab_updates import RedeployRequest
from cdk_app.compute_construct import FunctionSpec, LambdaFactory
from cdk_app.nag import acknowledge, managed_policy_finding, nag_text
from cdk_app.request_schemas import draft4_schema
from cdk_app.settings import Settings
from cdk_app.storage_construct import Storage

STAGE_NAME = "v1"
# (path, method, path parameters) of every route, from the API's OpenAPI document; all go
# to the api Lambda.
ROUTES = tuple((r.path, r.method, r.path_parameters) for r in api_routes.routes())
# The body model of each route that takes one: API Gateway refuses a body that does not
# fit before the Lambda runs (and the Lambda checks it again with the same model).
REQUEST_BODIES: dict[tuple[str, str], type[BaseModel]] = {
    ("/labs", "POST"): DeploymentRequest,
    ("/plans", "POST"): PlanRequest,
    ("/labs/{lab_id}/redeploy", "POST"): RedeployRequest,
    ("/labs/{lab_id}/lease", "POST"): LeaseRenewal,
    ("/cohorts", "POST"): CohortRequest,
    ("/cohorts/{cohort_id}/lease", "POST"): CohortRenewal,
}
# What API Gateway answers for a body its model refuses: the ADS error shape. Gateway
# response templates are plain substitution (no VTL, no escaping): validationErrorString
# holds unescaped double quotes and would break the JSON, while messageString arrives
# already quoted.
BAD_BODY_TEMPLATE = (
    '{"error": "invalid_input", "message": $context.error.messageString, '
    '"detail": "the body does not fit the model of this route; see the API reference"}'
)
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTime",
    "caller": "$context.identity.userArn",
    "sourceIp": "$context.identity.sourceIp",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "path": "$context.path",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "latencyMs": "$context.responseLatency",
    "integrationStatus": "$context.integration.status",
    "error": "$context.error.message",
    "xrayTraceId": "$context.xrayTraceId",
}


class Api(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        factory: LambdaFactory,
        storage: Storage,
        deploy_machine: sfn.StateMachine,
        destroy_machine: sfn.StateMachine,
        machine_names: tuple[str, str],
        environment: dict[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = factory.create(
            self,
            FunctionSpec(
                "api",
                "ADS REST API (API Gateway proxy integration)",
                # API Gateway gives up after 29 seconds anyway.
                Duration.seconds(29),
                memory_mib=512,
                environment=environment,
            ),
        )
        storage.grant_lab_records(self.function)
        self._grant_executions(deploy_machine, destroy_machine, machine_names)

        access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=settings.log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name=f"{settings.name_prefix}-api",
            description="ADS: request, list, show and destroy labs",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # Execution logging needs the account-level CloudWatch role. It is an
            # account-wide setting other APIs may rely on, so teardown keeps it.
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            default_method_options=apigw.MethodOptions(
                authorization_type=apigw.AuthorizationType.IAM
            ),
            deploy_options=apigw.StageOptions(
                stage_name=STAGE_NAME,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS)),
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                metrics_enabled=True,
                tracing_enabled=True,
                throttling_rate_limit=settings.api_throttling_rate_limit,
                throttling_burst_limit=settings.api_throttling_burst_limit,
            ),
        )
        self.request_validator = self.rest_api.add_request_validator(
            "RequestValidator",
            request_validator_name=f"{settings.name_prefix}-body-and-parameters",
            validate_request_body=True,
            validate_request_parameters=True,
        )
        self.rest_api.add_gateway_response(
            "BadRequestBody",
            type=apigw.ResponseType.BAD_REQUEST_BODY,
            status_code="400",
            templates={"application/json": BAD_BODY_TEMPLATE},
        )
        self.request_models = {
            route: self._request_model(model) for route, model in REQUEST_BODIES.items()
        }
        integration = apigw.LambdaIntegration(self.function, proxy=True, allow_test_invoke=False)
        for path, method, parameters in ROUTES:
            resource = self.rest_api.root.resource_for_path(path)
            model = self.request_models.get((path, method))
            resource.add_method(
                method,
                integration,
                authorization_type=apigw.AuthorizationType.IAM,
                request_validator=self.request_validator,
                request_parameters={f"method.request.path.{name}": True for name in parameters}
                or None,
                request_models={"application/json": model} if model else None,
            )
        self._acknowledge()

    def _request_model(self, model: type[BaseModel]) -> apigw.IModel:
        # CfnModel takes the converted schema as plain JSON; apigw.Model would need it
        # rebuilt as nested JsonSchema objects.
        cfn_model = apigw.CfnModel(
            self,
            f"{model.__name__}Model",
            rest_api_id=self.rest_api.rest_api_id,
            name=model.__name__,
            content_type="application/json",
            description=f"ADS {model.__name__} (from ads.api_models)",
            schema=draft4_schema(model),
        )
        return apigw.Model.from_model_name(self, f"{model.__name__}ModelRef", cfn_model.ref)

    def _grant_executions(
        self,
        deploy_machine: sfn.StateMachine,
        destroy_machine: sfn.StateMachine,
        machine_names: tuple[str, str],
    ) -> None:
        deploy_machine.grant_start_execution(self.function)
        destroy_machine.grant_start_execution(self.function)
        stack = Stack.of(self)
        executions = [
            stack.format_arn(
                service="states",
                resource="execution",
                resource_name=f"{name}:*",
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
            for name in machine_names
        ]
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                sid="FollowAndStopLabExecutions",
                actions=[
                    "states:DescribeExecution",
                    "states:GetExecutionHistory",
                    "states:StopExecution",
                ],
                resources=executions,
            )
        )
        for name, arn in zip(machine_names, executions, strict=True):
            acknowledge(
                self.function.role,
                f"AwsSolutions-IAM5[Resource::{nag_text(self, arn)}]",
                "Execution names are lab ids generated at run time; the grant covers only "
                f"executions of {name}.",
            )

    def _acknowledge(self) -> None:
        acknowledge(
            self.rest_api,
            "AwsSolutions-APIG3",
            "Every method requires SigV4 (AWS_IAM) and the stage is throttled; a WAF web "
            "ACL adds cost without filtering anything an unsigned caller could reach.",
        )
        acknowledge(
            self.rest_api,
            "AwsSolutions-COG4",
            "Callers are IAM principals (CLI, CI roles) signing with SigV4; there is no "
            "Cognito user pool by design.",
        )
        acknowledge(
            self.rest_api,
            managed_policy_finding(self, "service-role/AmazonAPIGatewayPushToCloudWatchLogs"),
            "API Gateway's account-level logging role must use the AWS-managed push policy.",
        )
