"""The Lambda code bundle: our packages only, no CLI or local control plane, importable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cdk_app.lambda_bundle import stage_lambda_bundle
from tests.infra.conftest import PROJECT_ROOT
from tests.infra.template_queries import ADS_FUNCTIONS


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return stage_lambda_bundle(tmp_path_factory.mktemp("bundle") / "code")


def test_given_a_fake_project_when_staged_then_cli_local_and_caches_are_left_out(tmp_path: Path):
    root = tmp_path / "project"
    for relative in (
        "ads/__init__.py",
        "ads/config.py",
        "ads/lab/data/prices.json",
        "ads/cli/main.py",
        "ads/local/runtime.py",
        "ads/__pycache__/config.cpython-311.pyc",
        "functions/__init__.py",
        "functions/api/handler.py",
        "functions/api/openapi.json",
        "ads_agent/__init__.py",
    ):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text("x")
    target = stage_lambda_bundle(tmp_path / "out", project_root=root)
    staged = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert staged == [
        "ads/__init__.py",
        "ads/config.py",
        "ads/lab/data/prices.json",
        "functions/__init__.py",
        "functions/api/handler.py",
        "functions/api/openapi.json",
    ]


def test_given_a_previous_bundle_when_staged_again_then_stale_files_are_gone(tmp_path: Path):
    target = tmp_path / "out"
    stale = target / "ads" / "removed_module.py"
    stale.parent.mkdir(parents=True)
    stale.write_text("x")
    stage_lambda_bundle(target)
    assert not stale.exists()


@pytest.mark.parametrize("name", ADS_FUNCTIONS)
def test_given_the_bundle_when_a_handler_module_is_imported_alone_then_it_loads(
    bundle: Path, name: str
):
    assert (PROJECT_ROOT / "functions" / name / "handler.py").is_file(), (
        f"functions/{name}/handler.py is missing"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "ADS_PROVIDER": "ec2",
        "ADS_TABLE_NAME": "ads-labs",
        "POWERTOOLS_SERVICE_NAME": "ads",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    # The bundle comes first, as in Lambda; site-packages stands in for the layer.
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import importlib; "
        f"module = importlib.import_module('functions.{name}.handler'); "
        "assert callable(module.handler); "
        "import ads; assert ads.__path__[0].startswith(sys.argv[1]), ads.__path__"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(bundle)],
        cwd=bundle,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
