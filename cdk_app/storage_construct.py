"""Storage: the labs table, the one place lab records live."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from cdk_app.nag import acknowledge, nag_text
from cdk_app.settings import Settings

OWNER_INDEX = "owner-index"
OWNER_GROUP_INDEX = "owner-group-index"
# The health watch lists READY and DEGRADED labs through it (ads/labs_table.py).
STATUS_INDEX = "status-index"
# A cohort member lists the labs assigned to them through it (ads/labs_table.py).
ASSIGNEE_INDEX = "assignee-index"
# A role's session lists the labs assigned to the role through it (ads/lab_listings.py).
ASSIGNEE_GROUP_INDEX = "assignee-group-index"
TTL_ATTRIBUTE = "expires_at"


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
        self.table.add_global_secondary_index(
            index_name=OWNER_INDEX,
            partition_key=dynamodb.Attribute(name="owner", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="created_at", type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.ALL,
        )
        # A role and its sessions share a group (ads/identity.py): sessions list through it.
        self.table.add_global_secondary_index(
            index_name=OWNER_GROUP_INDEX,
            partition_key=dynamodb.Attribute(
                name="owner_group", type=dynamodb.AttributeType.STRING
            ),
            sort_key=dynamodb.Attribute(name="created_at", type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.ALL,
        )
        self.table.add_global_secondary_index(
            index_name=STATUS_INDEX,
            partition_key=dynamodb.Attribute(name="status", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="created_at", type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.ALL,
        )
        self.table.add_global_secondary_index(
            index_name=ASSIGNEE_INDEX,
            partition_key=dynamodb.Attribute(name="assignee", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="created_at", type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.ALL,
        )
        self.table.add_global_secondary_index(
            index_name=ASSIGNEE_GROUP_INDEX,
            partition_key=dynamodb.Attribute(
                name="assignee_group", type=dynamodb.AttributeType.STRING
            ),
            sort_key=dynamodb.Attribute(name="created_at", type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.ALL,
        )

    def grant_lab_records(self, function: lambda_.Function) -> iam.Grant:
        """Read and write lab records (the table and its owner index)."""
        grant = self.table.grant_read_write_data(function)
        acknowledge(
            function.role,
            f"AwsSolutions-IAM5[Resource::{nag_text(self, self.table.table_arn)}/index/*]",
            f"Queries the {OWNER_INDEX}, {OWNER_GROUP_INDEX}, {STATUS_INDEX}, {ASSIGNEE_INDEX} and {ASSIGNEE_GROUP_INDEX} GSIs of the labs table; the wildcard covers that "
            "table's indexes only.",
        )
        return grant
