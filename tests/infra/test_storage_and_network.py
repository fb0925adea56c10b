"""The labs table and the network the lab VMs live in."""

from __future__ import annotations

from aws_cdk import App, Stack
from aws_cdk.assertions import Match

from ads.records import table_schema
from tests.infra.template_queries import ads_functions, of_type, text

OPEN_CIDRS = ("0.0.0.0/0", "::/0")


def test_given_cdk_json_context_when_synthesized_then_labs_table_keys_index_and_ttl_match_the_records_contract(
    template,
):
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "lab_id", "KeyType": "HASH"}],
            # The same indexes the records module (and so the local control plane) uses.
            "GlobalSecondaryIndexes": table_schema("ads-labs")["GlobalSecondaryIndexes"],
            "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
        },
    )


def test_given_cdk_json_context_when_synthesized_then_labs_table_is_on_demand_recoverable_encrypted_and_protected(
    template,
):
    template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": Match.object_like(
                {
                    "BillingMode": "PAY_PER_REQUEST",
                    "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                    "SSESpecification": {"SSEEnabled": True},
                    "DeletionProtectionEnabled": True,
                }
            ),
            "DeletionPolicy": "Retain",
        },
    )


def test_given_default_context_when_synthesized_then_no_security_group_admits_traffic_from_anywhere(
    synthesis,
):
    ingress = []
    for group in of_type(synthesis.template, "AWS::EC2::SecurityGroup").values():
        ingress.extend(group["Properties"].get("SecurityGroupIngress", []))
    ingress.extend(
        r["Properties"]
        for r in of_type(synthesis.template, "AWS::EC2::SecurityGroupIngress").values()
    )
    assert ingress, "expected at least the agent and endpoint ingress rules"
    for rule in ingress:
        assert rule.get("CidrIp") not in OPEN_CIDRS and rule.get("CidrIpv6") not in OPEN_CIDRS, rule


def test_given_default_context_when_synthesized_then_agent_port_is_open_only_from_the_health_check_group(
    synthesis,
):
    functions = ads_functions(synthesis.template)
    health_groups = functions["health_check"][1]["VpcConfig"]["SecurityGroupIds"]
    assert len(health_groups) == 1
    health_group = health_groups[0]["Fn::GetAtt"][0]
    rules = [
        r["Properties"]
        for r in of_type(synthesis.template, "AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"].get("FromPort") == 9089 or r["Properties"].get("ToPort") == 9089
    ]
    assert len(rules) == 1
    assert rules[0]["IpProtocol"] == "tcp" and rules[0]["FromPort"] == rules[0]["ToPort"] == 9089
    assert rules[0]["SourceSecurityGroupId"] == {"Fn::GetAtt": [health_group, "GroupId"]}
    # The lab group named in the Lambdas' configuration is the one this rule opens.
    lab_group = functions["create_vm"][1]["Environment"]["Variables"]["ADS_SECURITY_GROUP_IDS"]
    assert rules[0]["GroupId"] == lab_group


def test_given_default_context_when_synthesized_then_only_health_check_runs_in_the_vpc(synthesis):
    in_vpc = {
        name
        for name, (_, props) in ads_functions(synthesis.template).items()
        if "VpcConfig" in props
    }
    assert in_vpc == {"health_check"}


def test_given_default_context_when_synthesized_then_lab_subnets_are_isolated_without_nat_or_internet_gateway(
    synthesis,
):
    template = synthesis.template
    assert not of_type(template, "AWS::EC2::NatGateway")
    assert not of_type(template, "AWS::EC2::InternetGateway")
    subnets = of_type(template, "AWS::EC2::Subnet")
    assert len(subnets) == 2
    assert all(s["Properties"]["MapPublicIpOnLaunch"] is False for s in subnets.values())
    routes = [r["Properties"] for r in of_type(template, "AWS::EC2::Route").values()]
    assert not [r for r in routes if r.get("DestinationCidrBlock") == "0.0.0.0/0"]


def test_given_default_context_when_synthesized_then_ssm_is_reached_through_private_interface_endpoints(
    synthesis,
):
    endpoints = of_type(synthesis.template, "AWS::EC2::VPCEndpoint").values()
    interface = {
        text(e["Properties"]["ServiceName"]).rsplit(".", 1)[-1].strip('"]} ')
        for e in endpoints
        if e["Properties"]["VpcEndpointType"] == "Interface"
        and e["Properties"]["PrivateDnsEnabled"]
    }
    gateway = {
        text(e["Properties"]["ServiceName"]).rsplit(".", 1)[-1].strip('"]} ')
        for e in endpoints
        if e["Properties"]["VpcEndpointType"] == "Gateway"
    }
    assert interface == {"ssm", "ssmmessages", "ec2messages"}
    assert gateway == {"s3", "dynamodb"}


