"""`ads action` and `ads actions` driven through `ads.cli.main.main` against the fake API."""

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


def test_given_a_ready_lab_when_an_action_is_asked_then_its_route_is_posted_and_the_execution_shown(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = api.add_lab("READY")

    code, out, err = run(capsys, "action", lab["lab_id"], "backup", "--endpoint", api.url)

    assert code == exit_codes.OK, err
    post = api.received[-1]
    assert (post.method, post.path, post.signature_ok) == (
        "POST",
        f"/labs/{lab['lab_id']}/actions/backup",
        True,
    )
    assert f"Action backup of lab {lab['lab_id']} is running (ACTING)" in out
    assert "execution:ActionLab:" in out


def test_given_wait_when_the_action_succeeds_then_its_output_is_printed_and_exit_0(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    api.action_results["backup"] = {"exit_code": 0, "output_tail": "saved backup-7.tar.gz"}
    lab = api.add_lab("READY")

    code, out, err = run(capsys, "action", lab["lab_id"], "backup", "--endpoint", api.url, "--wait")

    assert code == exit_codes.OK, err
    assert out.rstrip().endswith("saved backup-7.tar.gz")
    assert "backup succeeded" in err
    assert all(r.method == "GET" for r in api.received[1:])
    assert api.labs[lab["lab_id"]]["status"] == "READY"


def test_given_wait_when_the_action_fails_then_its_exit_code_and_output_are_printed_and_exit_1(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    api.action_results["test"] = {
        "exit_code": 3,
        "output_tail": "checking the page\nthe page check failed",
        "cause": "action test failed: exited 3",
    }
    lab = api.add_lab("READY")

    code, out, err = run(capsys, "action", lab["lab_id"], "test", "--endpoint", api.url, "--wait")

    assert code == exit_codes.FAILED
    assert "the page check failed" in out
    assert f"action test of lab {lab['lab_id']} failed: exited 3" in err


def test_given_wait_and_json_when_the_action_fails_then_stdout_is_the_run_and_exit_1(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    api.action_results["test"] = {"exit_code": 2, "output_tail": "no tests"}
    lab = api.add_lab("READY")

    code, out, _ = run(
        capsys, "action", lab["lab_id"], "test", "--endpoint", api.url, "--wait", "--json"
    )

    assert code == exit_codes.FAILED
    run_document = json.loads(out)
    assert run_document["exit_code"] == 2 and run_document["succeeded"] is False


def test_given_an_undefined_action_when_asked_then_exit_3_with_the_defined_ones(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = api.add_lab("READY")

    code, _, err = run(capsys, "action", lab["lab_id"], "restore", "--endpoint", api.url)

    assert code == exit_codes.NOT_FOUND
    assert "defines no action 'restore'; defined: backup, start, stop, test" in err


def test_given_a_lab_not_ready_when_an_action_is_asked_then_exit_4_naming_its_status(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = api.add_lab("STOPPED")

    code, _, err = run(capsys, "action", lab["lab_id"], "backup", "--endpoint", api.url)

    assert code == exit_codes.CONFLICT
    assert "is STOPPED" in err


def test_given_past_runs_when_actions_are_listed_then_names_and_runs_newest_first(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    api.action_results["test"] = {"exit_code": 3, "output_tail": "x"}
    lab = api.add_lab("READY")
    for name in ("backup", "test"):
        assert run(capsys, "action", lab["lab_id"], name, "--endpoint", api.url, "--wait")[0] in (
            exit_codes.OK,
            exit_codes.FAILED,
        )

    code, out, err = run(capsys, "actions", lab["lab_id"], "--endpoint", api.url)

    assert code == exit_codes.OK, err
    lines = out.splitlines()
    assert "Actions: backup, start, stop, test" in lines
    runs = [line for line in lines if line.startswith("  ")]
    assert "test  FAILED (exit 3)" in runs[0] and "backup  ok" in runs[1]
