"""A lab network without egress: the planner refuses labs that need the internet, in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ads.api_models import LabSource
from ads.config import AdsConfig
from ads.deployments import request_plan, source_problems
from ads.errors import LabspecError
from ads.lab.egress import needs_internet
from ads.lab.labspec import parse_labspec
from ads.lab.plan import PlanOptions, make_plan
from tests.unit.lab.specs import TODAY, minimal_spec, real_spec

EVENTS = Path(__file__).resolve().parents[3] / "events"
NO_EGRESS = PlanOptions(network_egress="none")


def _hello_web_labspec() -> dict:
    event = json.loads((EVENTS / "ci" / "lab_deployment_requested.json").read_text())
    return event["detail"]["labspec"]


@pytest.mark.parametrize(
    "command",
    [
        "apt-get update",
        "sudo apt-get install -y php5 apache2",
        "apt-get -y install nginx",
        "add-apt-repository ppa:ansible/ansible",
        "yum install -y httpd",
        "dnf -y install git",
        "pip install flask-testing flask flask-cors",
        "python3 -m pip install -r requirements.txt",
        "cd app && npm install",
        "npm ci --omit=dev",
        "git clone https://github.com/virtual-labs/ph3-lab-mgmt.git",
        "curl -fsSL https://deb.nodesource.com/setup_18.x | bash -",
        "wget http://mirror.example.org/lab.tar.gz",
        "gem install bundler",
        "go get github.com/example/tool",
    ],
)
def test_given_a_command_that_fetches_from_the_internet_when_checked_then_it_needs_egress(command):
    assert needs_internet(command)


@pytest.mark.parametrize(
    "command",
    [
        "make -C ../src",
        "cp -r ../build/* /var/www/",
        "service apache2 start",
        "curl -fsS http://localhost/ >/dev/null",
        "wget -q -O- http://127.0.0.1:8080/health",
        "python3 -m http.server 8080 --directory ../build",
        "git log -1",
        "mkdir -p ../build",
    ],
)
def test_given_a_command_that_stays_on_the_vm_when_checked_then_it_needs_no_egress(command):
    assert not needs_internet(command)


def test_given_no_egress_when_a_real_apt_lab_is_planned_then_it_is_refused_naming_the_command():
    spec = parse_labspec(real_spec("kdm-iitkgp.labspec.json"))

    with pytest.raises(LabspecError) as error:
        make_plan(spec, NO_EGRESS, today=TODAY)

    message = error.value.message
    assert "\n" not in message
    assert "apt-get" in message and "network_egress" in message
    paths = [problem.path for problem in error.value.problems]
    assert "lab.runtime_requirements.platform.installer[0]" in paths
    assert all(
        problem.allowed.startswith("commands that need no internet")
        for problem in error.value.problems
    )


def test_given_the_default_nat_egress_when_the_same_lab_is_planned_then_it_is_accepted():
    spec = parse_labspec(real_spec("kdm-iitkgp.labspec.json"))

    plan = make_plan(spec, PlanOptions(), today=TODAY)

    assert plan.network_egress == "nat"


def test_given_no_egress_when_a_lab_that_installs_nothing_is_planned_then_it_is_accepted_and_says_so():
    spec = parse_labspec(_hello_web_labspec())

    plan = make_plan(spec, NO_EGRESS, today=TODAY)

    assert plan.network_egress == "none"
    assert plan.model_dump(mode="json")["network_egress"] == "none"


def test_given_no_egress_when_a_build_step_clones_a_repository_then_the_problem_points_at_that_step():
    spec = minimal_spec(installer=[])
    spec["lab"]["build_requirements"]["platform"]["build_steps"] = {
        "pre_build": ["mkdir -p ../src", "git clone https://github.com/example/lab ../src"]
    }

    with pytest.raises(LabspecError) as error:
        make_plan(parse_labspec(spec), NO_EGRESS, today=TODAY)

    [problem] = error.value.problems
    assert problem.path == "lab.build_requirements.platform.build_steps.pre_build[1]"


def test_given_ads_network_egress_none_when_the_api_plans_then_the_configuration_decides():
    config = AdsConfig.from_env({"ADS_NETWORK_EGRESS": "none"})

    with pytest.raises(LabspecError, match=r"installer\[0\].*apt-get update"):
        request_plan(minimal_spec(), None, config)
    assert request_plan(minimal_spec(), None, AdsConfig())["network_egress"] == "nat"


def test_given_no_egress_when_the_source_is_a_git_url_then_it_is_refused_and_s3_is_offered():
    config = AdsConfig(network_egress="none")

    [problem] = source_problems(LabSource(git="https://github.com/example/lab.git"), config)
    accepted = source_problems(LabSource(s3="s3://lab-sources/hello-web.tar.gz"), config)

    assert problem.path == "source.git"
    assert problem.allowed.startswith("an s3:// source")
    assert accepted == []
    assert source_problems(LabSource(git="https://github.com/example/lab.git"), AdsConfig()) == []


def test_given_ads_network_egress_none_when_ads_plan_runs_then_an_apt_lab_is_refused_in_one_line(
    capsys, monkeypatch
):
    from ads.cli.main import main
    from ads.config import reset_config
    from tests.unit.lab.specs import FIXTURES

    monkeypatch.setenv("ADS_NETWORK_EGRESS", "none")
    reset_config()
    try:
        code = main(["plan", str(FIXTURES / "kdm-iitkgp.labspec.json")])
    finally:
        monkeypatch.delenv("ADS_NETWORK_EGRESS")
        reset_config()

    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "apt-get" in err and "network_egress" in err
