"""Network: where lab VMs run and how the health check reaches their agent.

By default a new VPC with private isolated subnets: the VMs reach SSM through interface
endpoints and S3 / DynamoDB through gateway endpoints, with no route to the internet.
`create_nat` adds public subnets and one NAT gateway for labs that need apt or git.
An existing VPC (`vpc_id`) is used as it is: its routing must already reach SSM.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack, Token
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk_app.compute_construct import AGENT_PORT
from cdk_app.settings import ContextError, Settings

VPC_CIDR = "10.40.0.0/16"
_SUBNET_TYPES = {
    "private_isolated": ec2.SubnetType.PRIVATE_ISOLATED,
    "private_with_egress": ec2.SubnetType.PRIVATE_WITH_EGRESS,
}
INTERFACE_ENDPOINTS = {
    "Ssm": ec2.InterfaceVpcEndpointAwsService.SSM,
    "SsmMessages": ec2.InterfaceVpcEndpointAwsService.SSM_MESSAGES,
    "Ec2Messages": ec2.InterfaceVpcEndpointAwsService.EC2_MESSAGES,
}


class Network(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings) -> None:
        super().__init__(scope, construct_id)
        if settings.vpc_id:
            self.vpc = self._existing_vpc(settings)
            self.lab_subnets = self._existing_subnets(settings)
        else:
            self.vpc = self._new_vpc(settings)
            self.lab_subnets = ec2.SubnetSelection(subnet_group_name="Labs")

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
        # HTTPS leaves both groups for the VPC endpoints; S3 and DynamoDB gateway
        # endpoints are reached at their public prefixes, which only resolve through the
        # endpoints because the default subnets have no internet route.
        for group, who in (
            (self.lab_security_group, "lab VMs"),
            (self.health_check_security_group, "health_check Lambda"),
        ):
            group.add_egress_rule(
                ec2.Peer.any_ipv4(),
                ec2.Port.tcp(443),
                f"HTTPS from {who} to AWS endpoints (and the internet only through NAT)",
            )
        if settings.create_nat or settings.vpc_id:
            # Package mirrors are often plain HTTP; only reachable when routing allows.
            self.lab_security_group.add_egress_rule(
                ec2.Peer.any_ipv4(), ec2.Port.tcp(80), "HTTP package mirrors through NAT"
            )

    @property
    def subnet_ids(self) -> list[str]:
        selection = self.lab_subnets
        return self.vpc.select_subnets(
            subnet_type=selection.subnet_type,
            subnet_group_name=selection.subnet_group_name,
            subnet_filters=selection.subnet_filters,
        ).subnet_ids

    def _new_vpc(self, settings: Settings) -> ec2.IVpc:
        lab_subnet_type = (
            ec2.SubnetType.PRIVATE_WITH_EGRESS
            if settings.create_nat
            else ec2.SubnetType.PRIVATE_ISOLATED
        )
        subnets = [
            ec2.SubnetConfiguration(name="Labs", subnet_type=lab_subnet_type, cidr_mask=22),
        ]
        if settings.create_nat:
            subnets.append(
                ec2.SubnetConfiguration(
                    name="Public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24
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
            nat_gateways=1 if settings.create_nat else 0,
            subnet_configuration=subnets,
            flow_logs={
                "All": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_log_group),
                    traffic_type=ec2.FlowLogTrafficType.ALL,
                )
            },
        )
        selection = ec2.SubnetSelection(subnet_group_name="Labs")
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
        for endpoint_id, service in INTERFACE_ENDPOINTS.items():
            vpc.add_interface_endpoint(
                endpoint_id,
                service=service,
                subnets=selection,
                private_dns_enabled=True,
                security_groups=[endpoint_group],
                open=False,
            )
        vpc.add_gateway_endpoint(
            "S3", service=ec2.GatewayVpcEndpointAwsService.S3, subnets=[selection]
        )
        vpc.add_gateway_endpoint(
            "DynamoDb", service=ec2.GatewayVpcEndpointAwsService.DYNAMODB, subnets=[selection]
        )
        return vpc

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
        return ec2.SubnetSelection(subnet_type=_SUBNET_TYPES[settings.subnet_type])
