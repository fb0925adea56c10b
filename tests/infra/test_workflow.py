"""The state machines: the ASL files with their placeholders substituted, logged and traced."""

from __future__ import annotations

import json

import pytest

from cdk_app.workflow_construct import (
    DEPLOY_ASL,
    DEPLOY_STEPS,
    DESTROY_ASL,
    DESTROY_STEPS,
    PARTITION_PLACEHOLDER,
    PLACEHOLDERS,
    partition_aware,
    placeholders_in,
    substitution_names,
)
from tests.infra.template_queries import (
    actions_of,
    ads_functions,
    of_type,
    resources_of,
    statements_of_role,
)

MACHINES = {
    "ads-deploy-lab": (DEPLOY_ASL, DEPLOY_STEPS),
    "ads-destroy-lab": (DESTROY_ASL, DESTROY_STEPS),
}


def _machines(synthesis):
    return {
        m["Properties"]["StateMachineName"]: (logical_id, m["Properties"])
        for logical_id, m in of_type(synthesis.template, "AWS::StepFunctions::StateMachine").items()
    }


@pytest.mark.parametrize(
    ("asl", "steps"), [(DEPLOY_ASL, DEPLOY_STEPS), (DESTROY_ASL, DESTROY_STEPS)]
)
def test_given_an_asl_file_when_compared_with_the_substitutions_then_every_placeholder_has_one_and_every_substitution_is_used(
    asl, steps
):
    assert asl.is_file(), f"{asl.name} is missing"
    # ${Partition} is the stack's partition, bound by the construct (not a step).
    assert placeholders_in(asl) - {PARTITION_PLACEHOLDER} == substitution_names(steps)


def test_given_the_placeholder_table_when_read_then_it_names_each_workflow_step_once():
    # power_vm is PowerLab's own step (cdk_app/power_construct.py, tests/infra/test_power.py),
    # run_action ActionLab's (cdk_app/action_construct.py, tests/infra/test_actions.py),
    # redeploy_vm RedeployLab's (cdk_app/redeploy_construct.py, tests/infra/test_redeploy.py),
    # record_cohort DeployCohort's (cdk_app/cohort_construct.py, tests/infra/test_cohorts.py).
    assert set(PLACEHOLDERS) == {
        *DEPLOY_STEPS,
        "power_vm",
        "run_action",
        "redeploy_vm",
        "record_cohort",
    }
    assert set(DEPLOY_STEPS) >= set(DESTROY_STEPS)
    assert len(set(PLACEHOLDERS.values())) == len(PLACEHOLDERS)


def test_given_the_stack_when_synthesized_then_both_machines_exist_by_name_as_standard_workflows(
    synthesis,
):
    machines = _machines(synthesis)
    assert set(machines) == {
        *MACHINES,
        "ads-power-lab",
        "ads-action-lab",
        "ads-redeploy-lab",
        "ads-deploy-cohort",
    }
    for _, props in machines.values():
        assert props["StateMachineType"] == "STANDARD"


@pytest.mark.parametrize("name", sorted(MACHINES))
def test_given_a_machine_when_synthesized_then_its_definition_is_the_asl_file_inline(
    synthesis, name
):
    asl, _ = MACHINES[name]
    _, props = _machines(synthesis)[name]
    expected, _ = partition_aware(asl.read_text(encoding="utf-8"))
    assert json.loads(props["DefinitionString"]) == json.loads(expected)


@pytest.mark.parametrize("name", sorted(MACHINES))
def test_given_a_machine_when_synthesized_then_no_arn_in_its_definition_names_the_aws_partition(
    synthesis, name
):
    asl, _ = MACHINES[name]
    _, props = _machines(synthesis)[name]
    _, service_arns = partition_aware(asl.read_text(encoding="utf-8"))
    assert "arn:aws:" not in props["DefinitionString"]
    assert "arn:${Partition}:" not in props["DefinitionString"]  # cfn-lint refuses it
    for placeholder, rest in service_arns.items():
        assert f'"${{{placeholder}}}"' in props["DefinitionString"]
        assert props["DefinitionSubstitutions"][placeholder] == {
            "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":{rest}"]]
        }


def test_given_asl_text_with_partition_arns_when_made_partition_aware_then_each_arn_is_one_placeholder():
    text = (
        '{"A": {"Resource": "arn:${Partition}:states:::lambda:invoke"}, '
        '"B": {"Resource": "arn:aws:states:::lambda:invoke", "Comment": "see arn:aws: docs"}}'
    )

    rewritten, arns = partition_aware(text)

    assert rewritten == (
        '{"A": {"Resource": "${ArnStatesLambdaInvoke}"}, '
        '"B": {"Resource": "${ArnStatesLambdaInvoke}", "Comment": "see arn:aws: docs"}}'
    )
    assert arns == {"ArnStatesLambdaInvoke": "states:::lambda:invoke"}


@pytest.mark.parametrize("name", sorted(MACHINES))
def test_given_a_machine_when_synthesized_then_each_placeholder_is_bound_to_its_step_function_arn(
    synthesis, name
):
    _, steps = MACHINES[name]
    _, props = _machines(synthesis)[name]
    functions = ads_functions(synthesis.template)
    expected = {PLACEHOLDERS[step]: {"Fn::GetAtt": [functions[step][0], "Arn"]} for step in steps}
    _, service_arns = partition_aware(MACHINES[name][0].read_text(encoding="utf-8"))
    substitutions = {
        key: value
        for key, value in props["DefinitionSubstitutions"].items()
        if key not in service_arns and key != PARTITION_PLACEHOLDER
    }
    assert substitutions == expected


@pytest.mark.parametrize("name", sorted(MACHINES))
def test_given_a_machine_when_synthesized_then_it_logs_all_events_with_data_and_is_traced(
    synthesis, name
):
    _, props = _machines(synthesis)[name]
    logging = props["LoggingConfiguration"]
    assert logging["Level"] == "ALL"
    assert logging["IncludeExecutionData"] is True
    assert len(logging["Destinations"]) == 1
    assert props["TracingConfiguration"] == {"Enabled": True}


@pytest.mark.parametrize("name", sorted(MACHINES))
def test_given_a_machine_when_synthesized_then_it_may_invoke_exactly_its_own_steps(synthesis, name):
    _, steps = MACHINES[name]
    _, props = _machines(synthesis)[name]
    role = props["RoleArn"]["Fn::GetAtt"][0]
    invoked = set()
    for statement in statements_of_role(synthesis.template, role):
        if "lambda:InvokeFunction" in actions_of(statement):
            for resource in resources_of(statement):
                target = resource if "Fn::GetAtt" in resource else resource["Fn::Join"][1][0]
                invoked.add(target["Fn::GetAtt"][0])
    functions = ads_functions(synthesis.template)
    assert invoked == {functions[step][0] for step in steps}