def test_given_default_context_when_synthesized_then_vpc_traffic_is_logged(template):
    template.resource_count_is("AWS::EC2::FlowLog", 1)
    template.has_resource_properties("AWS::EC2::FlowLog", {"TrafficType": "ALL"})


def test_given_create_nat_when_network_is_built_then_lab_subnets_egress_through_one_nat_gateway():
    from cdk_app.network_construct import Network
    from cdk_app.settings import Settings

    stack = Stack(App(), "NatNetwork")
    Network(stack, "Network", settings=Settings(create_nat=True))
    from aws_cdk.assertions import Template

    template = Template.from_stack(stack).to_json()
    assert len(of_type(template, "AWS::EC2::NatGateway")) == 1
    private = [
        s["Properties"]
        for s in of_type(template, "AWS::EC2::Subnet").values()
        if s["Properties"]["MapPublicIpOnLaunch"] is False
    ]
    assert len(private) == 2
    lab_group = next(
        g["Properties"]
        for g in of_type(template, "AWS::EC2::SecurityGroup").values()
        if g["Properties"]["GroupDescription"].startswith("ADS lab VMs")
    )
    egress_ports = {rule["FromPort"] for rule in lab_group["SecurityGroupEgress"]}
    assert egress_ports == {80, 443}


def _looked_up_vpc_context(vpc_id: str, subnets: dict[str, str]) -> dict:
    """What `cdk synth` caches in cdk.context.json after looking the VPC up."""
    key = (
        f"vpc-provider:account=123456789012:filter.vpc-id={vpc_id}:region=eu-west-1"
        ":returnAsymmetricSubnets=true"
    )
    return {
        key: {
            "vpcId": vpc_id,
            "vpcCidrBlock": "172.31.0.0/16",
            "ownerAccountId": "123456789012",
            "availabilityZones": [],
            "subnetGroups": [
                {
                    "name": "Private",
                    "type": "Private",
                    "subnets": [
                        {
                            "subnetId": subnet_id,
                            "cidr": f"172.31.{index}.0/24",
                            "availabilityZone": zone,
                            "routeTableId": f"rtb-0{index}23456789abcdef0",
                        }
                        for index, (subnet_id, zone) in enumerate(subnets.items())
                    ],
                }
            ],
        }
    }


def test_given_vpc_id_and_subnet_ids_when_network_is_built_then_the_vpc_is_looked_up_and_those_subnets_are_used():
    from aws_cdk import Environment
    from aws_cdk.assertions import Template

    from cdk_app.network_construct import Network
    from cdk_app.settings import Settings

    vpc_id = "vpc-0123456789abcdef0"
    subnets = {
        "subnet-0123456789abcdef0": "eu-west-1a",
        "subnet-0fedcba9876543210": "eu-west-1b",
        "subnet-0aaaaaaaaaaaaaaa0": "eu-west-1c",
    }
    chosen = ("subnet-0123456789abcdef0", "subnet-0fedcba9876543210")
    app = App(context=_looked_up_vpc_context(vpc_id, subnets))
    stack = Stack(app, "ExistingVpc", env=Environment(account="123456789012", region="eu-west-1"))
    network = Network(stack, "Network", settings=Settings(vpc_id=vpc_id, subnet_ids=chosen))
    template = Template.from_stack(stack).to_json()
    assert not of_type(template, "AWS::EC2::VPC")
    assert not of_type(template, "AWS::EC2::VPCEndpoint")
    assert sorted(network.subnet_ids) == sorted(chosen)
    groups = of_type(template, "AWS::EC2::SecurityGroup").values()
    assert {g["Properties"]["VpcId"] for g in groups} == {vpc_id}


def test_given_vpc_id_without_an_account_when_network_is_built_then_a_context_error_explains_why():
    import pytest

    from cdk_app.network_construct import Network
    from cdk_app.settings import ContextError, Settings

    stack = Stack(App(), "AgnosticStack")
    with pytest.raises(ContextError, match=r"'vpc_id'.*concrete account and region"):
        Network(stack, "Network", settings=Settings(vpc_id="vpc-0123456789abcdef0"))
