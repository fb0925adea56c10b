"""Deployment plans: the real specs, OS policies, arch override, sizing, cost, steps."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from ads.errors import LabspecError
from ads.lab.labspec import parse_labspec
from ads.lab.labspec_model import ACTION_NAMES
from ads.lab.plan import (
    STEP_NAMES,
    DeploymentPlan,
    PlanOptions,
    make_plan,
    plan_from_labspec_source,
)
from tests.unit.lab.specs import REAL_SPECS, TODAY, minimal_spec, real_text

UBUNTU_22_X86 = "/aws/service/canonical/ubuntu/server/22.04/stable/current/amd64/hvm/ebs-gp2/ami-id"


def plan_of(source, options=None, allowed=None, today=TODAY) -> DeploymentPlan:
    return plan_from_labspec_source(source, options or PlanOptions(), allowed, today)


def plan_problems(source, options=None, allowed=None):
    with pytest.raises(LabspecError) as caught:
        plan_of(source, options, allowed)
    return caught.value.problems


# --- the real specs ---------------------------------------------------------------------

REAL_EXPECTED = {
    "databases-and-datamining-iiith.labspec.json": ("t3.micro", 256, 15, "12.04", "i386"),
    "kdm-iitkgp.labspec.json": ("t3.micro", 256, 10, "12.04", "i386"),
    "lab-usage-tracker.labspec.json": ("t3.small", 2048, 10, "14.04", "x64"),
    "test_nitk.labspec.json": ("t3.micro", 256, 10, "12.04", "i386"),
}


def test_given_the_expectations_then_every_real_spec_is_covered():
    assert sorted(REAL_EXPECTED) == REAL_SPECS


@pytest.mark.parametrize(("name", "expected"), sorted(REAL_EXPECTED.items()))
def test_given_a_real_spec_when_planned_then_ubuntu_22_04_on_the_smallest_fitting_type(
    name, expected
):
    instance_type, requested_mib, volume, requested_version, requested_arch = expected
    plan = plan_of(real_text(name))
    assert plan.instance_type == instance_type
    assert plan.requested_memory_mib == requested_mib
    assert plan.root_volume_gib == volume
    assert (plan.os.family, plan.os.version, plan.os.lts) == ("ubuntu", "22.04", True)
    assert (plan.os.requested_family, plan.os.requested_version) == ("ubuntu", requested_version)
    assert plan.os.substituted and plan.os.policy == "nearest-lts"
    assert plan.os.eol.isoformat() == "2027-06-01"
    assert (plan.arch, plan.requested_arch) == ("x86_64", requested_arch)
    assert plan.image.ssm_parameter == UBUNTU_22_X86
    assert plan.region == "us-east-1"
    assert plan.price_source == "bundled on-demand price table of 2026-11-01"
    assert any("reached end of life" in w and "Ubuntu 22.04 LTS" in w for w in plan.warnings)


def test_given_a_2gb_lab_when_planned_then_t3_small_at_its_hourly_price():
    plan = plan_of(real_text("lab-usage-tracker.labspec.json"))
    assert (plan.instance_type, plan.memory_mib, plan.vcpus) == ("t3.small", 2048, 2)
    assert plan.hourly_cost_usd == 0.0208
    assert plan.fallback_instance_types == ["t3.medium", "t3.large"]


def test_given_a_256mb_lab_when_planned_then_t3_micro_at_its_hourly_price():
    plan = plan_of(real_text("kdm-iitkgp.labspec.json"))
    assert (plan.instance_type, plan.memory_mib, plan.hourly_cost_usd) == ("t3.micro", 1024, 0.0104)


def test_given_an_ubuntu_12_lab_when_planned_then_the_substitution_is_in_the_warnings():
    plan = plan_of(real_text("databases-and-datamining-iiith.labspec.json"))
    assert plan.warnings[0] == (
        "Ubuntu 12.04 reached end of life on 2017-04-28; planned on Ubuntu 22.04 LTS instead "
        "(OS policy nearest-lts)"
    )


def test_given_an_i386_lab_when_planned_then_x86_64_is_used_and_noted():
    plan = plan_of(real_text("test_nitk.labspec.json"))
    assert plan.arch == "x86_64"
    assert "32-bit architecture i386 is not offered; planned on x86_64" in plan.warnings


def test_given_an_x64_lab_when_planned_then_no_architecture_warning_is_given():
    plan = plan_of(real_text("lab-usage-tracker.labspec.json"))
    assert not any("architecture" in w for w in plan.warnings)


def test_given_the_kdm_spec_when_planned_then_steps_follow_the_deploy_order_with_commands():
    plan = plan_of(real_text("kdm-iitkgp.labspec.json"))
    assert [s.name for s in plan.steps] == list(STEP_NAMES)
    assert [s.name for s in plan.steps] == [
        "build_installer",
        "configure",
        "pre_build",
        "build",
        "post_build",
        "status",
        "runtime_installer",
        "init",
        "start",
    ]
    commands = {s.name: s.commands for s in plan.steps}
    assert commands["build"] == ["make -C ../src"]
    assert commands["runtime_installer"] == [
        "sudo apt-get update",
        "sudo apt-get install -y php5 apache2",
    ]
    assert commands["init"][0] == "mv /var/www/index.html index.html.default"
    assert commands["start"] == ["service apache2 start"]
    assert commands["configure"] == []
    assert plan.actions["shutdown"] == ["service apache2 stop"]
    assert set(plan.actions) == set(ACTION_NAMES)


@pytest.mark.parametrize("name", REAL_SPECS)
def test_given_a_real_spec_plan_when_dumped_to_json_then_it_round_trips(name):
    plan = plan_of(real_text(name))
    dumped = plan.model_dump(mode="json")
    assert DeploymentPlan.model_validate(dumped) == plan
    assert DeploymentPlan.model_validate(json.loads(json.dumps(dumped))) == plan
    for key in (
        "os",
        "arch",
        "image",
        "instance_type",
        "memory_mib",
        "root_volume_gib",
        "hourly_cost_usd",
        "steps",
        "warnings",
        "actions",
        "health_probe",
    ):
        assert key in dumped
    assert dumped["os"]["eol"] == "2027-06-01"
    assert dumped["health_probe"] is None


def test_given_a_plan_dump_with_steps_out_of_order_when_validated_then_it_is_rejected():
    dumped = plan_of(minimal_spec()).model_dump(mode="json")
    dumped["steps"] = list(reversed(dumped["steps"]))
    with pytest.raises(ValidationError):
        DeploymentPlan.model_validate(dumped)


# --- policies and options -----------------------------------------------------------------


def test_given_ubuntu_12_when_planned_exact_then_it_is_refused_with_the_osversion_path():
    (problem,) = plan_problems(real_text("kdm-iitkgp.labspec.json"), PlanOptions(os_policy="exact"))
    assert problem.path == "lab.runtime_requirements.platform.osVersion"
    assert "end of life on 2017-04-28" in problem.found


def test_given_ubuntu_12_when_planned_same_major_then_it_is_refused():
    problems = plan_problems(
        real_text("kdm-iitkgp.labspec.json"), PlanOptions(os_policy="same-major")
    )
    assert problems[0].path.endswith("osVersion")


def test_given_ubuntu_24_04_when_planned_exact_then_it_is_kept_on_its_gp3_parameter():
    plan = plan_of(minimal_spec(osVersion="24.04"), PlanOptions(os_policy="exact"))
    assert (plan.os.version, plan.os.substituted, plan.os.policy) == ("24.04", False, "exact")
    assert plan.image.ssm_parameter.endswith("/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id")


def test_given_an_arm64_override_when_planned_then_a_t4g_type_and_the_arm64_image_are_used():
    plan = plan_of(real_text("lab-usage-tracker.labspec.json"), PlanOptions(arch="arm64"))
    assert (plan.arch, plan.requested_arch) == ("arm64", "x64")
    assert (plan.instance_type, plan.hourly_cost_usd) == ("t4g.small", 0.0168)
    assert "/arm64/" in plan.image.ssm_parameter
    assert any("arm64 chosen by the request" in w for w in plan.warnings)


def test_given_an_aarch64_labspec_when_planned_then_arm64_types_are_used_without_an_override():
    plan = plan_of(minimal_spec(arch="aarch64", memory={"min_required": "4 GB"}))
    assert (plan.arch, plan.instance_type) == ("arm64", "t4g.medium")


def test_given_an_amazon_linux_lab_on_arm_when_planned_then_the_al2023_arm_parameter_is_used():
    plan = plan_of(minimal_spec(os="Amazon Linux", osVersion="2023", arch="arm64"))
    assert plan.os.family == "amazonlinux"
    assert (
        plan.image.ssm_parameter
        == "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
    )


def test_given_a_debian_lab_when_planned_then_the_debian_parameter_is_used():
    plan = plan_of(minimal_spec(os="debian", osVersion="12"))
    assert plan.image.ssm_parameter == "/aws/service/debian/release/12/latest/amd64"


@pytest.mark.parametrize("family", ["centos", "windows"])
def test_given_an_unsupported_family_when_planned_then_it_is_refused_listing_what_is_supported(
    family,
):
    (problem,) = plan_problems(minimal_spec(os=family, osVersion="6.5"))
    assert problem.path == "lab.runtime_requirements.platform.os"
    assert "ubuntu 22.04, 24.04; debian 12, 13; amazonlinux 2023" in problem.allowed


def test_given_several_planning_problems_when_planned_then_all_are_reported_together():
    problems = plan_problems(minimal_spec(os="windows", memory={"min_required": "64gb"}))
    assert [p.path for p in problems] == [
        "lab.runtime_requirements.platform.os",
        "lab.runtime_requirements.platform.memory.min_required",
    ]


def test_given_a_region_outside_the_price_table_when_planned_then_cost_is_null_with_a_warning():
    plan = plan_of(minimal_spec(), PlanOptions(region="eu-central-1"))
    assert plan.hourly_cost_usd is None and plan.region == "eu-central-1"
    assert any("region eu-central-1 is not in the bundled" in w for w in plan.warnings)


def test_given_us_west_2_when_planned_then_its_price_is_used():
    assert plan_of(minimal_spec(), PlanOptions(region="us-west-2")).hourly_cost_usd == 0.0104


@pytest.mark.parametrize(
    ("field", "value"), [("arch", "sparc"), ("region", "mars-1"), ("os_policy", "newest")]
)
def test_given_an_unusable_option_when_options_are_made_then_validation_fails(field, value):
    with pytest.raises(ValidationError):
        PlanOptions(**{field: value})


def test_given_an_arch_alias_option_then_it_is_normalised():
    assert PlanOptions(arch="aarch64").arch == "arm64"
    assert PlanOptions(arch="amd64").arch == "x86_64"


def test_given_a_configured_allowed_list_when_planned_then_sizing_uses_it():
    plan = plan_of(minimal_spec(), allowed=["t3.medium", "t3.large"])
    assert plan.instance_type == "t3.medium"
    assert plan.fallback_instance_types == ["t3.large"]


# --- sizing details and the health probe -------------------------------------------------


def test_given_null_memory_when_planned_then_the_smallest_type_is_used_with_a_warning():
    plan = plan_of(minimal_spec(memory=None))
    assert (plan.instance_type, plan.requested_memory_mib) == ("t3.micro", None)
    assert any("no memory.min_required" in w for w in plan.warnings)


def test_given_storage_below_8gb_when_planned_then_8_gib_with_a_warning():
    plan = plan_of(minimal_spec(storage={"min_required": "1gb"}))
    assert plan.root_volume_gib == 8
    assert any("8 GiB minimum root volume" in w for w in plan.warnings)


def test_given_a_health_probe_extension_when_planned_then_it_is_in_the_plan():
    plan = plan_of(minimal_spec(health_probe={"path": "/health", "expect_status": 204}))
    assert plan.model_dump(mode="json")["health_probe"] == {
        "path": "/health",
        "port": None,
        "expect_status": 204,
        "timeout_s": 3.0,
    }


def test_given_a_labspec_warning_when_planned_then_it_is_carried_into_the_plan():
    spec = parse_labspec(minimal_spec(memory={"min_required": "2gb", "max_required": "1gb"}))
    plan = make_plan(spec, PlanOptions(), today=TODAY)
    assert spec.warnings[0] in plan.warnings


def test_given_no_options_or_today_when_planned_then_defaults_apply():
    plan = make_plan(parse_labspec(minimal_spec()))
    assert (plan.os.policy, plan.region, plan.lab_slug) == ("nearest-lts", "us-east-1", "small-lab")
