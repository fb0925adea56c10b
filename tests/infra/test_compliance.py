"""cdk-nag AwsSolutions, cfn-lint, acknowledgements with reasons, and an offline synth."""

from __future__ import annotations

import json
import re

from tests.infra.conftest import STACK_ID


def _violations(report):
    return [
        f"{violation['ruleName']} at {construct['constructPath']}"
        for plugin in report.get("pluginReports", [])
        for violation in plugin.get("violations", [])
        for construct in violation.get("violatingConstructs", [])
    ]


def test_given_aws_solutions_checks_when_synthesized_then_no_finding_is_left_unacknowledged(
    synthesis,
):
    assert _violations(synthesis.validation_report) == []
    assert synthesis.synth_error is None


def test_given_the_app_when_synthesized_then_aws_solutions_checks_really_ran(synthesis):
    acknowledged = _acknowledged(synthesis)
    # The app registers the plugin itself; its acknowledged findings prove it looked.
    assert any(rule.startswith("AwsSolutions-IAM5[") for rule in acknowledged)
    assert "AwsSolutions-APIG3" in acknowledged


def test_given_every_acknowledgement_when_read_then_it_carries_a_reason(synthesis):
    acknowledged = _acknowledged(synthesis)
    assert acknowledged
    for rule, reason in acknowledged.items():
        assert isinstance(reason, str) and len(reason.split()) >= 5, f"{rule}: {reason!r}"


def test_given_the_template_when_linted_with_cfn_lint_then_there_are_no_errors(synthesis):
    from cfnlint.api import lint

    matches = lint(
        synthesis.template_path.read_text(encoding="utf-8"), regions=["us-east-1", "eu-west-1"]
    )
    errors = [
        f"{m.rule.id} {m.message} ({'/'.join(map(str, m.path))})"
        for m in matches
        if m.rule.id.startswith("E")
    ]
    assert errors == []


def test_given_default_context_when_synthesized_then_nothing_needed_an_aws_account(synthesis):
    manifest = json.loads((synthesis.outdir / "manifest.json").read_text())
    assert not manifest.get("missing"), manifest.get("missing")
    parameters = synthesis.template.get("Parameters", {})
    lookups = {name for name in parameters if name != "BootstrapVersion"}
    assert all(
        parameters[name]["Type"].startswith("AWS::SSM::Parameter::Value") for name in lookups
    )


def _acknowledged(synthesis):
    metadata = json.loads((synthesis.outdir / f"{STACK_ID}.metadata.json").read_text())
    found = {}
    for entries in metadata.values():
        for entry in entries:
            if entry.get("type") == "aws:cdk:acknowledged-rules":
                found.update(entry["data"])
    # aws-cdk-lib records ids without a known prefix as "Annotation::<id>"; cdk-nag
    # strips that prefix when it matches findings.
    return {
        re.sub(r"^annotation::", "", rule, flags=re.IGNORECASE): reason
        for rule, reason in found.items()
    }
