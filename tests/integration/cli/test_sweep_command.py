"""`ads sweep [--apply]` through `ads.cli.main.main` against the fake API over HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ads.cli import exit_codes
from ads.cli.main import main
from tests.integration.cli.fake_api import FakeAdsApi

FINDING = {
    "kind": "instance",
    "resource": "i-0123456789abcdef0",
    "lab_id": "lab-gone",
    "reason": "lab lab-gone has no record",
    "action": "terminate",
    "outcome": "planned",
    "error": None,
}


def _serve(api: FakeAdsApi, monkeypatch, answer: dict[str, Any], status: int = 200) -> None:
    route = api.route

    def sweep(method, path, query, headers, body):
        if path != "/sweep":
            return route(method, path, query, headers, body)
        return status, {**answer, "applied": method == "POST"} if status == 200 else answer

    monkeypatch.setattr(api, "route", sweep)


def _report(*findings: dict[str, Any]) -> dict[str, Any]:
    return {
        "started_at": "2026-12-01T22:00:00.000Z",
        "findings": list(findings),
        "kept": 3,
        "kept_young": ["i-0fedcba9876543210"],
        "errors": [],
    }


def test_given_a_report_when_swept_without_apply_then_get_is_sent_and_nothing_changes(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    _serve(api, monkeypatch, _report(FINDING))

    code = main(["sweep", "--endpoint", api.url])
    out, err = capsys.readouterr()

    assert code == exit_codes.OK, err
    assert [(r.method, r.path) for r in api.received] == [("GET", "/sweep")]
    assert "what it would do" in out
    assert out.splitlines()[1].split() == ["KIND", "RESOURCE", "LAB", "REASON", "ACTION", "OUTCOME"]
    assert "i-0123456789abcdef0  lab-gone  lab lab-gone has no record  terminate  planned" in out
    assert "younger than the grace period: i-0fedcba9876543210" in out
    assert "run `ads sweep --apply` to act" in out


def test_given_apply_when_a_finding_fails_then_post_is_sent_and_it_exits_1_with_the_error(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    refused = {**FINDING, "outcome": "error", "error": "IncorrectInstanceState: not now"}
    _serve(api, monkeypatch, _report(refused))

    code = main(["sweep", "--apply", "--json", "--endpoint", api.url])
    out, _ = capsys.readouterr()

    assert code == exit_codes.FAILED
    assert [(r.method, r.path) for r in api.received] == [("POST", "/sweep")]
    document = json.loads(out)
    assert document["applied"] is True
    assert document["findings"][0]["error"] == "IncorrectInstanceState: not now"


def test_given_a_caller_who_is_not_an_admin_when_swept_then_it_exits_5_with_the_message(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    message = "GET /sweep is an admin operation; arn:aws:iam::123456789012:user/alice is not one"
    _serve(api, monkeypatch, {"error": "admin_only", "message": message}, status=403)

    code = main(["sweep", "--endpoint", api.url])
    _, err = capsys.readouterr()

    assert code == exit_codes.UNREACHABLE
    assert "is an admin operation" in err
