"""How long install.sh waits for the lab's health probe (healthy_wait_s), from CDK context
to init_vm (ADS_HEALTHY_WAIT_S), which passes it as --healthy-wait."""

from __future__ import annotations

import pytest

from ads.config import DEFAULT_HEALTHY_WAIT_S, MAX_HEALTHY_WAIT_S, AdsConfig
from ads.providers.ec2_bootstrap import init_script
from cdk_app.settings import ContextError, Settings
from tests.infra.conftest import cdk_json_context
from tests.infra.template_queries import ads_functions


def test_given_the_stack_when_synthesized_then_init_vm_gets_the_default_healthy_wait(synthesis):
    _, props = ads_functions(synthesis.template)["init_vm"]
    assert props["Environment"]["Variables"]["ADS_HEALTHY_WAIT_S"] == str(DEFAULT_HEALTHY_WAIT_S)
    assert cdk_json_context()["healthy_wait_s"] == DEFAULT_HEALTHY_WAIT_S


def test_given_a_cli_string_when_read_then_the_healthy_wait_is_parsed_and_zero_is_allowed():
    assert Settings.from_mapping({"healthy_wait_s": "45"}).healthy_wait_s == 45
    assert Settings.from_mapping({"healthy_wait_s": 0}).healthy_wait_s == 0


@pytest.mark.parametrize("value", [-1, MAX_HEALTHY_WAIT_S + 1, "a while"])
def test_given_a_bad_healthy_wait_when_read_then_it_is_refused_naming_the_key(value):
    with pytest.raises(ContextError) as error:
        Settings.from_mapping({"healthy_wait_s": value})
    assert "healthy_wait_s" in str(error.value)


def test_given_the_configured_wait_when_the_ec2_install_is_written_then_it_is_passed_on():
    config = AdsConfig(healthy_wait_s=12)
    script = init_script(
        prefix="/opt/ads",
        lab_id="hello-web-1",
        bundle_url="https://example.org/agent.zip",
        plan={"lab_ports": [80]},
        agent_port=config.agent_port,
        healthy_wait_s=config.healthy_wait_s,
    )
    assert "--healthy-wait 12" in script
