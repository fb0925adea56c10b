"""The one step handler shape: correlation ids, validation, metrics, the final throttle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from pydantic import BaseModel, ValidationError

from ads import steps
from ads.lab_metrics import LabMetric
from ads.observability import count, logger, metrics
from ads.providers.base import ProviderThrottled
from ads.tracing import SDK_TRACED_FUNCTIONS
from functions.step_handler import step_handler
from functions.step_input import StepInput

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = sorted(p.parent.name for p in (ROOT / "functions").glob("*/handler.py"))
# Every handler but the two front doors, the scheduled ones (the health watch, the
# sweep, the labs' schedules) and the target of SSM's command events is a workflow step.
NOT_STEPS = ("api", "ci_trigger", "watch_labs", "sweep", "lab_timer", "step_callback")
STEP_HANDLERS = [name for name in HANDLERS if name not in NOT_STEPS]


class Context:
    function_name = "ads-create-vm"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:ads-create-vm"
    memory_limit_in_mb = 256
    aws_request_id = "req-1"
    log_group_name = "/aws/lambda/ads-create-vm"
    log_stream_name = "2030/01/01/[$LATEST]0"


class Done(BaseModel):
    lab_id: str
    note: str | None = None


@pytest.fixture(autouse=True)
def no_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    # The handler shape is under test, not the dependencies: they are never built here.
    monkeypatch.setattr(steps, "dependencies_for", lambda config: None)


def test_given_a_state_with_lab_and_execution_ids_when_a_step_logs_then_each_line_carries_both_and_no_later_line_does(
    log_lines: Callable[[], list[dict[str, Any]]],
):
    def noisy(request: StepInput, deps: Any) -> Done:
        logger.info("working")
        return Done(lab_id=request.lab_id)

    handler = step_handler(noisy)
    handler({"lab_id": "lab-a", "execution_id": "exec-a", "other": 1}, Context())
    handler({"lab_id": "lab-b"}, Context())
    logger.info("outside any step")

    first, second, outside = log_lines()
    assert (first["lab_id"], first["execution_id"], first["correlation_id"]) == (
        "lab-a",
        "exec-a",
        "exec-a",
    )
    assert first["function_request_id"] == "req-1"
    assert second["lab_id"] == "lab-b"
    assert second.get("execution_id") is None
    assert second.get("correlation_id") is None
    assert not {"lab_id", "execution_id", "correlation_id"} & set(outside)


def test_given_a_state_without_a_lab_id_when_a_step_runs_then_validation_refuses_it_before_the_logic():
    ran: list[str] = []

    def logic(request: StepInput, deps: Any) -> Done:
        ran.append(request.lab_id)
        return Done(lab_id=request.lab_id)

    with pytest.raises(ValidationError, match="lab_id"):
        step_handler(logic)({"execution_id": "exec-a"}, Context())
    assert ran == []


def test_given_exclude_none_when_the_result_has_unset_fields_then_they_are_left_out():
    def logic(request: StepInput, deps: Any) -> Done:
        return Done(lab_id=request.lab_id)

    assert step_handler(logic)({"lab_id": "x"}, Context()) == {"lab_id": "x", "note": None}
    assert step_handler(logic, exclude_none=True)({"lab_id": "x"}, Context()) == {"lab_id": "x"}


def test_given_a_throttle_botocore_gave_up_on_when_a_step_runs_then_provider_throttled_names_the_step():
    def throttled(request: StepInput, deps: Any) -> Done:
        raise ClientError(
            {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "PutEvents"
        )

    with pytest.raises(ProviderThrottled, match=r"throttled.*ThrottlingException"):
        step_handler(throttled)({"lab_id": "x"}, Context())


def test_given_a_step_that_counted_and_then_raised_when_it_ends_then_its_metrics_are_flushed_anyway(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    metrics.clear_metrics()

    def counted_then_failed(request: StepInput, deps: Any) -> Done:
        count(LabMetric.LABS_REQUESTED)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        step_handler(counted_then_failed)({"lab_id": "x"}, Context())

    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [b.get(LabMetric.LABS_REQUESTED.value) for b in blobs] == [[1.0]]


def test_given_the_step_handler_modules_when_read_then_each_is_built_by_step_handler():
    for name in STEP_HANDLERS:
        source = (ROOT / "functions" / name / "handler.py").read_text()
        assert "handler = step_handler(" in source, name
        assert "inject_lambda_context" not in source, name


def _lambda_environment(name: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": f"ads-{name}",
        "AWS_EC2_METADATA_DISABLED": "true",
        "ADS_PROVIDER": "ec2",
        "ADS_TABLE_NAME": "ads-labs",
        "POWERTOOLS_SERVICE_NAME": "ads",
        "POWERTOOLS_METRICS_NAMESPACE": "ADS",
    }


@pytest.mark.parametrize("name", HANDLERS)
def test_given_tracing_on_as_deployed_when_a_handler_is_imported_then_only_the_traced_ones_load_the_xray_sdk(
    name: str,
):
    code = (
        f"import sys, functions.{name}.handler as h; "
        "print(int('aws_xray_sdk' in sys.modules), int(callable(h.handler)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=_lambda_environment(name),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    loaded, callable_handler = result.stdout.split()[-2:]
    assert callable_handler == "1"
    assert loaded == ("1" if name in SDK_TRACED_FUNCTIONS else "0"), result.stdout
