"""One synthesis of the ADS app per test session, with the context `cdk synth` uses."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CDK_JSON = PROJECT_ROOT / "cdk.json"
ASL_FILES = (
    PROJECT_ROOT / "statemachine" / "deploy_lab.asl.json",
    PROJECT_ROOT / "statemachine" / "destroy_lab.asl.json",
)
STACK_ID = "AdsControlPlane"
# The CLI exports these; unset, the stack is environment-agnostic and the template stable.
CLI_ENVIRONMENT = ("CDK_DEFAULT_ACCOUNT", "CDK_DEFAULT_REGION")


@dataclass
class Synthesis:
    outdir: Path
    template: dict[str, Any]
    validation_report: dict[str, Any]
    synth_error: str | None

    @property
    def template_path(self) -> Path:
        return self.outdir / f"{STACK_ID}.template.json"

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.template["Resources"].items()
            if resource["Type"] == resource_type
        }


def cdk_json_context() -> dict[str, Any]:
    return json.loads(CDK_JSON.read_text(encoding="utf-8"))["context"]


@pytest.fixture(scope="session")
def synthesis(tmp_path_factory: pytest.TempPathFactory) -> Synthesis:
    missing = [str(path.relative_to(PROJECT_ROOT)) for path in ASL_FILES if not path.is_file()]
    if missing:
        # The stack cannot be built without them: a checkout missing one is broken.
        pytest.fail(f"the stack needs the ASL files, absent: {', '.join(missing)}")
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from cdk_app.app import build_app

    outdir = tmp_path_factory.mktemp("cdk-out")
    saved = {name: os.environ.pop(name) for name in CLI_ENVIRONMENT if name in os.environ}
    synth_error = None
    try:
        app = build_app(cdk_json_context(), str(outdir))
        try:
            app.synth()
        except RuntimeError as exc:
            # cdk-nag findings fail synth after the template is written; the nag test
            # reports them, the other tests still inspect the template.
            synth_error = str(exc)
    finally:
        os.environ.update(saved)
    report_path = outdir / "validation-report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    template = json.loads((outdir / f"{STACK_ID}.template.json").read_text())
    return Synthesis(
        outdir=outdir, template=template, validation_report=report, synth_error=synth_error
    )


@pytest.fixture(scope="session")
def template(synthesis: Synthesis):
    from aws_cdk.assertions import Template

    return Template.from_json(synthesis.template)
