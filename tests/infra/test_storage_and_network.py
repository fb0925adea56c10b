"""The labs table and the network the lab VMs live in."""

from __future__ import annotations

from aws_cdk import App, Stack
from aws_cdk.assertions import Match

from ads.labs_table import table_schema
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


def test_given_default_context_when_synthesized_then_only_the_agent_callers_run_in_the_vpc(
    synthesis,
):
    in_vpc = {
        name
        for name, (_, props) in ads_functions(synthesis.template).items()
        if "VpcConfig" in props
    }
    # Only the functions that call a lab's agent on its private ip: Check Health,
    # power_vm's wait for a restarted agent, the health watch, and redeploy_vm's health
    # check after an update. Every other function stays out of the VPC.
    assert in_vpc == {"health_check", "power_vm", "watch_labs", "redeploy_vm"}


def _lab_subnet_ids(template):
    return {
        logical_id
        for logical_id, subnet in of_type(template, "AWS::EC2::Subnet").items()
        if {"Key": "aws-cdk:subnet-name", "Value": "Labs"} in subnet["Properties"]["Tags"]
    }


def _default_routes(template, subnet_ids):
    tables = {
        a["Properties"]["RouteTableId"]["Ref"]
        for a in of_type(template, "AWS::EC2::SubnetRouteTableAssociation").values()
        if a["Properties"]["SubnetId"]["Ref"] in subnet_ids
    }
    return [
        r["Properties"]
        for r in of_type(template, "AWS::EC2::Route").values()
        if r["Properties"]["RouteTableId"]["Ref"] in tables
        and r["Properties"].get("DestinationCidrBlock") == "0.0.0.0/0"
    ]


def _lab_group(template):
    return next(
        g["Properties"]
        for g in of_type(template, "AWS::EC2::SecurityGroup").values()
        if g["Properties"]["GroupDescription"].startswith("ADS lab VMs")
    )


def _endpoints(template, kind):
    return {
        text(e["Properties"]["ServiceName"]).rsplit(".", 1)[-1].strip('"]} '): e["Properties"]
        for e in of_type(template, "AWS::EC2::VPCEndpoint").values()
        if e["Properties"]["VpcEndpointType"] == kind
    }


def test_given_default_context_when_synthesized_then_lab_subnets_egress_through_one_nat_gateway(
    synthesis,
):
    template = synthesis.template
    (nat_id,) = of_type(template, "AWS::EC2::NatGateway")
    labs = _lab_subnet_ids(template)
    assert len(labs) == 2
    assert all(template["Resources"][s]["Properties"]["MapPublicIpOnLaunch"] is False for s in labs)
    routes = _default_routes(template, labs)
    assert len(routes) == 2 and all(r["NatGatewayId"] == {"Ref": nat_id} for r in routes)
    # Lab VMs launch into exactly these private subnets.
    _, create_vm = ads_functions(template)["create_vm"]
    launched = text(create_vm["Environment"]["Variables"]["ADS_SUBNET_IDS"])
    assert all(f'"Ref": "{s}"' in launched for s in labs)
    assert create_vm["Environment"]["Variables"]["ADS_NETWORK_EGRESS"] == "nat"
    egress_ports = {rule["FromPort"] for rule in _lab_group(template)["SecurityGroupEgress"]}
    assert egress_ports == {80, 443}


def test_given_default_context_when_synthesized_then_only_free_gateway_endpoints_are_added(
    synthesis,
):
    # SSM is reached through the NAT; hourly-billed interface endpoints would double the cost.
    assert _endpoints(synthesis.template, "Interface") == {}
    assert set(_endpoints(synthesis.template, "Gateway")) == {"s3", "dynamodb"}


def _network_template(**settings):
    from aws_cdk.assertions import Template

    from cdk_app.network_construct import Network
    from cdk_app.settings import Settings

    stack = Stack(App(), "NetworkProbe")
    network = Network(stack, "Network", settings=Settings(**settings))
    return network, Template.from_stack(stack).to_json()


def test_given_network_egress_none_when_network_is_built_then_lab_subnets_are_isolated_with_ssm_and_s3_endpoints_only():
    network, template = _network_template(network_egress="none")

    assert not of_type(template, "AWS::EC2::NatGateway")
    assert not of_type(template, "AWS::EC2::InternetGateway")
    labs = _lab_subnet_ids(template)
    assert len(labs) == 2 and len(of_type(template, "AWS::EC2::Subnet")) == 2
    assert _default_routes(template, labs) == []
    interface = _endpoints(template, "Interface")
    assert set(interface) == {"ssm", "ssmmessages", "ec2messages"}
    for endpoint in interface.values():
        assert endpoint["PrivateDnsEnabled"] is True
        # One AZ serves the VPC: each interface endpoint is billed per AZ.
        assert len(endpoint["SubnetIds"]) == 1
    assert set(_endpoints(template, "Gateway")) == {"s3", "dynamodb"}
    assert {rule["FromPort"] for rule in _lab_group(template)["SecurityGroupEgress"]} == {443}
    assert network.egress == "none" and network.public_subnets is None


def test_given_network_egress_nat_when_network_is_built_then_its_public_subnets_are_exposed():
    network, template = _network_template(network_egress="nat")

    public = {
        logical_id
        for logical_id, subnet in of_type(template, "AWS::EC2::Subnet").items()
        if subnet["Properties"]["MapPublicIpOnLaunch"] is True
    }
    assert len(public) == 2
    assert network.public_subnets is not None
    assert len(network.subnet_ids_of(network.public_subnets)) == 2
    assert len(network.subnet_ids) == 2


def test_given_default_context_when_synthesized_then_vpc_traffic_is_logged(template):
    template.resource_count_is("AWS::EC2::FlowLog", 1)
    template.has_resource_properties("AWS::EC2::FlowLog", {"TrafficType": "ALL"})


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
