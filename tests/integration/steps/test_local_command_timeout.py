"""ADS_COMMAND_TIMEOUT_S through the local provider to the agent: a hung command of a lab
whose labspec names no timeout ends Initialise VM after the configured seconds, named;
a labspec's own timeout for the step still wins."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from ads import steps
from ads.config import AdsConfig, reset_config
from ads.lab.plan import plan_from_labspec_source
from ads.labs_table import create_table
from ads.lifecycle_events import LifecyclePublisher
from ads.providers.base import InitFailed
from ads.providers.local import LocalProvider
from ads.records import LabRepository
from functions.create_vm.handler import handler as create_vm
from functions.init_vm.handler import handler as init_vm
from functions.wait_running.handler import handler as wait_running
from tests.integration.steps.conftest import (
    AWS_ENV,
    OWNER,
    REGION,
    ROOT,
    TABLE,
    FakeLambdaContext,
)

CONTEXT = FakeLambdaContext()
HUNG_START = ROOT / "events" / "labspecs" / "hung-start.labspec.json"


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[steps.StepDependencies]:
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        create_table(boto3.client("dynamodb", region_name=REGION), TABLE)
        config = AdsConfig(
            provider="local",
            table_name=TABLE,
            local_root=str(tmp_path / "labs"),
            command_timeout_s=1,
        )
        deps = steps.StepDependencies(
            repository=LabRepository.from_name(TABLE, REGION),
            provider=LocalProvider(config),
            publisher=LifecyclePublisher(boto3.client("events", region_name=REGION), ""),
            config=config,
        )
        monkeypatch.setattr(steps, "dependencies_for", lambda _config: deps)
        reset_config()
        try:
            yield deps
        finally:
            deps.provider.destroy_all()
    reset_config()


def _init_outcome(deps: steps.StepDependencies, lab_id: str, timeouts: dict | None) -> str:
    spec = json.loads(HUNG_START.read_text())
    platform = spec["lab"]["runtime_requirements"]["platform"]
    platform.pop("timeouts", None)
    if timeouts:
        platform["timeouts"] = timeouts
    plan = plan_from_labspec_source(json.dumps(spec)).model_dump(mode="json")
    deps.repository.create(deps.repository.new_record(lab_id, OWNER, plan=plan))
    event = {"lab_id": lab_id}
    create_vm(event, CONTEXT)
    wait_running(event, CONTEXT)
    deadline = time.monotonic() + 60
    while True:
        try:
            init_vm(event, CONTEXT)
            return "succeeded"
        except InitFailed as failed:
            return str(failed)
        except Exception as exc:
            if type(exc).__name__ != "InitInProgress" or time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def test_given_a_configured_command_timeout_when_a_labspec_without_one_hangs_then_init_fails_after_it(
    world: steps.StepDependencies,
):
    began = time.monotonic()

    outcome = _init_outcome(world, "hung-default", None)

    assert time.monotonic() - began < 45
    assert "timed out after 1 s" in outcome, outcome


def test_given_a_configured_command_timeout_when_the_labspec_sets_the_step_timeout_then_the_labspec_wins(
    world: steps.StepDependencies,
):
    outcome = _init_outcome(world, "hung-own", {"start": 3})

    assert "timed out after 3 s" in outcome, outcome
