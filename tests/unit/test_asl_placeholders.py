"""One list of ASL placeholders and one pattern, for CDK and the local plane alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ads.asl_placeholders import (
    PARTITION_PLACEHOLDER,
    STATE_MACHINE_PLACEHOLDERS,
    STEP_FUNCTION_PLACEHOLDERS,
    fill_placeholders,
    placeholders_of,
)

STATEMACHINE_DIR = Path(__file__).resolve().parents[2] / "statemachine"
ASL_FILES = sorted(STATEMACHINE_DIR.glob("*.asl.json"))


def test_given_the_statemachine_folder_when_listed_then_both_workflows_are_there():
    assert {p.name for p in ASL_FILES} >= {"deploy_lab.asl.json", "destroy_lab.asl.json"}


@pytest.mark.parametrize("asl", ASL_FILES, ids=lambda p: p.name)
def test_given_an_asl_file_when_read_then_it_names_only_known_placeholders(asl):
    used = placeholders_of(asl.read_text())

    assert used, f"{asl.name} names no placeholder"
    known = {
        *STEP_FUNCTION_PLACEHOLDERS.values(),
        *STATE_MACHINE_PLACEHOLDERS.values(),
        PARTITION_PLACEHOLDER,
    }
    assert used <= known


def test_given_the_cdk_workflow_and_the_local_dispatcher_when_imported_then_they_share_one_table():
    from ads.local.lambda_dispatch import WORKFLOW_FUNCTIONS
    from cdk_app import workflow_construct

    assert workflow_construct.PLACEHOLDERS is STEP_FUNCTION_PLACEHOLDERS
    assert WORKFLOW_FUNCTIONS is STEP_FUNCTION_PLACEHOLDERS
    assert workflow_construct.PARTITION_PLACEHOLDER == PARTITION_PLACEHOLDER


@pytest.mark.parametrize("asl", ASL_FILES, ids=lambda p: p.name)
def test_given_cdks_partition_placeholders_when_generated_then_the_shared_pattern_finds_them(asl):
    from cdk_app.asl_state_machine import partition_aware

    text, arns = partition_aware(asl.read_text())

    assert arns
    assert set(arns) <= placeholders_of(text)


@pytest.mark.parametrize("asl", ASL_FILES, ids=lambda p: p.name)
def test_given_an_asl_file_when_the_local_plane_renders_it_then_no_placeholder_is_left(asl):
    from ads.local.runtime import render_definition

    arns = {
        name: f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
        for name in STEP_FUNCTION_PLACEHOLDERS.values()
    }
    for name in STATE_MACHINE_PLACEHOLDERS.values():
        arns[name] = f"arn:aws:states:us-east-1:123456789012:stateMachine:{name}"

    rendered = render_definition(asl, arns)

    assert "${" not in rendered
    json.loads(rendered)


def test_given_a_placeholder_with_an_underscore_when_filled_then_it_is_filled_as_cdk_fills_it():
    assert fill_placeholders('"${Lab_Arn}"', {"Lab_Arn": "arn:x"}) == '"arn:x"'


def test_given_a_placeholder_without_a_value_when_filled_then_it_is_refused_by_name():
    with pytest.raises(ValueError, match=r"deploy\.json: no value for placeholder\(s\) B, C"):
        fill_placeholders("${A} ${C} ${B}", {"A": "1"}, source="deploy.json")
