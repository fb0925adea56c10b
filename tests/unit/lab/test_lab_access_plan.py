"""Lab access in the plan and the record: the labspec's `ports` (tolerant) and the mode."""

from __future__ import annotations

import pytest

from ads.config import AdsConfig
from ads.deployments import request_plan
from ads.errors import ConfigError, LabspecError
from ads.lab.labspec import parse_labspec
from ads.lab.plan import DeploymentPlan, PlanOptions, make_plan
from ads.lab_record import LabRecord
from tests.unit.lab.specs import TODAY, minimal_spec, real_spec

PORTS = "lab.runtime_requirements.platform.ports"


@pytest.mark.parametrize(
    ("written", "ports"),
    [
        (8080, (8080,)),
        ("8080", (8080,)),
        ("80, 8080", (80, 8080)),
        ([80, "8080", 80], (80, 8080)),
        (["80 443"], (80, 443)),
        ([], (80,)),
        (None, (80,)),
    ],
)
def test_given_ports_written_any_usual_way_when_parsed_then_a_clean_list(written, ports):
    spec = parse_labspec(minimal_spec(ports=written))

    assert spec.runtime.ports == ports


def test_given_a_real_spec_without_ports_when_parsed_then_port_80_like_apache():
    spec = parse_labspec(real_spec("kdm-iitkgp.labspec.json"))

    assert spec.runtime.ports == (80,)


@pytest.mark.parametrize(
    ("written", "path", "found"),
    [
        (0, PORTS, "0"),
        (70000, PORTS, "70000"),
        ("http", PORTS, "'http'"),
        (True, PORTS, "true"),
        ({"web": 80}, PORTS, "an object"),
        ([80, 70000], f"{PORTS}[1]", "70000"),
        ([80, "80,x"], f"{PORTS}[1]", "'80,x'"),
    ],
)
def test_given_an_unusable_port_when_parsed_then_the_problem_names_the_item(written, path, found):
    with pytest.raises(LabspecError) as caught:
        parse_labspec(minimal_spec(ports=written))

    problem = next(p for p in caught.value.problems if p.path.startswith(PORTS))
    assert (problem.path, problem.found) == (path, found)
    assert "1 to 65535" in problem.allowed


def test_given_a_mode_and_ports_when_planned_then_the_plan_carries_both():
    plan = make_plan(
        parse_labspec(minimal_spec(ports=[8080, 8443])),
        PlanOptions(access="load-balancer"),
        today=TODAY,
    )

    assert plan.access == "load-balancer"
    assert plan.lab_ports == [8080, 8443]
    again = DeploymentPlan.model_validate(plan.model_dump(mode="json"))
    assert (again.access, again.lab_ports) == ("load-balancer", [8080, 8443])


def test_given_no_mode_when_planned_then_the_lab_is_private():
    plan = make_plan(parse_labspec(minimal_spec()), today=TODAY)

    assert plan.access == "private"
    assert plan.lab_ports == [80]


def test_given_the_configured_mode_when_the_api_plans_then_the_mode_is_the_configurations():
    config = AdsConfig(lab_access="public")

    plan = request_plan(minimal_spec(ports="8000"), None, config)

    assert plan["access"] == "public"
    assert plan["lab_ports"] == [8000]


def test_given_a_plan_when_a_record_is_built_then_access_and_ports_come_from_the_plan():
    plan = {"access": "public", "lab_ports": [8080]}

    record = LabRecord(lab_id="x", owner="o", created_at="t", updated_at="t", plan=plan)

    assert (record.access, record.lab_ports) == ("public", [8080])
    assert record.public_view()["access"] == "public"


def test_given_an_unknown_mode_when_configured_then_the_variable_and_choices_are_named():
    with pytest.raises(ConfigError) as caught:
        AdsConfig.from_env({"ADS_LAB_ACCESS": "open"})

    assert "ADS_LAB_ACCESS: found 'open'; allowed: 'private', 'public' or 'load-balancer'" in (
        caught.value.message
    )


def test_given_a_host_address_as_cidr_when_configured_then_it_is_refused():
    with pytest.raises(ConfigError) as caught:
        AdsConfig.from_env({"ADS_LAB_INGRESS_CIDRS": "203.0.113.0/24,10.0.0.1/8"})

    assert "ADS_LAB_INGRESS_CIDRS" in caught.value.message
    assert "10.0.0.1/8" in caught.value.message
