"""Lab access in the template: the shared ALB, its listeners and groups, the per-lab
security group grants, and every grant scoped by tag (one synthesis per mode)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from cdk_app.settings import ContextError, Settings
from tests.infra.conftest import CLI_ENVIRONMENT, STACK_ID, cdk_json_context
from tests.infra.template_queries import (
    actions_of,
    ads_functions,
    of_type,
    resources_of,
    statements_of_function,
    statements_with_action,
    text,
)


def _nag_findings(report: dict[str, Any]) -> list[str]:
    # The AwsSolutions findings (the default synthesis's compliance tests run the rest).
    return [
        f"{violation['ruleName']} at {construct['constructPath']}"
        for plugin in report.get("pluginReports", [])
        if "AwsSolutions" in plugin.get("pluginName", "")
        for violation in plugin.get("violations", [])
        for construct in violation.get("violatingConstructs", [])
    ]


CERTIFICATE = "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
DOMAIN = "labs.example.org"


def _synthesize(outdir: Path, **context: Any) -> tuple[dict[str, Any], dict[str, Any], str | None]:
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from cdk_app.app import build_app

    saved = {name: os.environ.pop(name) for name in CLI_ENVIRONMENT if name in os.environ}
    error = None
    try:
        app = build_app({**cdk_json_context(), **context}, str(outdir))
        try:
            app.synth()
        except RuntimeError as exc:
            error = str(exc)
    finally:
        os.environ.update(saved)
    report_path = outdir / "validation-report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    template = json.loads((outdir / f"{STACK_ID}.template.json").read_text())
    return template, report, error


@pytest.fixture(scope="module")
def balanced(tmp_path_factory):
    return _synthesize(
        tmp_path_factory.mktemp("cdk-out-lb"),
        lab_access="load-balancer",
        lb_domain=DOMAIN,
        lb_certificate_arn=CERTIFICATE,
        lab_ingress_cidrs=["203.0.113.0/24"],
    )


@pytest.fixture(scope="module")
def public(tmp_path_factory):
    return _synthesize(tmp_path_factory.mktemp("cdk-out-public"), lab_access="public")


def _environment(template: dict[str, Any], name: str) -> dict[str, Any]:
    _, properties = ads_functions(template)[name]
    return properties["Environment"]["Variables"]


def _one(resources: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    assert len(resources) == 1, list(resources)
    ((logical_id, resource),) = resources.items()
    return logical_id, resource["Properties"]


# -- load-balancer -----------------------------------------------------------------------------


def test_given_load_balancer_access_when_synthesized_then_cdk_nag_has_nothing_left(balanced):
    _, report, _ = balanced
    assert _nag_findings(report) == []


def test_given_load_balancer_access_then_one_internet_facing_alb_in_public_subnets(balanced):
    template, _, _ = balanced
    _, alb = _one(of_type(template, "AWS::ElasticLoadBalancingV2::LoadBalancer"))
    assert alb["Scheme"] == "internet-facing"
    attributes = {a["Key"]: a["Value"] for a in alb["LoadBalancerAttributes"]}
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"
    public_subnets = {
        logical_id
        for logical_id, resource in of_type(template, "AWS::EC2::Subnet").items()
        if resource["Properties"].get("MapPublicIpOnLaunch")
    }
    assert {s["Ref"] for s in alb["Subnets"]} == public_subnets


def test_given_load_balancer_access_then_https_with_the_certificate_and_a_404_default(balanced):
    template, _, _ = balanced
    listeners = {
        r["Properties"]["Port"]: r["Properties"]
        for r in of_type(template, "AWS::ElasticLoadBalancingV2::Listener").values()
    }
    assert set(listeners) == {80, 443}
    https = listeners[443]
    assert https["Protocol"] == "HTTPS"
    assert https["Certificates"] == [{"CertificateArn": CERTIFICATE}]
    assert https["SslPolicy"].startswith("ELBSecurityPolicy-TLS13")
    (default,) = https["DefaultActions"]
    assert default["Type"] == "fixed-response"
    assert default["FixedResponseConfig"]["StatusCode"] == "404"
    (redirect,) = listeners[80]["DefaultActions"]
    assert redirect["Type"] == "redirect"
    assert redirect["RedirectConfig"]["Protocol"] == "HTTPS"
    assert redirect["RedirectConfig"]["Port"] == "443"


def test_given_ingress_cidrs_then_the_alb_admits_only_them_on_80_and_443(balanced):
    template, _, _ = balanced
    groups = of_type(template, "AWS::EC2::SecurityGroup")
    (group,) = [
        g["Properties"]
        for g in groups.values()
        if "load balancer" in g["Properties"]["GroupDescription"]
    ]
    ingress = {(rule["CidrIp"], rule["FromPort"]) for rule in group["SecurityGroupIngress"]}
    assert ingress == {("203.0.113.0/24", 80), ("203.0.113.0/24", 443)}
    # Egress reaches lab VMs inside the VPC only, never the internet.
    assert all("0.0.0.0/0" not in text(rule) for rule in group["SecurityGroupEgress"])


def test_given_load_balancer_access_then_the_steps_learn_the_listener_group_and_domain(balanced):
    template, _, _ = balanced
    listener_id = next(
        logical_id
        for logical_id, r in of_type(template, "AWS::ElasticLoadBalancingV2::Listener").items()
        if r["Properties"]["Port"] == 443
    )
    for name in ("create_vm", "init_vm", "record_status", "destroy_vm", "api"):
        variables = _environment(template, name)
        assert variables["ADS_LAB_ACCESS"] == "load-balancer"
        assert variables["ADS_LB_DOMAIN"] == DOMAIN
        assert variables["ADS_LB_LISTENER_ARN"] == {"Ref": listener_id}
        assert "ADS_LB_SECURITY_GROUP_ID" in variables and "ADS_VPC_ID" in variables


@pytest.mark.parametrize("opener", ["init_vm", "record_status"])
def test_given_load_balancer_access_then_rules_and_target_groups_are_managed_by_tag(
    balanced, opener
):
    # Initialise VM opens a lab of one VM's access, Mark Ready a lab of several VMs'.
    template, _, _ = balanced
    ready = statements_of_function(template, opener)
    (create_group,) = statements_with_action(ready, "elasticloadbalancing:CreateTargetGroup")
    assert create_group["Condition"]["Null"] == {"aws:RequestTag/ads:lab-id": "false"}
    assert "targetgroup/ads-*/*" in text(resources_of(create_group))
    (create_rule,) = statements_with_action(ready, "elasticloadbalancing:CreateRule")
    assert create_rule["Condition"]["StringEquals"] == {"aws:RequestTag/ads:managed": "true"}
    assert "Ref" in text(resources_of(create_rule))  # the listener itself, not "*"
    (register,) = statements_with_action(ready, "elasticloadbalancing:RegisterTargets")
    assert register["Condition"] == {"StringEquals": {"aws:ResourceTag/ads:managed": "true"}}
    (tag,) = statements_with_action(ready, "elasticloadbalancing:AddTags")
    assert tag["Condition"]["StringEquals"]["elasticloadbalancing:CreateAction"] == [
        "CreateTargetGroup",
        "CreateRule",
    ]
    # Opening never removes: deleting rules and target groups is Destroy VM's alone.
    assert not [
        a
        for s in ready
        for a in actions_of(s)
        if a.startswith("elasticloadbalancing:De")
        and not a.startswith("elasticloadbalancing:Describe")
    ]
    destroy = statements_of_function(template, "destroy_vm")
    for action in (
        "elasticloadbalancing:DeleteRule",
        "elasticloadbalancing:DeleteTargetGroup",
        "elasticloadbalancing:DeregisterTargets",
    ):
        (statement,) = statements_with_action(destroy, action)
        assert statement["Condition"] == {"StringEquals": {"aws:ResourceTag/ads:managed": "true"}}
        assert "*" not in [text(r) for r in resources_of(statement)]
    # Check Health reads what the lab's agent answers: it gets no load balancer right.
    for name in ("create_vm", "wait_running", "health_check", "api"):
        statements = statements_of_function(template, name)
        assert not [
            a for s in statements for a in actions_of(s) if a.startswith("elasticloadbalancing:")
        ], name


def test_given_any_mode_then_no_step_may_touch_untagged_security_groups(balanced, public):
    for template, _, _ in (balanced, public):
        # The access group's statements (a lab of several VMs' cluster group has its own:
        # tests/infra/test_cluster_grants.py).
        create = [
            s
            for s in statements_of_function(template, "create_vm")
            if "Cluster" not in s.get("Sid", "")
        ]
        (creating,) = [
            s
            for s in statements_with_action(create, "ec2:CreateSecurityGroup")
            if "security-group" in text(resources_of(s))
        ]
        assert creating["Condition"]["Null"] == {"aws:RequestTag/ads:lab-id": "false"}
        (authorize,) = statements_with_action(create, "ec2:AuthorizeSecurityGroupIngress")
        assert authorize["Condition"]["Null"] == {"aws:ResourceTag/ads:lab-id": "false"}
        (tagging,) = [
            s
            for s in statements_with_action(create, "ec2:CreateTags")
            if "security-group" in text(resources_of(s))
        ]
        assert tagging["Condition"] == {"StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"}}
        (delete,) = [
            s
            for s in statements_with_action(
                statements_of_function(template, "destroy_vm"), "ec2:DeleteSecurityGroup"
            )
            if "Cluster" not in s.get("Sid", "")
        ]
        assert delete["Condition"]["StringEquals"] == {"aws:ResourceTag/ads:managed": "true"}
        for name in ("wait_running", "init_vm", "health_check", "record_status", "api"):
            actions = {a for s in statements_of_function(template, name) for a in actions_of(s)}
            assert not actions & {
                "ec2:CreateSecurityGroup",
                "ec2:AuthorizeSecurityGroupIngress",
                "ec2:DeleteSecurityGroup",
            }, name


# -- public ------------------------------------------------------------------------------------


def test_given_public_access_when_synthesized_then_no_alb_and_cdk_nag_has_nothing_left(public):
    template, report, _ = public
    assert of_type(template, "AWS::ElasticLoadBalancingV2::LoadBalancer") == {}
    assert _nag_findings(report) == []


def test_given_public_access_then_create_vm_knows_the_public_subnets_and_cidrs(public):
    template, _, _ = public
    variables = _environment(template, "create_vm")
    assert variables["ADS_LAB_ACCESS"] == "public"
    assert variables["ADS_LAB_INGRESS_CIDRS"] == "0.0.0.0/0"
    public_subnets = {
        logical_id
        for logical_id, resource in of_type(template, "AWS::EC2::Subnet").items()
        if resource["Properties"].get("MapPublicIpOnLaunch")
    }
    listed = variables["ADS_PUBLIC_SUBNET_IDS"]
    assert {
        part["Ref"] for part in listed["Fn::Join"][1] if isinstance(part, dict)
    } == public_subnets


# -- settings ----------------------------------------------------------------------------------


def test_given_load_balancer_without_a_certificate_then_the_key_is_named():
    with pytest.raises(ContextError) as caught:
        Settings.from_mapping({"lab_access": "load-balancer", "lb_domain": DOMAIN})

    assert caught.value.key == "lb_certificate_arn"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("lab_access", "open"),
        ("lab_ingress_cidrs", ["203.0.113.0/24", "everyone"]),
        ("lb_domain", "Labs_Example"),
        ("lb_certificate_arn", "arn:aws:iam::123456789012:server-certificate/x"),
    ],
)
def test_given_a_bad_access_setting_then_the_key_and_what_is_allowed_are_named(key, value):
    with pytest.raises(ContextError) as caught:
        Settings.from_mapping({key: value})

    assert caught.value.key == key
    assert "allowed:" in str(caught.value)
