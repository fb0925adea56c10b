"""`ads stop|start|restart` driven through `ads.cli.main.main` against the fake API over HTTP."""

from __future__ import annotations

import json

import pytest

from ads.cli import exit_codes
from ads.cli.main import main
from tests.integration.cli.fake_api import FakeAdsApi


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_given_a_ready_lab_when_stopped_then_the_stop_route_is_posted_and_the_execution_shown(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = api.add_lab("READY")

    code, out, err = run(capsys, "stop", lab["lab_id"], "--endpoint", api.url)

    assert code == exit_codes.OK, err
    post = api.received[-1]
    assert (post.method, post.path, post.signature_ok) == (
        "POST",
        f"/labs/{lab['lab_id']}/stop",
        True,
    )
    assert f"Lab {lab['lab_id']} is STOPPING" in out
    assert "execution:PowerLab:" in out


def test_given_json_when_started_without_wait_then_stdout_is_exactly_the_202_answer(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = api.add_lab("STOPPED")

    code, out, err = run(capsys, "start", lab["lab_id"], "--endpoint", api.url, "--json")

    assert code == exit_codes.OK, err
    answer = json.loads(out)
    assert answer["operation"] == "start"
    assert answer["status"] == "STARTING"


@pytest.mark.parametrize(
    ("command", "start_status", "goal", "walked"),
    [
        ("stop", "READY", "STOPPED", ["STOPPING", "STOPPED"]),
        ("start", "STOPPED", "READY", ["STARTING", "HEALTH_CHECKING", "READY"]),
        ("restart", "READY", "READY", ["RESTARTING", "HEALTH_CHECKING", "READY"]),
    ],
)
def test_given_wait_when_the_operation_completes_then_each_status_is_one_progress_line_and_exit_0(
    api: FakeAdsApi,
    capsys: pytest.CaptureFixture[str],
    command: str,
    start_status: str,
    goal: str,
    walked: list[str],
) -> None:
    lab = api.add_lab(start_status)

    code, out, err = run(capsys, command, lab["lab_id"], "--endpoint", api.url, "--wait")

    assert code == exit_codes.OK, err
    progress = [line.split("] ", 1)[1] for line in err.splitlines() if line.startswith("[")]
    assert progress == [f"{lab['lab_id']} {status}" for status in walked]
    assert f"{lab['lab_id']} is {goal} after" in err
    # The final record is what the person waited for.
    assert any(line.startswith("Status:") and line.endswith(goal) for line in out.splitlines())


def test_given_wait_and_json_when_stopped_then_stdout_is_only_the_final_record(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = api.add_lab("READY")

    code, out, _ = run(capsys, "stop", lab["lab_id"], "--endpoint", api.url, "--wait", "--json")

    assert code == exit_codes.OK
    record = json.loads(out)
    assert record["status"] == "STOPPED"
    assert record["lab_id"] == lab["lab_id"]


def test_given_wait_when_the_start_fails_then_exit_1_names_the_failed_step_and_cause(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = api.add_lab("STOPPED")
    api.power_scripts["start"] = ["STARTING", "HEALTH_CHECKING", "FAILED"]
    api.failure = {
        "failed_step": "Check Health",
        "cause": "Check Health failed: the lab's page answered 502 on port 8080",
    }

    code, _, err = run(capsys, "start", lab["lab_id"], "--endpoint", api.url, "--wait")

    assert code == exit_codes.FAILED
    assert (
        f"ads: error: start of lab {lab['lab_id']} ended FAILED in step Check Health, not READY"
        in err
    )
    assert "cause:\n  Check Health failed: the lab's page answered 502 on port 8080" in err


def test_given_wait_when_the_lab_is_destroyed_during_a_stop_then_exit_1_instead_of_waiting(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = api.add_lab("READY")
    api.power_scripts["stop"] = ["STOPPING", "DESTROYING", "DESTROYED"]

    code, _, err = run(capsys, "stop", lab["lab_id"], "--endpoint", api.url, "--wait")

    assert code == exit_codes.FAILED
    assert f"stop of lab {lab['lab_id']} ended DESTROYING, not STOPPED" in err


def test_given_wait_when_the_stop_outlasts_the_timeout_then_exit_6_says_it_goes_on(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = api.add_lab("READY")
    api.power_scripts["stop"] = ["STOPPING"] * 10_000

    code, _, err = run(
        capsys, "stop", lab["lab_id"], "--endpoint", api.url, "--wait", "--timeout", "0.05"
    )

    assert code == exit_codes.TIMEOUT
    assert f"lab {lab['lab_id']} is still STOPPING after 0.05s (--timeout), not STOPPED" in err
    assert f"`ads show {lab['lab_id']}`" in err


@pytest.mark.parametrize(
    ("command", "status", "wanted"),
    [
        ("start", "READY", "STARTING"),
        ("stop", "STOPPED", "STOPPING"),
        ("restart", "FAILED", "RESTARTING"),
    ],
)
def test_given_a_lab_in_a_status_that_refuses_the_operation_when_asked_then_exit_4_names_the_status(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str], command: str, status: str, wanted: str
) -> None:
    lab = api.add_lab(status)

    code, out, err = run(capsys, command, lab["lab_id"], "--endpoint", api.url, "--wait")

    assert code == exit_codes.CONFLICT
    assert out == ""
    assert f"ads: error: lab {lab['lab_id']!r} is {status}; it can become {wanted} only from" in err
    # Refused at once: no status polling followed the 409.
    assert [r.method for r in api.received] == ["POST"]


def test_given_an_unknown_lab_when_stopped_then_exit_3_with_the_api_message(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "stop", "no-such-lab", "--endpoint", api.url)

    assert code == exit_codes.NOT_FOUND
    assert "ads: error: no lab with id 'no-such-lab'" in err


def test_given_a_stopped_lab_when_shown_then_the_cost_line_is_its_storage_alone(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = api.add_lab("STOPPED")

    code, out, err = run(capsys, "show", lab["lab_id"], "--endpoint", api.url)

    assert code == exit_codes.OK, err
    (cost,) = [line.strip() for line in out.splitlines() if line.strip().startswith("Cost:")]
    # PLAN: a 15 GiB root volume in us-east-1, its storage not priced in the plan itself.
    assert cost == (
        "Cost:     stopped: no compute is billed; storage $1.20 per month for the 15 GiB "
        "root volume in us-east-1 (bundled gp3 storage price of 2020-12-01)"
    )
    assert "per hour" not in cost
