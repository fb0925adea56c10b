"""Network: where lab VMs run, how they reach AWS and the internet, and how the health
check reaches their agent.

`network_egress` decides the default network (a new VPC over two AZs):

- ``nat`` (default): lab subnets are private with egress through one NAT gateway in a
  public subnet, so labs run `apt-get`, `pip install` and `git clone`. SSM is reached
  through the NAT too; S3 and DynamoDB through (free) gateway endpoints.
- ``none``: lab subnets are isolated. The VMs reach SSM through interface endpoints
  (ssm, ssmmessages, ec2messages, placed in one AZ to halve their hourly price) and S3
  through its gateway endpoint, nothing else; the planner refuses labs that need the
  internet (ADS_NETWORK_EGRESS).

An existing VPC (`vpc_id`) is used as it is: `network_egress` then says what its lab
subnets offer (``nat``: private subnets with egress, ``none``: isolated ones), and its
routing must already reach SSM.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack, Token
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk_app.compute_construct import AGENT_PORT
from cdk_app.settings import ContextError, Settings

VPC_CIDR = "10.40.0.0/16"
LAB_SUBNETS = "Labs"
PUBLIC_SUBNETS = "Public"
_LAB_SUBNET_TYPES = {
    "nat": ec2.SubnetType.PRIVATE_WITH_EGRESS,
    "none": ec2.SubnetType.PRIVATE_ISOLATED,
}
INTERFACE_ENDPOINTS = {
    "Ssm": ec2.InterfaceVpcEndpointAwsService.SSM,
    "SsmMessages": ec2.InterfaceVpcEndpointAwsService.SSM_MESSAGES,
    "Ec2Messages": ec2.InterfaceVpcEndpointAwsService.EC2_MESSAGES,
}


class Network(Construct):
    """The VPC, its subnets by role (``lab_subnets``, ``public_subnets``) and the groups."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings) -> None:
        super().__init__(scope, construct_id)
        self.egress = settings.network_egress
        # Public subnets exist only where ADS made them (a new VPC with a NAT gateway).
        self.public_subnets: ec2.SubnetSelection | None = None
        if settings.vpc_id:
            self.vpc = self._existing_vpc(settings)
            self.lab_subnets = self._existing_subnets(settings)
        else:
            self.vpc = self._new_vpc(settings)
            self.lab_subnets = ec2.SubnetSelection(subnet_group_name=LAB_SUBNETS)

        self.health_check_security_group = ec2.SecurityGroup(
            self,
            "HealthCheckSecurityGroup",
            vpc=self.vpc,
            description="ADS health_check Lambda: calls the agent on lab VMs",
            allow_all_outbound=False,
        )
        self.lab_security_group = ec2.SecurityGroup(
            self,
            "LabSecurityGroup",
            vpc=self.vpc,
            description=f"ADS lab VMs: agent port {AGENT_PORT} from the health check only",
            allow_all_outbound=False,
        )
        self.lab_security_group.add_ingress_rule(
            self.health_check_security_group,
            ec2.Port.tcp(AGENT_PORT),
            "ADS agent, from the health_check Lambda",
        )
        self.health_check_security_group.add_egress_rule(
            self.lab_security_group, ec2.Port.tcp(AGENT_PORT), "ADS agent on lab VMs"
        )
        # HTTPS leaves both groups for AWS endpoints (interface endpoints, or the public
        # ones through NAT; S3 and DynamoDB gateway endpoints are reached at their public
        # prefixes) and, with egress, for package mirrors and git hosts.
        for group, who in (
            (self.lab_security_group, "lab VMs"),
            (self.health_check_security_group, "health_check Lambda"),
        ):
            group.add_egress_rule(
                ec2.Peer.any_ipv4(),
                ec2.Port.tcp(443),
                f"HTTPS from {who} to AWS endpoints (and the internet only with egress)",
            )
        if self.egress == "nat":
            # Package mirrors are often plain HTTP (archive.ubuntu.com).
            self.lab_security_group.add_egress_rule(
                ec2.Peer.any_ipv4(), ec2.Port.tcp(80), "HTTP package mirrors through NAT"
            )

    @property
    def subnet_ids(self) -> list[str]:
        """The lab subnets' ids (what create_vm launches into)."""
        return self.subnet_ids_of(self.lab_subnets)

    def subnet_ids_of(self, selection: ec2.SubnetSelection) -> list[str]:
        return self.vpc.select_subnets(
            subnet_type=selection.subnet_type,
            subnet_group_name=selection.subnet_group_name,
            subnet_filters=selection.subnet_filters,
            subnets=selection.subnets,
        ).subnet_ids

    def _new_vpc(self, settings: Settings) -> ec2.IVpc:
        with_nat = settings.network_egress == "nat"
        subnets = [
            ec2.SubnetConfiguration(
                name=LAB_SUBNETS,
                subnet_type=_LAB_SUBNET_TYPES[settings.network_egress],
                cidr_mask=22,
            ),
        ]
        if with_nat:
            subnets.append(
                ec2.SubnetConfiguration(
                    name=PUBLIC_SUBNETS, subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24
                )
            )
        flow_log_group = logs.LogGroup(
            self,
            "FlowLogs",
            retention=settings.log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(VPC_CIDR),
            max_azs=2,
            # One NAT gateway for both AZs: a lab environment trades AZ independence of
            # its egress for half the hourly price.
            nat_gateways=1 if with_nat else 0,
            subnet_configuration=subnets,
            flow_logs={
                "All": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_log_group),
                    traffic_type=ec2.FlowLogTrafficType.ALL,
                )
            },
        )
        if with_nat:
            self.public_subnets = ec2.SubnetSelection(subnet_group_name=PUBLIC_SUBNETS)
        selection = ec2.SubnetSelection(subnet_group_name=LAB_SUBNETS)
        if not with_nat:
            self._add_ssm_endpoints(vpc)
        # Gateway endpoints are free and keep S3 / DynamoDB traffic off the NAT's
        # per-gigabyte charge (and make them reachable at all without egress).
        vpc.add_gateway_endpoint(
            "S3", service=ec2.GatewayVpcEndpointAwsService.S3, subnets=[selection]
        )
        vpc.add_gateway_endpoint(
            "DynamoDb", service=ec2.GatewayVpcEndpointAwsService.DYNAMODB, subnets=[selection]
        )
        return vpc

    def _add_ssm_endpoints(self, vpc: ec2.Vpc) -> None:
        endpoint_group = ec2.SecurityGroup(
            self,
            "EndpointSecurityGroup",
            vpc=vpc,
            description="ADS VPC interface endpoints: HTTPS from inside the VPC",
            allow_all_outbound=False,
        )
        endpoint_group.add_ingress_rule(
            ec2.Peer.ipv4(VPC_CIDR), ec2.Port.tcp(443), "HTTPS from the VPC"
        )
        # Each interface endpoint is billed per AZ it is in; one AZ serves the whole VPC
        # (private DNS answers with that AZ's addresses everywhere).
        one_subnet = ec2.SubnetSelection(subnets=[vpc.isolated_subnets[0]])
        for endpoint_id, service in INTERFACE_ENDPOINTS.items():
            vpc.add_interface_endpoint(
                endpoint_id,
                service=service,
                subnets=one_subnet,
                private_dns_enabled=True,
                security_groups=[endpoint_group],
                open=False,
            )

    def _existing_vpc(self, settings: Settings) -> ec2.IVpc:
        stack = Stack.of(self)
        if Token.is_unresolved(stack.account) or Token.is_unresolved(stack.region):
            raise ContextError(
                "vpc_id",
                settings.vpc_id,
                "an existing VPC only when the stack has a concrete account and region "
                "(run `cdk synth` with AWS credentials), or empty for a new VPC",
            )
        return ec2.Vpc.from_lookup(self, "Vpc", vpc_id=settings.vpc_id)

    def _existing_subnets(self, settings: Settings) -> ec2.SubnetSelection:
        if settings.subnet_ids:
            # Filter the looked-up subnets (which know their AZs) rather than importing
            # bare ids: Lambda VPC configuration needs the availability zones.
            return ec2.SubnetSelection(
                subnet_filters=[ec2.SubnetFilter.by_ids(list(settings.subnet_ids))]
            )
        return ec2.SubnetSelection(subnet_type=_LAB_SUBNET_TYPES[settings.network_egress])
