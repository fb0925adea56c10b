"""Tracing as deployed: every function traced by Lambda, the X-Ray SDK only where the code
uses it (``ads.tracing``; tests/unit/test_step_handler.py checks which handlers load it)."""

from __future__ import annotations

from ads.tracing import SDK_TRACED_FUNCTIONS
from tests.infra.template_queries import (
    ADS_FUNCTIONS,
    ads_functions,
    of_type,
    statements_of_function,
    statements_with_action,
)

TRACE_WRITES = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")


def test_given_the_sdk_traced_functions_when_synthesized_then_each_is_a_deployed_function_with_active_tracing(
    synthesis,
):
    functions = ads_functions(synthesis.template)

    assert SDK_TRACED_FUNCTIONS
    for name in SDK_TRACED_FUNCTIONS:
        assert name in functions, name
        assert functions[name][1]["TracingConfig"] == {"Mode": "Active"}, name


def test_given_any_function_when_synthesized_then_lambda_records_its_segments_without_an_sdk(
    synthesis,
):
    # Active tracing without the SDK: Lambda writes the invocation's segment with the
    # function's role, so every role may write traces, SDK or not.
    functions = ads_functions(synthesis.template)
    assert set(functions) == set(ADS_FUNCTIONS)
    for name, (_, props) in functions.items():
        assert props["TracingConfig"] == {"Mode": "Active"}, name
        statements = statements_of_function(synthesis.template, name)
        for action in TRACE_WRITES:
            assert statements_with_action(statements, action), (name, action)
        # Nothing in the environment turns Powertools' own tracing switch on or off: the
        # code decides (ads.tracing), so the template and the code cannot disagree.
        assert "POWERTOOLS_TRACE_DISABLED" not in props["Environment"]["Variables"], name


def test_given_the_state_machines_when_synthesized_then_they_trace_so_step_invocations_join_one_trace(
    synthesis,
):
    machines = of_type(synthesis.template, "AWS::StepFunctions::StateMachine")

    assert machines
    for logical_id, machine in machines.items():
        assert machine["Properties"]["TracingConfiguration"] == {"Enabled": True}, logical_id
