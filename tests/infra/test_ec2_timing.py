"""The init budget and the EC2 launch grace: one configured number each, from CDK context
to the Lambdas that use them (the ASL's retries are tested to outlast their maximum in
tests/workflow/test_state_machine_definitions.py)."""

from __future__ import annotations

import re

import pytest

from ads.config import (
    DEFAULT_INIT_TIMEOUT_S,
    DEFAULT_LAUNCH_GRACE_S,
    MAX_INIT_TIMEOUT_S,
    MAX_LAUNCH_GRACE_S,
)
from cdk_app.settings import ContextError, Settings
from tests.infra.conftest import PROJECT_ROOT, cdk_json_context
from tests.infra.template_queries import ads_functions


def _variables(synthesis, name: str) -> dict[str, str]:
    _, props = ads_functions(synthesis.template)[name]
    return props["Environment"]["Variables"]


def test_given_the_stack_when_synthesized_then_init_vm_gets_the_init_budget(synthesis):
    assert _variables(synthesis, "init_vm")["ADS_INIT_TIMEOUT_S"] == str(DEFAULT_INIT_TIMEOUT_S)


@pytest.mark.parametrize("name", ["wait_running", "destroy_vm"])
def test_given_the_stack_when_synthesized_then_the_steps_reading_absent_vms_get_the_launch_grace(
    synthesis, name
):
    assert _variables(synthesis, name)["ADS_LAUNCH_GRACE_S"] == str(DEFAULT_LAUNCH_GRACE_S)


def test_given_cdk_json_when_read_then_it_names_both_numbers_with_their_defaults():
    context = cdk_json_context()
    assert context["init_timeout_s"] == DEFAULT_INIT_TIMEOUT_S
    assert context["launch_grace_s"] == DEFAULT_LAUNCH_GRACE_S


def test_given_cli_strings_when_read_then_the_numbers_are_parsed():
    settings = Settings.from_mapping({"init_timeout_s": "900", "launch_grace_s": "60"})
    assert (settings.init_timeout_s, settings.launch_grace_s) == (900, 60)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("init_timeout_s", MAX_INIT_TIMEOUT_S + 1),
        ("init_timeout_s", "30"),
        ("init_timeout_s", "half an hour"),
        ("launch_grace_s", MAX_LAUNCH_GRACE_S + 1),
        ("launch_grace_s", -1),
    ],
)
def test_given_a_number_the_workflow_cannot_outlast_when_read_then_it_is_refused_with_the_range(
    key, value
):
    with pytest.raises(ContextError) as error:
        Settings.from_mapping({key: value})
    assert error.value.key == key
    assert "a whole number of seconds from" in str(error.value)


def test_given_the_configuration_page_when_read_then_it_states_the_same_init_budget_and_grace():
    readme = (PROJECT_ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    init = re.search(r"[^\n]*`ADS_INIT_TIMEOUT_S`[^\n]*", readme)
    grace = re.search(r"[^\n]*`ADS_LAUNCH_GRACE_S`[^\n]*", readme)
    assert init and str(DEFAULT_INIT_TIMEOUT_S) in init.group(0)
    assert str(MAX_INIT_TIMEOUT_S) in init.group(0)
    assert grace and str(DEFAULT_LAUNCH_GRACE_S) in grace.group(0)
    assert str(MAX_LAUNCH_GRACE_S) in grace.group(0)
