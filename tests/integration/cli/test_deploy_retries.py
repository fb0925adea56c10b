"""`ads deploy` under a slow or briefly failing endpoint: one Idempotency-Key per run,
retries that replay the same lab, and no false "not running" claim."""

from __future__ import annotations

import socket
import time

import pytest

from ads.cli import exit_codes, transport
from ads.cli.api_error import ApiError
from ads.cli.client import AdsApiClient
from ads.cli.endpoint import ClientSettings
from ads.cli.main import main
from ads.cli.retries import RetryPolicy, call_with_retries, is_transient

# The real backoff, kept before the fixture below makes every wait zero.
REAL_DELAY = RetryPolicy.delay


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    monkeypatch.setattr(transport, "DEFAULT_HTTP_TIMEOUT_S", 0.5)
    monkeypatch.setattr(RetryPolicy, "delay", lambda self, retry, rand=None: 0.0)


def _posts(api):
    return [r for r in api.received if r.method == "POST" and r.path == "/labs"]


def test_given_no_key_flag_when_deploying_then_a_fresh_key_is_sent(api, labspec_path, capsys):
    assert main(["deploy", str(labspec_path), "--endpoint", api.url]) == exit_codes.OK
    assert main(["deploy", str(labspec_path), "--endpoint", api.url]) == exit_codes.OK

    keys = [r.headers.get("idempotency-key") for r in _posts(api)]
    assert all(k and k.startswith("ads-cli-") for k in keys)
    assert keys[0] != keys[1]
    assert len(api.labs) == 2


def test_given_a_first_post_that_times_out_when_deploying_then_the_retry_replays_the_same_lab(
    api, labspec_path, capsys
):
    real_handle = api.handle
    calls = {"post": 0}

    def slow_first_post(method, raw_path, headers, raw_body):
        answer = real_handle(method, raw_path, headers, raw_body)
        if method == "POST":
            calls["post"] += 1
            if calls["post"] == 1:
                time.sleep(1.0)  # the lab is created, but the answer comes too late
        return answer

    api.handle = slow_first_post

    code = main(["deploy", str(labspec_path), "--endpoint", api.url, "--json"])

    out, err = capsys.readouterr()
    assert code == exit_codes.OK, err
    posts = _posts(api)
    assert len(posts) == 2
    assert posts[0].headers["idempotency-key"] == posts[1].headers["idempotency-key"]
    assert len(api.labs) == 1
    assert '"idempotent_replay": true' in out
    assert "retrying" in err and "attempt 2 of 5" in err
    assert "not running" not in err


def test_given_503_answers_then_success_when_deploying_then_it_waits_and_succeeds(
    api, labspec_path, capsys
):
    real_handle = api.handle
    answers = iter([(503, {"error": "workflow_unavailable", "message": "throttled"})] * 2)

    def busy_then_ok(method, raw_path, headers, raw_body):
        if method == "POST":
            canned = next(answers, None)
            if canned:
                return canned
        return real_handle(method, raw_path, headers, raw_body)

    api.handle = busy_then_ok

    assert main(["deploy", str(labspec_path), "--endpoint", api.url]) == exit_codes.OK
    assert len(api.labs) == 1
    assert capsys.readouterr().err.count("retrying") == 2


def test_given_a_plane_that_never_answers_in_time_when_deploying_then_exit_5_says_busy_not_absent(
    api, labspec_path, capsys
):
    api.delay_s = 1.0

    code = main(["deploy", str(labspec_path), "--endpoint", api.url])

    err = capsys.readouterr().err
    assert code == exit_codes.UNREACHABLE
    assert "busy or slow" in err
    assert "not running" not in err
    assert len(_posts(api)) == 5


def test_given_nothing_listening_when_deploying_then_one_attempt_and_not_running_is_said(
    labspec_path, capsys, isolated_env, monkeypatch
):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    state = isolated_env / ".ads" / "local"
    state.mkdir(parents=True)
    (state / "control-plane.json").write_text(f'{{"endpoint": "http://127.0.0.1:{port}"}}')

    code = main(["deploy", str(labspec_path)])

    err = capsys.readouterr().err
    assert code == exit_codes.UNREACHABLE
    assert "not running" in err
    assert "retrying" not in err


def test_given_a_post_without_a_key_when_it_times_out_then_it_is_not_repeated(api):
    api.delay_s = 1.0
    settings = ClientSettings(api.url, "--endpoint", "us-east-1")
    client = AdsApiClient(settings)

    with pytest.raises(ApiError):
        client.request("POST", "/labs", body={"labspec": {}})

    assert len(_posts(api)) == 1


@pytest.mark.parametrize(
    ("status", "error", "failure", "expected"),
    [
        (None, None, "timeout", True),
        (None, None, "reset", True),
        (None, None, "refused", False),
        (503, None, None, True),
        (429, None, None, True),
        (409, "request_in_progress", None, True),
        (409, "illegal_state_change", None, False),
        (400, "invalid_input", None, False),
        (500, "internal_error", None, False),
    ],
)
def test_given_a_failure_when_classified_then_only_what_a_repeat_cures_is_transient(
    status, error, failure, expected
):
    assert is_transient(status, error, failure) is expected


def test_given_a_policy_when_retries_are_spent_then_the_last_error_is_raised():
    seen: list[int] = []

    def always_fails():
        raise ValueError(f"attempt {len(seen)}")

    with pytest.raises(ValueError, match="attempt"):
        call_with_retries(
            always_fails,
            lambda exc: True,
            policy=RetryPolicy(attempts=3),
            on_retry=lambda exc, attempt, wait: seen.append(attempt),
            sleep=lambda _: None,
        )
    assert seen == [2, 3]


def test_given_the_backoff_when_computed_then_it_grows_and_is_capped():
    policy = RetryPolicy(base_s=1.0, cap_s=10.0)

    waits = [REAL_DELAY(policy, n, rand=lambda: 1.0) for n in (1, 2, 3, 4, 5, 6)]

    assert waits == [1, 2, 4, 8, 10, 10]
    assert REAL_DELAY(policy, 3, rand=lambda: 0.5) == 2
