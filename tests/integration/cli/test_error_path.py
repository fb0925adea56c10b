"""One error path for every command: the exit code travels with the error, main() prints
it, a closed pipe ends every command alike, and --json keeps its keys in every state."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from ads.api_models import DestroyAccepted, LabHistory, LabSummary, LabView
from ads.cli import exit_codes
from ads.cli.main import main
from tests.integration.cli.fake_api import FakeAdsApi


class ClosedPipe(io.StringIO):
    def write(self, _: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


class BufferedClosedPipe(io.StringIO):
    """A reader that left while the output was still buffered: only the flush fails."""

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


def _argv(api: FakeAdsApi, command: str, labspec_path: Path) -> list[str]:
    lab = api.add_lab("READY")
    endpoint = ["--endpoint", api.url]
    return {
        "plan": ["plan", str(labspec_path)],
        "plan --json": ["plan", str(labspec_path), "--json"],
        "deploy": ["deploy", str(labspec_path), *endpoint],
        "list": ["list", *endpoint],
        "show --json": ["show", lab["lab_id"], "--json", *endpoint],
        "history": ["history", lab["lab_id"], *endpoint],
        "destroy": ["destroy", lab["lab_id"], *endpoint],
        # A local lab's connect opens a shell in its sandbox; --print prints instead.
        "connect --print": ["connect", lab["lab_id"], "--print", *endpoint],
    }[command]


COMMANDS = [
    "plan",
    "plan --json",
    "deploy",
    "list",
    "show --json",
    "history",
    "destroy",
    "connect --print",
]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("pipe", [ClosedPipe, BufferedClosedPipe], ids=["write", "flush"])
def test_given_a_closed_output_pipe_when_any_command_prints_then_it_ends_with_141_quietly(
    command, pipe, api, labspec_path, monkeypatch, capsys
):
    argv = _argv(api, command, labspec_path)
    monkeypatch.setattr("sys.stdout", pipe())

    code = main(argv)

    assert code == exit_codes.BROKEN_PIPE
    assert capsys.readouterr().err == ""


def test_given_a_command_error_when_raised_then_main_prints_one_line_problems_and_cause(
    monkeypatch, capsys
):
    from ads.cli import lab_cmds
    from ads.errors import FieldProblem

    def failing(_args):
        raise exit_codes.CommandError(
            "lab x is FAILED, not READY",
            exit_code=exit_codes.FAILED,
            problems=[FieldProblem("labspec.lab", "nothing", "an object")],
            cause="line one\nline two",
        )

    monkeypatch.setattr(lab_cmds, "show_command", failing)

    code = main(["show", "x"])

    assert code == exit_codes.FAILED
    assert capsys.readouterr().err.splitlines() == [
        "ads: error: lab x is FAILED, not READY",
        "  - labspec.lab: found nothing; allowed: an object",
        "cause:",
        "  line one",
        "  line two",
    ]


def test_given_an_unusable_plan_option_when_planned_then_the_error_leaves_through_main_with_2(
    labspec_path, capsys
):
    code = main(["plan", str(labspec_path), "--arch", "sparc"])

    err = capsys.readouterr().err
    assert code == exit_codes.INVALID_INPUT
    assert len(err.splitlines()) == 1
    assert err.startswith("ads: error: --arch: found 'sparc'")


def test_given_connect_without_a_vm_when_asked_then_exit_4_in_one_line(api, capsys):
    lab = api.add_lab("DESTROYED", vm_id=None)

    code = main(["connect", lab["lab_id"], "--endpoint", api.url])

    err = capsys.readouterr().err
    assert code == exit_codes.CONFLICT
    assert err.count("\n") == 1 and err.startswith(f"ads: error: lab {lab['lab_id']} is DESTROYED")


# --- stable --json keys --------------------------------------------------------------------------


def _json(capsys, argv: list[str]) -> dict:
    assert main(argv) in (exit_codes.OK, exit_codes.FAILED)
    return json.loads(capsys.readouterr().out)


def _older_api_answer(lab: dict) -> dict:
    """What an API that sends only the keys it has for the lab's state would answer."""
    return {k: v for k, v in lab.items() if v not in (None, [], {})}


def test_given_a_failed_and_a_ready_lab_when_shown_as_json_then_both_have_the_same_keys(
    api, capsys
):
    ready = api.add_lab("READY", endpoint="http://127.0.0.1:9089", app_url="http://l/")
    failed = api.add_lab("FAILED", failed_step="Check Health", cause="agent answered 503")
    for lab in (ready, failed):
        api.canned[("GET", f"/labs/{lab['lab_id']}")] = (200, _older_api_answer(lab))

    shown = [
        _json(capsys, ["show", lab["lab_id"], "--json", "--endpoint", api.url])
        for lab in (ready, failed)
    ]

    assert list(shown[0])[: len(LabView.model_fields)] == list(LabView.model_fields)
    assert set(shown[0]) == set(shown[1])
    assert shown[0]["cause"] is None and shown[0]["failed_step"] is None
    assert shown[1]["endpoint"] is None and shown[1]["app_url"] is None
    assert shown[1]["cause"] == "agent answered 503"


def test_given_a_wait_that_fails_when_printed_as_json_then_the_record_has_every_key(
    api, capsys, labspec_path
):
    api.deploy_script = ["REQUESTED", "FAILED"]
    api.failure = {"failed_step": "Initialise VM", "cause": "exit 1"}

    code = main(["deploy", str(labspec_path), "--wait", "--json", "--endpoint", api.url])

    record = json.loads(capsys.readouterr().out)
    assert code == exit_codes.FAILED
    assert set(LabView.model_fields) <= set(record)


def test_given_labs_in_several_states_when_listed_as_json_then_every_lab_has_the_same_keys(
    api, capsys
):
    for status in ("REQUESTED", "READY", "FAILED", "DESTROYED"):
        api.add_lab(status)
    page = api.list({})[1]
    page["labs"] = [_older_api_answer(lab) for lab in page["labs"]]
    api.canned[("GET", "/labs")] = (200, page)

    listed = _json(capsys, ["list", "--json", "--endpoint", api.url])

    assert set(listed) == {"labs", "next_token"}
    assert len(listed["labs"]) == 4
    assert all(list(lab) == list(LabSummary.model_fields) for lab in listed["labs"])


def test_given_a_destroy_and_a_history_when_printed_as_json_then_their_models_keys_are_there(
    api, capsys
):
    lab = api.add_lab("READY")
    history = api.history(lab)
    history["executions"][0].pop("error")
    api.canned[("GET", f"/labs/{lab['lab_id']}/history")] = (200, history)

    shown = _json(capsys, ["history", lab["lab_id"], "--json", "--endpoint", api.url])
    destroyed = _json(capsys, ["destroy", lab["lab_id"], "--json", "--endpoint", api.url])

    assert set(LabHistory.model_fields) <= set(shown)
    assert shown["executions"][0]["error"] is None
    assert set(DestroyAccepted.model_fields) <= set(destroyed)


def test_given_an_answer_the_real_api_cannot_give_when_the_fake_checks_it_then_it_is_kept():
    fake = FakeAdsApi(access_key="a", secret_key="b")

    fake.check_answer("GET", "/labs/l-1", 200, {"lab_id": "l-1", "status": "READY"})
    fake.check_answer("GET", "/labs/l-1", 404, {"message": "no"})

    assert len(fake.invalid_answers) == 2
    assert "LabView" in fake.invalid_answers[0] and "owner" in fake.invalid_answers[0]
    assert "ErrorBody" in fake.invalid_answers[1] and "error" in fake.invalid_answers[1]
