"""The documented command: the pinned CDK CLI synthesizes the app offline."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.infra.conftest import ASL_FILES, PROJECT_ROOT, STACK_ID

CDK = PROJECT_ROOT / "node_modules" / ".bin" / "cdk"
VENV_BIN = PROJECT_ROOT / ".venv" / "bin"


def test_given_a_checkout_when_cdk_synth_runs_with_the_pinned_cli_offline_then_the_template_is_written(
    tmp_path: Path,
):
    if not CDK.exists():
        pytest.fail(f"the pinned CDK CLI is missing at {CDK}; run `make cdk-cli` (npm ci)")
    missing = [path.name for path in ASL_FILES if not path.is_file()]
    assert not missing, f"the stack needs the ASL files, absent: {', '.join(missing)}"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "CDK_")) or key == "AWS_CA_BUNDLE"
    }
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        CDK_DISABLE_VERSION_CHECK="1",
        CDK_DISABLE_CLI_TELEMETRY="true",
        JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20",
        AWS_EC2_METADATA_DISABLED="true",
        # No credentials anywhere: a lookup or an account call would fail the synth.
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-credentials"),
        AWS_CONFIG_FILE=str(tmp_path / "no-config"),
    )
    outdir = tmp_path / "cdk.out"
    result = subprocess.run(
        [str(CDK), "synth", "--no-notices", "--quiet", "--output", str(outdir)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    template = json.loads((outdir / f"{STACK_ID}.template.json").read_text())
    assert template["Resources"]
