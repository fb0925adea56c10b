"""Storage: the labs table, the one place lab records live."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from ads.labs_table import INDEX_SORT_KEY, INDEXES, TTL_ATTRIBUTE
from cdk_app.nag import acknowledge, nag_text
from cdk_app.settings import Settings


class Storage(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "LabsTable",
            table_name=f"{settings.name_prefix}-labs",
            partition_key=dynamodb.Attribute(name="lab_id", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            time_to_live_attribute=TTL_ATTRIBUTE,
            deletion_protection=settings.deletion_protection,
            # A protected table also survives `cdk destroy`; an unprotected one is a
            # disposable (test) deployment and goes with the stack.
            removal_policy=RemovalPolicy.RETAIN
            if settings.deletion_protection
            else RemovalPolicy.DESTROY,
        )
        # The indexes of ads/labs_table.py (the local plane's table has the same): by
        # owner, owner group (a role's sessions), status (the health watch), assignee and
        # assignee group (a cohort's members).
        for index, key in INDEXES:
            self.table.add_global_secondary_index(
                index_name=index,
                partition_key=dynamodb.Attribute(name=key, type=dynamodb.AttributeType.STRING),
                sort_key=dynamodb.Attribute(
                    name=INDEX_SORT_KEY, type=dynamodb.AttributeType.STRING
                ),
                projection_type=dynamodb.ProjectionType.ALL,
            )

    def grant_lab_records(self, function: lambda_.Function) -> iam.Grant:
        """Read and write lab records (the table and its owner index)."""
        grant = self.table.grant_read_write_data(function)
        acknowledge(
            function.role,
            f"AwsSolutions-IAM5[Resource::{nag_text(self, self.table.table_arn)}/index/*]",
            f"Queries the {', '.join(index for index, _ in INDEXES)} GSIs of the labs table; "
            "the wildcard covers that table's indexes only.",
        )
        return grant
