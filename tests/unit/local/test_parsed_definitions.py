"""moto's execution worker parses a state machine once, and executions share the program."""

from __future__ import annotations

from ads.local.lambda_dispatch import WORKFLOW_FUNCTIONS
from ads.local.moto_patches import ParsedDefinitions
from ads.local.runtime import STATEMACHINE_DIR, render_definition


class _CountingParser:
    def __init__(self) -> None:
        from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

        self.parser = AmazonStateLanguageParser
        self.calls = 0

    def parse(self, definition: str):
        self.calls += 1
        return self.parser.parse(definition)


def _deploy_definition() -> str:
    arns = {
        p: f"arn:aws:lambda:us-east-1:123456789012:function:{h}"
        for h, p in WORKFLOW_FUNCTIONS.items()
    }
    return render_definition(STATEMACHINE_DIR / "deploy_lab.asl.json", arns)


def _eval_components(program) -> list:
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

    found, seen, pending = [], set(), [program]
    while pending:
        node = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, EvalComponent):
            found.append(node)
        if isinstance(node, dict):
            pending.extend(node.values())
        elif isinstance(node, list | tuple):
            pending.extend(node)
        elif hasattr(node, "__dict__") and type(node).__module__.startswith("moto."):
            pending.extend(vars(node).values())
    return found


def test_given_one_definition_when_executions_start_then_it_is_parsed_once():
    counting = _CountingParser()
    parsed = ParsedDefinitions(counting)
    definition = _deploy_definition()

    first = parsed.parse(definition)
    second = parsed.parse(definition)

    assert counting.calls == 1
    assert first is second


def test_given_a_shared_program_when_it_is_handed_out_then_every_heap_key_is_already_fixed():
    # heap_key is assigned lazily; two executions racing on the first use would key the
    # same retry counter differently.
    program, _ = ParsedDefinitions(_CountingParser()).parse(_deploy_definition())

    components = _eval_components(program)
    assert len(components) > 50
    assert all(c._EvalComponent__heap_key is not None for c in components)
