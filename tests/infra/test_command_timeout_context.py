"""The default command timeout from CDK context (command_timeout_s) to init_vm, which
hands it to the agent (ADS_COMMAND_TIMEOUT_S)."""

from __future__ import annotations

import pytest

from ads.config import DEFAULT_COMMAND_TIMEOUT_S, MAX_COMMAND_TIMEOUT_S
from cdk_app.settings import ContextError, Settings
from tests.infra.conftest import cdk_json_context
from tests.infra.template_queries import ads_functions


def test_given_the_stack_when_synthesized_then_init_vm_gets_the_default_command_timeout(synthesis):
    _, props = ads_functions(synthesis.template)["init_vm"]
    variables = props["Environment"]["Variables"]
    assert variables["ADS_COMMAND_TIMEOUT_S"] == str(DEFAULT_COMMAND_TIMEOUT_S)


def test_given_cdk_json_when_read_then_it_names_the_default_command_timeout():
    assert cdk_json_context()["command_timeout_s"] == DEFAULT_COMMAND_TIMEOUT_S


def test_given_a_cli_string_when_read_then_the_command_timeout_is_parsed():
    assert Settings.from_mapping({"command_timeout_s": "90"}).command_timeout_s == 90


@pytest.mark.parametrize("value", [0, MAX_COMMAND_TIMEOUT_S + 1, "an hour"])
def test_given_a_bad_command_timeout_when_read_then_it_is_refused_naming_the_key(value):
    with pytest.raises(ContextError) as error:
        Settings.from_mapping({"command_timeout_s": value})
    assert "command_timeout_s" in str(error.value)
