"""Lab access: how students reach a lab's application (context `lab_access`).

- ``private`` (default): nothing here but the configuration; `ads connect` reaches a VM
  through SSM Session Manager, which needs no inbound rule.
- ``public``: labs launch in the VPC's public subnets with a public IP. The security
  group of each lab is made at run time by Create VM (tagged with the lab id, admitting
  only the lab's ports from `lab_ingress_cidrs`) and deleted by Destroy VM; this
  construct grants exactly that.
- ``load-balancer``: one shared internet-facing ALB with an HTTPS listener (the
  certificate `lb_certificate_arn`, default action a fixed 404) and HTTP redirected to
  HTTPS. Mark Ready adds a target group and a host rule `<lab_id>.<lb_domain>` per lab and
  registers the VM; Destroy VM removes them. DNS stays the operator's: a wildcard record
  `*.<lb_domain>` pointing at the `LoadBalancerDnsName` output.

The step functions learn the mode and its resources from ``environment`` (merged into
every function's variables) and get their permissions from :meth:`LabAccess.grant_steps`.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack, Token
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cdk_app.nag import acknowledge, nag_text
from cdk_app.settings import ContextError, Settings

LAB_ID_TAG = "ads:lab-id"
MANAGED_TAG = "ads:managed"
ANYWHERE = ("0.0.0.0/0",)
# The runtime names target groups "ads-<hash of the lab id>" (ads/providers/ec2_access.py).
TARGET_GROUP_NAMES = "ads-*"


class LabAccess(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, settings: Settings, vpc: ec2.IVpc
    ) -> None:
        super().__init__(scope, construct_id)
        self._stack = Stack.of(self)
        self.mode = settings.lab_access
        self.vpc = vpc
        self.load_balancer: elbv2.ApplicationLoadBalancer | None = None
        self.listener: elbv2.ApplicationListener | None = None
        self.cidrs = settings.lab_ingress_cidrs or ANYWHERE
        self.environment: dict[str, str] = {
            "ADS_LAB_ACCESS": self.mode,
            "ADS_VPC_ID": vpc.vpc_id,
            "ADS_LAB_INGRESS_CIDRS": ",".join(self.cidrs),
        }
        if self.mode == "private":
            return
        public = vpc.select_subnets(subnet_type=ec2.SubnetType.PUBLIC)
        if not public.subnets:
            raise ContextError(
                "lab_access",
                self.mode,
                "private when the VPC has no public subnets (network_egress none makes a VPC "
                "without them; use nat, or a vpc_id with public subnets)",
            )
        if self.mode == "public":
            self.environment["ADS_PUBLIC_SUBNET_IDS"] = ",".join(public.subnet_ids)
        else:
            self._load_balancer(settings, public)

    # -- the shared load balancer ------------------------------------------------------------

    def _load_balancer(self, settings: Settings, subnets: ec2.SelectedSubnets) -> None:
        group = ec2.SecurityGroup(
            self,
            "LoadBalancerSecurityGroup",
            vpc=self.vpc,
            description="ADS lab load balancer: HTTPS (and HTTP to redirect) from lab users",
            allow_all_outbound=False,
        )
        for cidr in self.cidrs:
            peer = ec2.Peer.ipv6(cidr) if ":" in cidr else ec2.Peer.ipv4(cidr)
            group.add_ingress_rule(peer, ec2.Port.tcp(443), "HTTPS to labs")
            group.add_ingress_rule(peer, ec2.Port.tcp(80), "HTTP, redirected to HTTPS")
        # Lab ports are the labspecs' own; each lab's security group admits this group only
        # on them and on the agent port (the ALB's health check).
        group.add_egress_rule(
            ec2.Peer.ipv4(self.vpc.vpc_cidr_block),
            ec2.Port.tcp_range(1, 65535),
            "lab ports and the agent's health endpoint on lab VMs",
        )
        if self.cidrs == ANYWHERE:
            acknowledge(
                group,
                "AwsSolutions-EC23",
                "Labs are web applications for students anywhere; lab_ingress_cidrs narrows "
                "who may reach them. Only 80 (redirect) and 443 are open.",
            )
        self.load_balancer = elbv2.ApplicationLoadBalancer(
            self,
            "LoadBalancer",
            vpc=self.vpc,
            internet_facing=True,
            vpc_subnets=ec2.SubnetSelection(subnets=subnets.subnets),
            security_group=group,
            drop_invalid_header_fields=True,
        )
        self._access_logs(settings)
        self.listener = self.load_balancer.add_listener(
            "Https",
            port=443,
            protocol=elbv2.ApplicationProtocol.HTTPS,
            certificates=[elbv2.ListenerCertificate.from_arn(settings.lb_certificate_arn)],
            ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
            open=False,
            default_action=elbv2.ListenerAction.fixed_response(
                404, content_type="text/plain", message_body="No lab answers at this address.\n"
            ),
        )
        self.load_balancer.add_redirect(source_port=80, target_port=443, open=False)
        self.environment.update(
            {
                "ADS_LB_LISTENER_ARN": self.listener.listener_arn,
                "ADS_LB_SECURITY_GROUP_ID": group.security_group_id,
                "ADS_LB_DOMAIN": settings.lb_domain,
                "ADS_LB_CERTIFICATE_ARN": settings.lb_certificate_arn,
            }
        )
        CfnOutput(
            self,
            "LoadBalancerDnsName",
            value=self.load_balancer.load_balancer_dns_name,
            description=f"Point *.{settings.lb_domain} (CNAME or alias) here",
        )

    def _access_logs(self, settings: Settings) -> None:
        assert self.load_balancer is not None
        if Token.is_unresolved(self._stack.region):
            # The bucket policy names the region's ELB log delivery account: `cdk deploy`
            # (which sets the region) gets the logs, an environment-agnostic synth cannot.
            acknowledge(
                self.load_balancer,
                "AwsSolutions-ELB2",
                "Access logs are enabled whenever the stack has a concrete region (cdk deploy, "
                "or the region context key); this synthesis is environment-agnostic.",
            )
            return
        logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            removal_policy=RemovalPolicy.DESTROY,
            auto_delete_objects=True,
            lifecycle_rules=[
                s3.LifecycleRule(expiration=Duration.days(settings.log_retention_days))
            ],
        )
        acknowledge(
            logs,
            "AwsSolutions-S1",
            "This bucket holds the load balancer's access logs; logging it would log logs.",
        )
        self.load_balancer.log_access_logs(logs, prefix="alb")

    # -- what the steps may do ---------------------------------------------------------------

    def _arn(self, service: str, resource: str) -> str:
        stack = self._stack
        return f"arn:{stack.partition}:{service}:{stack.region}:{stack.account}:{resource}"

    def grant_steps(
        self,
        *,
        create_vm: lambda_.IFunction,
        init_vm: lambda_.IFunction,
        record_status: lambda_.IFunction,
        destroy_vm: lambda_.IFunction,
    ) -> None:
        if self.mode == "private":
            return
        self._grant_security_groups(create_vm, destroy_vm)
        if self.mode == "load-balancer":
            # A lab of one VM opens its access at Initialise VM, while its install runs; a
            # lab of several VMs at Mark Ready (record_status).
            self._grant_load_balancer((init_vm, record_status), destroy_vm)

    def _grant_security_groups(
        self, create_vm: lambda_.IFunction, destroy_vm: lambda_.IFunction
    ) -> None:
        groups = self._arn("ec2", "security-group/*")
        tagged = {"Null": {f"aws:ResourceTag/{LAB_ID_TAG}": "false"}}
        managed = {"StringEquals": {f"aws:ResourceTag/{MANAGED_TAG}": "true"}}
        statements = [
            iam.PolicyStatement(
                sid="CreateLabSecurityGroupsInTheLabVpc",
                actions=["ec2:CreateSecurityGroup"],
                resources=[self._arn("ec2", f"vpc/{self.vpc.vpc_id}")],
            ),
            iam.PolicyStatement(
                sid="CreateOnlyTaggedLabSecurityGroups",
                actions=["ec2:CreateSecurityGroup"],
                resources=[groups],
                conditions={
                    "StringEquals": {f"aws:RequestTag/{MANAGED_TAG}": "true"},
                    "Null": {f"aws:RequestTag/{LAB_ID_TAG}": "false"},
                },
            ),
            iam.PolicyStatement(
                sid="TagLabSecurityGroupsOnlyWhileCreating",
                actions=["ec2:CreateTags"],
                resources=[groups],
                conditions={"StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"}},
            ),
            iam.PolicyStatement(
                sid="OpenLabPortsOnLabSecurityGroups",
                actions=["ec2:AuthorizeSecurityGroupIngress"],
                resources=[groups],
                conditions={**tagged, **managed},
            ),
            iam.PolicyStatement(
                sid="LaunchWithLabSecurityGroups",
                actions=["ec2:RunInstances"],
                resources=[groups],
                conditions={**tagged, **managed},
            ),
            iam.PolicyStatement(
                sid="FindLabSecurityGroups",
                actions=["ec2:DescribeSecurityGroups"],
                resources=["*"],
            ),
        ]
        for statement in statements:
            create_vm.add_to_role_policy(statement)
        destroy_vm.add_to_role_policy(
            iam.PolicyStatement(
                sid="DeleteLabSecurityGroups",
                actions=["ec2:DeleteSecurityGroup"],
                resources=[groups],
                conditions={**tagged, **managed},
            )
        )
        destroy_vm.add_to_role_policy(statements[-1])
        reason = (
            "Lab security groups are created per lab at run time, so their ids are unknown; "
            "every statement requires the ads:lab-id and ads:managed tags (request tags to "
            "create, resource tags to change, launch with or delete)."
        )
        for function in (create_vm, destroy_vm):
            acknowledge(
                function.role, f"AwsSolutions-IAM5[Resource::{nag_text(self, groups)}]", reason
            )
            acknowledge(
                function.role,
                "AwsSolutions-IAM5[Resource::*]",
                "Describe actions (EC2 instances and security groups) support only resource "
                "'*'; X-Ray as well.",
            )

    def _grant_load_balancer(
        self, openers: tuple[lambda_.IFunction, ...], destroy_vm: lambda_.IFunction
    ) -> None:
        assert self.load_balancer is not None and self.listener is not None
        target_groups = self._arn("elasticloadbalancing", f"targetgroup/{TARGET_GROUP_NAMES}/*")
        rules = self._arn(
            "elasticloadbalancing",
            f"listener-rule/{self.load_balancer.load_balancer_full_name}/*",
        )
        requested = {
            "StringEquals": {f"aws:RequestTag/{MANAGED_TAG}": "true"},
            "Null": {f"aws:RequestTag/{LAB_ID_TAG}": "false"},
        }
        managed = {"StringEquals": {f"aws:ResourceTag/{MANAGED_TAG}": "true"}}
        describe = iam.PolicyStatement(
            sid="ReadLoadBalancerRulesAndTargets",
            actions=[
                "elasticloadbalancing:DescribeRules",
                "elasticloadbalancing:DescribeTargetGroups",
                "elasticloadbalancing:DescribeTargetHealth",
            ],
            resources=["*"],
        )
        for statement in (
            iam.PolicyStatement(
                sid="CreateTaggedLabTargetGroups",
                actions=["elasticloadbalancing:CreateTargetGroup"],
                resources=[target_groups],
                conditions=requested,
            ),
            iam.PolicyStatement(
                sid="CreateTaggedLabRulesOnTheListener",
                actions=["elasticloadbalancing:CreateRule"],
                resources=[self.listener.listener_arn],
                conditions=requested,
            ),
            iam.PolicyStatement(
                sid="TagOnlyWhileCreating",
                actions=["elasticloadbalancing:AddTags"],
                resources=[target_groups, rules],
                conditions={
                    "StringEquals": {
                        "elasticloadbalancing:CreateAction": ["CreateTargetGroup", "CreateRule"]
                    }
                },
            ),
            iam.PolicyStatement(
                sid="RegisterLabVms",
                actions=["elasticloadbalancing:RegisterTargets"],
                resources=[target_groups],
                conditions=managed,
            ),
            describe,
        ):
            for opener in openers:
                opener.add_to_role_policy(statement)
        for statement in (
            iam.PolicyStatement(
                sid="RemoveLabRules",
                actions=["elasticloadbalancing:DeleteRule"],
                resources=[rules],
                conditions=managed,
            ),
            iam.PolicyStatement(
                sid="RemoveLabTargetsAndTargetGroups",
                actions=[
                    "elasticloadbalancing:DeregisterTargets",
                    "elasticloadbalancing:DeleteTargetGroup",
                ],
                resources=[target_groups],
                conditions=managed,
            ),
            describe,
        ):
            destroy_vm.add_to_role_policy(statement)
        why = {
            target_groups: "Target groups are created per lab at run time (names ads-<hash>); "
            "creating needs the ads tags on the request, changing them the ads:managed tag.",
            rules: "Listener rules are created per lab at run time on this load balancer only; "
            "deleting one needs the ads:managed tag.",
        }
        for function in (*openers, destroy_vm):
            for resource, reason in why.items():
                acknowledge(
                    function.role,
                    f"AwsSolutions-IAM5[Resource::{nag_text(self, resource)}]",
                    reason,
                )
            acknowledge(
                function.role,
                "AwsSolutions-IAM5[Resource::*]",
                "Describe actions (EC2 instances and security groups, load balancer rules and "
                "targets) support only resource '*'; X-Ray as well.",
            )
