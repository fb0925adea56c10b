"""What lab images (ads.lab_images) may do in AWS: the Keep Lab Image step makes AMIs of
ADS's instances, the api removes them with their snapshots.

Scoped by tags where EC2 authorises per resource (Service Authorization Reference,
Amazon EC2): ``ec2:CreateImage`` is authorised on the source instance (its
``ec2:ResourceTag``) and on the new image and snapshots (``aws:RequestTag``, the tags the
call puts on them); the tags a call applies at creation need ``ec2:CreateTags`` with
``ec2:CreateAction = CreateImage``; ``ec2:DeregisterImage`` and ``ec2:DeleteSnapshot``
are authorised on the image and the snapshot (their ``ec2:ResourceTag``).
``ec2:DescribeImages`` has no resource-level permissions.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from ads.config import MANAGED_TAG
from cdk_app.nag import acknowledge, nag_text

MANAGED = {f"ec2:ResourceTag/{MANAGED_TAG}": "true"}
TAGGED_AT_CREATION = {f"aws:RequestTag/{MANAGED_TAG}": "true"}


class ImageGrants:
    def __init__(self, scope: Construct) -> None:
        self._scope = scope
        self._stack = Stack.of(scope)

    def _arn(self, resource: str, *, account: bool) -> str:
        account_id = self._stack.account if account else ""
        return f"arn:{self._stack.partition}:ec2:{self._stack.region}:{account_id}:{resource}/*"

    @property
    def images(self) -> str:
        return self._arn("image", account=False)

    @property
    def snapshots(self) -> str:
        return self._arn("snapshot", account=False)

    @property
    def instances(self) -> str:
        return self._arn("instance", account=True)

    def keep_images(self, function: lambda_.IFunction) -> None:
        """CreateImage of ADS's instances into images and snapshots tagged ADS's, and
        following them (DescribeImages)."""
        role = function.role
        assert role is not None
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ImageOfAdsInstancesOnly",
                actions=["ec2:CreateImage"],
                resources=[self.instances],
                conditions={"StringEquals": MANAGED},
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ImagesAndSnapshotsTaggedAtCreation",
                actions=["ec2:CreateImage"],
                resources=[self.images, self.snapshots],
                conditions={"StringEquals": TAGGED_AT_CREATION},
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="TagOnlyWhileCreatingImages",
                actions=["ec2:CreateTags"],
                resources=[self.images, self.snapshots],
                conditions={"StringEquals": {"ec2:CreateAction": "CreateImage"}},
            )
        )
        self._describe(role)
        self._acknowledge(
            role,
            (
                self.instances,
                "Lab instance ids are created at run time; CreateImage is "
                "limited to instances tagged ads:managed=true.",
            ),
            (
                self.images,
                "AMI and snapshot ids do not exist before CreateImage; the call "
                "must tag them ads:managed=true (aws:RequestTag), and tagging is allowed only "
                "within CreateImage.",
            ),
            (
                self.snapshots,
                "AMI and snapshot ids do not exist before CreateImage; the call "
                "must tag them ads:managed=true (aws:RequestTag), and tagging is allowed only "
                "within CreateImage.",
            ),
        )

    def launch_from_images(self, function: lambda_.IFunction) -> None:
        """RunInstances from an ADS image reads its snapshots: ADS's own only (the image
        itself is covered by Create VM's image grant)."""
        role = function.role
        assert role is not None
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="RunFromAdsImageSnapshots",
                actions=["ec2:RunInstances"],
                resources=[self.snapshots],
                conditions={"StringEquals": MANAGED},
            )
        )
        self._acknowledge(
            role,
            (
                self.snapshots,
                "Lab image snapshots are created at run time; launching reads only "
                "snapshots tagged ads:managed=true.",
            ),
        )

    def remove_images(self, function: lambda_.IFunction) -> None:
        """DeregisterImage and DeleteSnapshot of ADS's images only (DELETE /images/{id})."""
        role = function.role
        assert role is not None
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DeregisterAdsImagesOnly",
                actions=["ec2:DeregisterImage"],
                resources=[self.images],
                conditions={"StringEquals": MANAGED},
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DeleteAdsImageSnapshotsOnly",
                actions=["ec2:DeleteSnapshot"],
                resources=[self.snapshots],
                conditions={"StringEquals": MANAGED},
            )
        )
        self._describe(role)
        reason = (
            "Lab image ids are created at run time; DeregisterImage and DeleteSnapshot are "
            "limited to images and snapshots tagged ads:managed=true."
        )
        self._acknowledge(role, (self.images, reason), (self.snapshots, reason))

    def _describe(self, role: iam.IRole) -> None:
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DescribeLabImages", actions=["ec2:DescribeImages"], resources=["*"]
            )
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "ec2:DescribeImages supports only resource '*'; X-Ray as well.",
        )

    def _acknowledge(self, role: iam.IRole, *findings: tuple[str, str]) -> None:
        for resource, reason in findings:
            acknowledge(
                role, f"AwsSolutions-IAM5[Resource::{nag_text(self._scope, resource)}]", reason
            )
