"""The AWS model of benchmarks/bench_ready_lag.py read over today's DeployLab: what
records READY, the lag it gives and the transitions and invocations of one lab."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_ready_lag as bench  # noqa: E402

DEPLOY = json.loads((ROOT / "statemachine" / "deploy_lab.asl.json").read_text())
DESTROY = json.loads((ROOT / "statemachine" / "destroy_lab.asl.json").read_text())


def test_given_todays_deploy_lab_when_read_then_check_health_is_what_records_ready():
    path = bench.success_path(DEPLOY)
    recording = [n for n in path if bench.records_ready(DEPLOY["States"][n])]
    # Check Health, then Mark Ready (which, for a lab of one VM, only publishes).
    assert recording == ["Check Health", "Mark Ready"]
    assert path.index("Await Init") + 1 == path.index("Check Health")


def test_given_the_model_when_a_30_s_boot_and_90_s_init_then_lag_transitions_and_invocations():
    figures = bench.model(DEPLOY, DESTROY, 30, 90, 0)

    # The event, the callback's invocation and Check Health's: 0.5 + 2 x (0.15 + 0.05).
    assert figures["lag_s"] == pytest.approx(
        bench.EVENT_S + 2 * (bench.LAMBDA_S + bench.TRANSITION_S)
    )
    assert figures["lag_s"] <= 1.0
    assert figures["transitions"] <= 20 and figures["invocations"] <= 12


def test_given_a_definition_where_mark_ready_records_ready_then_it_counts_one_step_more():
    polling_ready = json.loads(json.dumps(DEPLOY))
    del polling_ready["States"]["Check Health"]["Parameters"]["Payload"]["mark_ready"]

    later = bench.model(polling_ready, DESTROY, 30, 90, 0)["lag_s"]

    assert later == pytest.approx(bench.model(DEPLOY, DESTROY, 30, 90, 0)["lag_s"] + 0.2)
