"""Every ARN follows the stack's partition: the template deploys to aws-cn and aws-us-gov."""

from __future__ import annotations

import contextlib
import json
import os
import re

import pytest

from tests.infra.conftest import CLI_ENVIRONMENT, STACK_ID, cdk_json_context

_LITERAL_AWS_ARN = re.compile(r"arn:aws:")


def _literal_arns(template_text: str) -> list[str]:
    return sorted(
        {
            template_text[m.start() : m.start() + 60]
            for m in _LITERAL_AWS_ARN.finditer(template_text)
        }
    )


def test_given_default_context_when_synthesized_then_no_arn_names_the_aws_partition_literally(
    synthesis,
):
    assert _literal_arns(synthesis.template_path.read_text(encoding="utf-8")) == []


@pytest.fixture(scope="module")
def china_template(tmp_path_factory):
    from cdk_app.app import build_app

    outdir = tmp_path_factory.mktemp("cdk-out-cn")
    saved = {name: os.environ.pop(name) for name in CLI_ENVIRONMENT if name in os.environ}
    try:
        app = build_app({**cdk_json_context(), "region": "cn-north-1"}, str(outdir))
        # cdk-nag findings are test_compliance's business; the template is written anyway.
        with contextlib.suppress(RuntimeError):
            app.synth()
    finally:
        os.environ.update(saved)
    return (outdir / f"{STACK_ID}.template.json").read_text(encoding="utf-8")


def test_given_a_china_region_when_synthesized_then_arns_name_the_aws_cn_partition(
    china_template,
):
    assert _literal_arns(china_template) == []
    template = json.loads(china_template)
    machines = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::StepFunctions::StateMachine"
    ]
    assert machines
    for machine in machines:
        service_arns = [
            value
            for key, value in machine["DefinitionSubstitutions"].items()
            if key.startswith("Arn")
        ]
        assert service_arns and all(arn.startswith("arn:aws-cn:") for arn in service_arns)
    assert '"arn:aws-cn:' in china_template or '"arn:", "aws-cn"' in china_template
