"""What importing the api handler loads, with tracing on as deployed, and what waits for a request."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_cold_start import lambda_environment  # noqa: E402

# Loaded by the routes that need them, never by the import.
# (Powertools itself imports the botocore package, a few lines, for its user agent.)
ROUTE_MODULES = (
    "botocore.client",
    "boto3",
    "ads.deployments",
    "ads.power",
    "ads.lab.plan",
    "ads.lab.labspec",
    "ads.api_models",
    "aws_lambda_powertools.event_handler.openapi.params",
    "aws_lambda_powertools.event_handler.middlewares.openapi_validation",
)


def _run(code: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=lambda_environment("functions.api.handler"),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_given_tracing_as_deployed_when_the_api_handler_is_imported_then_route_modules_wait():
    loaded = _run(
        "import json, sys; import functions.api.handler as h; "
        f"print(json.dumps({{m: m in sys.modules for m in {ROUTE_MODULES!r} + ('aws_xray_sdk',)}}))"
    )

    assert loaded.pop("aws_xray_sdk") is True
    assert loaded == dict.fromkeys(ROUTE_MODULES, False)


def test_given_the_api_handler_when_it_builds_its_clients_then_every_aws_call_is_traced():
    # The tracer's botocore patch waits for the first client; a client made before it
    # would call AWS without a subsegment.
    patched = _run(
        "import json; import functions.api.handler as h; "
        "from aws_xray_sdk.core import patcher; before = 'botocore' in patcher._PATCHED_MODULES; "
        "h.deployment_context(); "
        "import botocore.client; "
        "wrapped = hasattr(botocore.client.BaseClient._make_api_call, '__wrapped__'); "
        "print(json.dumps({'before': before, 'after': 'botocore' in patcher._PATCHED_MODULES, "
        "'wrapped': wrapped}))"
    )

    assert patched == {"before": False, "after": True, "wrapped": True}
