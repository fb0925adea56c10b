"""`ads logs` over a fake client: pages printed in order until no next_token, a run that
goes on stops the plain command at what it wrote so far, --follow keeps asking until the
run ends, --json prints one document, Ctrl-C exits 130 quietly."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ads.cli import exit_codes, logs_cmd
from ads.cli.client import AdsApiClient
from ads.cli.main import main


def page(lines: list[str], token: str | None, status: str = "running", code: int | None = None):
    return {"lab_id": "lab-1", "kind": "action", "name": "ticker", "step": None,
            "status": status, "exit_code": code, "steps": [{"step": None, "exit_code": code}],
            "lines": lines, "next_token": token}  # fmt: skip


@pytest.fixture
def answers(monkeypatch) -> list[Any]:
    queue: list[Any] = []
    asked: list[dict[str, str]] = []

    def request(self, method: str, path: str, query: dict[str, str] | None = None, **_: Any):
        assert (method, path) == ("GET", "/labs/lab-1/logs")
        asked.append(dict(query or {}))
        answer = queue.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    monkeypatch.setattr(AdsApiClient, "request", request)
    monkeypatch.setattr(logs_cmd, "_sleep", lambda _s: None)
    monkeypatch.setenv("ADS_ENDPOINT", "http://127.0.0.1:9")
    queue.append(asked)  # the test reads what was asked from the first slot
    return queue


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_given_a_running_action_when_followed_then_new_lines_print_until_it_ends(
    answers, capsys
) -> None:
    asked = answers.pop(0)
    answers += [page(["tick 1"], "t1"), page([], "t1"), page(["tick 2"], None, "succeeded", 0)]

    code, out, err = run(capsys, "logs", "lab-1", "--action", "ticker", "--follow")

    assert code == exit_codes.OK
    assert out == "tick 1\ntick 2\n"
    assert "action ticker of lab lab-1: succeeded (exit 0)" in err
    assert asked == [{"action": "ticker"}, {"action": "ticker", "next_token": "t1"},
                     {"action": "ticker", "next_token": "t1"}]  # fmt: skip


def test_given_a_running_action_without_follow_then_it_prints_what_is_there_and_stops(
    answers, capsys
) -> None:
    answers.pop(0)
    answers += [page(["tick 1"], "t1"), page([], "t1")]

    code, out, _ = run(capsys, "logs", "lab-1", "--action", "ticker")

    assert (code, out) == (exit_codes.OK, "tick 1\n")
    assert answers == []


def test_given_json_when_read_then_one_document_with_every_line(answers, capsys) -> None:
    answers.pop(0)
    answers += [page(["a"], "t1"), page(["b"], None, "failed", 5)]

    code, out, _ = run(capsys, "logs", "lab-1", "--action", "ticker", "--json")

    document = json.loads(out)
    assert code == exit_codes.OK
    assert (document["lines"], document["exit_code"], document["next_token"]) == (
        ["a", "b"],
        5,
        None,
    )


def test_given_ctrl_c_while_following_then_exit_130_quietly(answers, capsys) -> None:
    answers.pop(0)
    answers += [page(["tick 1"], "t1"), KeyboardInterrupt()]

    code, out, err = run(capsys, "logs", "lab-1", "--action", "ticker", "--follow")

    assert code == exit_codes.INTERRUPTED
    assert out == "tick 1\n" and err == ""
