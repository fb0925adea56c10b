"""The lab commands driven through `ads.cli.main.main` against the fake API over HTTP."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from ads.cli import exit_codes
from ads.cli.exit_codes import CommandError
from ads.cli.lab_cmds import parse_source
from ads.cli.main import main
from ads.errors import LabspecError
from ads.lab.labspec import parse_labspec
from tests.integration.cli.fake_api import FakeAdsApi


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def field_value(out: str, name: str) -> str | None:
    """The value of a `Name:   value` line of the human record."""
    for line in out.splitlines():
        if line.startswith(f"{name}:"):
            return line.split(":", 1)[1].strip()
    return None


def one_json_document(out: str) -> object:
    # json.loads rejects trailing data, so this also proves there is exactly one document.
    return json.loads(out)


# --- deploy ------------------------------------------------------------------------------------


def test_given_a_valid_labspec_when_deployed_then_the_api_gets_labspec_source_options_and_key(
    api: FakeAdsApi, labspec_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys,
        "deploy", str(labspec_path), "--endpoint", api.url,
        "--source", "git:https://github.com/virtual-labs/data-mining.git@v1.2",
        "--os-policy", "same-major", "--arch", "x86_64", "--idempotency-key", "ci-run-42",
    )  # fmt: skip

    assert code == exit_codes.OK, err
    post = api.received[-1]
    assert (post.method, post.path) == ("POST", "/labs")
    assert post.body["labspec"] == json.loads(labspec_path.read_text())
    assert post.body["source"] == {
        "git": "https://github.com/virtual-labs/data-mining.git",
        "ref": "v1.2",
    }
    assert post.body["options"] == {"os_policy": "same-major", "arch": "x86_64"}
    assert post.headers["idempotency-key"] == "ci-run-42"
    lab_id = next(iter(api.labs))
    assert f"Lab {lab_id} is REQUESTED" in out
    # The plan reads as `ads plan` writes it (ads.cli.plan_render).
    assert "substituted for ubuntu 12.04 by OS policy nearest-lts" in out
    assert "$0.0104 per hour in us-east-1" in out
    assert "t3.micro" in out
    assert "warning: ubuntu 12.04 is past its end of life" in out


def test_given_json_flag_when_deployed_then_stdout_is_exactly_the_api_answer(
    api: FakeAdsApi, labspec_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "deploy", str(labspec_path), "--endpoint", api.url, "--json")

    assert code == exit_codes.OK
    answer = one_json_document(out)
    assert answer["lab_id"] in api.labs
    assert answer["status"] == "REQUESTED"
    assert answer["console_url"].startswith("https://console.aws.amazon.com/states/")


def test_given_the_same_idempotency_key_twice_when_deployed_then_the_same_lab_is_reported_as_a_replay(
    api: FakeAdsApi, labspec_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("deploy", str(labspec_path), "--endpoint", api.url, "--idempotency-key", "k1")
    run(capsys, *args)
    code, out, _ = run(capsys, *args)

    assert code == exit_codes.OK
    assert len(api.labs) == 1
    assert "a request with this idempotency key was made before" in out


def test_given_a_lab_checkout_directory_when_deployed_then_its_scripts_labspec_is_sent(
    api: FakeAdsApi, labspec_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkout = tmp_path / "data-mining"
    (checkout / "scripts").mkdir(parents=True)
    shutil.copy(labspec_path, checkout / "scripts" / "labspec.json")

    code, _, err = run(capsys, "deploy", str(checkout), "--endpoint", api.url)

    assert code == exit_codes.OK, err
    assert api.received[-1].body["labspec"] == json.loads(labspec_path.read_text())
    assert "source" not in api.received[-1].body


def test_given_dash_when_deployed_then_the_labspec_is_read_from_stdin(
    api: FakeAdsApi,
    labspec_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(labspec_path.read_bytes())))

    code, _, err = run(
        capsys, "deploy", "-", "--endpoint", api.url, "--source", "s3://lab-sources/dm.zip"
    )

    assert code == exit_codes.OK, err
    assert api.received[-1].body["source"] == {"s3": "s3://lab-sources/dm.zip"}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "$: found an empty document"),
        ("{ not json", "$: found invalid JSON"),
        ('{"template": "1.0"}', "lab: found nothing"),
    ],
)
def test_given_a_broken_labspec_when_deployed_then_it_is_refused_locally_in_the_words_of_ads_plan(
    api: FakeAdsApi,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str,
    expected: str,
) -> None:
    spec = tmp_path / "labspec.json"
    spec.write_text(content)
    plan_code, _, plan_err = run(capsys, "plan", str(spec))

    code, out, err = run(capsys, "deploy", str(spec), "--endpoint", api.url)

    assert code == plan_code == exit_codes.INVALID_INPUT
    assert out == ""
    assert err == plan_err
    assert err.startswith(f"ads: error: invalid labspec {spec}: {expected}")
    assert len(err.splitlines()) == 1
    assert api.received == []


def test_given_a_labspec_with_several_problems_when_deployed_then_every_problem_is_named(
    api: FakeAdsApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "labspec.json"
    spec.write_text(
        json.dumps({"template": "1.0", "lab": {"description": 5, "runtime_requirements": []}})
    )
    with pytest.raises(LabspecError) as parsed:
        parse_labspec(spec.read_text())

    code, _, err = run(capsys, "deploy", str(spec), "--endpoint", api.url)

    assert code == exit_codes.INVALID_INPUT
    assert len(parsed.value.problems) > 1
    assert all(str(problem).split(";")[0] in err for problem in parsed.value.problems)


def test_given_a_missing_labspec_path_when_deployed_then_exit_2_like_ads_plan(
    api: FakeAdsApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "nope.json")
    _, _, plan_err = run(capsys, "plan", missing)

    code, _, err = run(capsys, "deploy", missing, "--endpoint", api.url)

    assert code == exit_codes.INVALID_INPUT
    assert err == plan_err
    assert missing in err
    assert api.received == []


def test_given_an_unknown_source_scheme_when_deployed_then_exit_2_lists_the_allowed_forms(
    api: FakeAdsApi, labspec_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys, "deploy", str(labspec_path), "--endpoint", api.url, "--source", "ftp://x/y"
    )

    assert code == exit_codes.INVALID_INPUT
    assert "--source: found 'ftp://x/y'; allowed: git:URL" in err
    assert api.received == []


def test_given_the_api_refuses_the_request_when_deployed_then_exit_2_lists_each_field_problem(
    api: FakeAdsApi, labspec_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api.canned[("POST", "/labs")] = (
        400,
        {
            "error": "invalid_input",
            "message": "invalid request: options.arch: found 'sparc' (and 1 more)",
            "problems": [
                {"path": "options.arch", "found": "'sparc'", "allowed": "x86_64, arm64"},
                {"path": "source.ref", "found": "''", "allowed": "a branch, tag or commit"},
            ],
        },
    )

    code, out, err = run(
        capsys, "deploy", str(labspec_path), "--endpoint", api.url, "--arch", "sparc"
    )

    assert code == exit_codes.INVALID_INPUT
    assert out == ""
    assert err.splitlines() == [
        "ads: error: invalid request: options.arch: found 'sparc' (and 1 more)",
        "  - options.arch: found 'sparc'; allowed: x86_64, arm64",
        "  - source.ref: found ''; allowed: a branch, tag or commit",
    ]


# --- deploy --wait ----------------------------------------------------------------------------


def test_given_wait_when_the_lab_becomes_ready_then_each_status_change_is_one_progress_line_and_exit_0(
    api: FakeAdsApi, labspec_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "deploy", str(labspec_path), "--endpoint", api.url, "--wait")

    assert code == exit_codes.OK, err
    lab_id = next(iter(api.labs))
    progress = [line for line in err.splitlines() if line.startswith("[")]
    assert [line.split()[-1] for line in progress] == [
        "REQUESTED",
        "PROVISIONING",
        "INITIALIZING",
        "HEALTH_CHECKING",
        "READY",
    ]
    assert all(lab_id in line for line in progress)
    assert "\r" not in err  # not a terminal: no spinner
    assert f"{lab_id} is READY after" in err
    assert field_value(out, "App URL") == "http://127.0.0.1:8080/"
    assert field_value(out, "Endpoint") == "http://127.0.0.1:9089"


def test_given_wait_and_json_when_the_lab_becomes_ready_then_stdout_is_only_the_final_record(
    api: FakeAdsApi, labspec_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "deploy", str(labspec_path), "--endpoint", api.url, "--wait", "--json"
    )

    assert code == exit_codes.OK
    record = one_json_document(out)
    assert record["status"] == "READY"
    assert record["app_url"] == "http://127.0.0.1:8080/"


def test_given_wait_when_the_lab_fails_then_exit_1_with_the_failed_step_and_cause(
    api: FakeAdsApi, labspec_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api.deploy_script = ["REQUESTED", "PROVISIONING", "INITIALIZING", "FAILED"]
    api.failure = {
        "failed_step": "Initialise VM",
        "cause": "make -C ../src exited 2\nmissing header foo.h",
    }

    code, _, err = run(capsys, "deploy", str(labspec_path), "--endpoint", api.url, "--wait")

    assert code == exit_codes.FAILED
    lab_id = next(iter(api.labs))
    assert f"ads: error: lab {lab_id} is FAILED in step Initialise VM, not READY" in err
    assert "  make -C ../src exited 2\n  missing header foo.h" in err


def test_given_wait_when_the_lab_stays_in_progress_past_the_timeout_then_exit_6(
    api: FakeAdsApi, labspec_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api.deploy_script = ["PROVISIONING"] * 10_000

    code, out, err = run(
        capsys,
        "deploy",
        str(labspec_path),
        "--endpoint",
        api.url,
        "--wait",
        "--timeout",
        "0.3",
        "--json",
    )

    assert code == exit_codes.TIMEOUT
    assert one_json_document(out)["status"] == "PROVISIONING"
    assert "is still PROVISIONING after 0.3s (--timeout), not READY" in err


def test_given_wait_when_the_endpoint_fails_once_while_polling_then_the_wait_goes_on(
    api: FakeAdsApi, labspec_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    original = api.advance
    calls = {"n": 0}

    def flaky(lab: dict) -> dict:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("boom")  # the server answers with a broken connection
        return original(lab)

    api.advance = flaky  # type: ignore[method-assign]

    code, _, err = run(capsys, "deploy", str(labspec_path), "--endpoint", api.url, "--wait")

    assert code == exit_codes.OK, err
    assert calls["n"] > 2


def test_given_wait_when_the_endpoint_keeps_failing_while_polling_then_exit_5_after_a_few_tries(
    api: FakeAdsApi, labspec_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = {"n": 0}

    def broken(lab: dict) -> dict:
        calls["n"] += 1
        raise RuntimeError("boom")

    api.advance = broken  # type: ignore[method-assign]

    code, _, err = run(capsys, "deploy", str(labspec_path), "--endpoint", api.url, "--wait")

    assert code == exit_codes.UNREACHABLE
    assert calls["n"] == 4
    assert "cannot reach the ADS endpoint" in err


# --- list / show / history ----------------------------------------------------------------------


def test_given_labs_when_listed_then_a_table_shows_id_name_status_and_endpoint(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    ready = api.add_lab("READY", endpoint="http://127.0.0.1:9089", app_url="http://127.0.0.1:8080/")
    failed = api.add_lab("FAILED", name="Chemistry")

    code, out, _ = run(capsys, "list", "--endpoint", api.url)

    assert code == exit_codes.OK
    lines = out.splitlines()
    assert lines[0].split() == ["LAB", "ID", "NAME", "STATUS", "CREATED", "EXPIRES", "URL"]
    assert any(
        ready["lab_id"] in line and "READY" in line and "http://127.0.0.1:8080/" in line
        for line in lines
    )
    assert any(
        failed["lab_id"] in line and "Chemistry" in line and "FAILED" in line for line in lines
    )


def test_given_labs_whose_vm_is_gone_when_listed_then_their_old_url_is_not_offered(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    gone = [
        api.add_lab(status, name=f"Lab {status}", app_url=f"http://127.0.0.1:{port}/")
        for status, port in (("FAILED", 8001), ("DESTROYING", 8002), ("DESTROYED", 8003))
    ]

    code, out, _ = run(capsys, "list", "--endpoint", api.url)

    assert code == exit_codes.OK
    for lab in gone:
        [line] = [line for line in out.splitlines() if lab["lab_id"] in line]
        assert line.split()[-1] == "-"
    assert "http://127.0.0.1:800" not in out


def test_given_stdout_closed_early_when_a_command_prints_then_it_exits_quietly_without_traceback(
    api: FakeAdsApi, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = api.add_lab("READY")

    class ClosedPipe(io.StringIO):
        def write(self, _: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr("sys.stdout", ClosedPipe())
    code = main(["show", lab["lab_id"], "--json", "--endpoint", api.url])

    assert code == exit_codes.BROKEN_PIPE
    assert capsys.readouterr().err == ""


def test_given_a_status_filter_and_limit_when_listed_as_json_then_the_query_carries_them(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    api.add_lab("READY")
    api.add_lab("FAILED")
    api.add_lab("DESTROYED")

    code, out, _ = run(
        capsys, "list", "--endpoint", api.url, "--status", "ready,failed", "--limit", "1", "--json"
    )

    assert code == exit_codes.OK
    assert api.received[-1].query == {"status": "READY,FAILED", "limit": "1"}
    document = one_json_document(out)
    assert len(document["labs"]) == 1
    assert document["next_token"] == "1"


def test_given_more_labs_than_a_page_when_listed_with_all_pages_then_every_lab_is_returned(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = {api.add_lab("READY")["lab_id"] for _ in range(5)}

    code, out, _ = run(
        capsys, "list", "--endpoint", api.url, "--limit", "2", "--all-pages", "--json"
    )

    assert code == exit_codes.OK
    document = one_json_document(out)
    assert {lab["lab_id"] for lab in document["labs"]} == ids
    assert document["next_token"] is None
    assert [r.query.get("next_token") for r in api.received] == [None, "2", "4"]


def test_given_a_partial_page_when_listed_for_people_then_the_way_to_continue_is_shown(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    for _ in range(3):
        api.add_lab("READY")

    _, out, _ = run(capsys, "list", "--endpoint", api.url, "--limit", "2")

    assert "More labs: ads list --all-pages (or --next-token 2)" in out


def test_given_an_unknown_status_when_listed_then_argument_parsing_exits_2(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["list", "--endpoint", api.url, "--status", "READY,SLEEPING"])

    assert exited.value.code == exit_codes.INVALID_INPUT
    assert "found SLEEPING; allowed: REQUESTED" in capsys.readouterr().err
    assert api.received == []


def test_given_a_failed_lab_when_shown_then_the_record_has_plan_cause_and_status_history(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = api.add_lab("FAILED", failed_step="Check Health", cause="agent answered 503")

    code, out, _ = run(capsys, "show", lab["lab_id"], "--endpoint", api.url)

    assert code == exit_codes.OK
    assert field_value(out, "Lab") == lab["lab_id"]
    assert field_value(out, "Status") == "FAILED"
    assert field_value(out, "Failed step") == "Check Health"
    assert field_value(out, "Cause") == "agent answered 503"
    assert field_value(out, "Source") == "https://example.org/labs/data-mining.git @ main"
    assert "Plan:" in out and "ubuntu 22.04" in out
    assert "Status history:" in out


def test_given_json_when_shown_then_stdout_is_the_record(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = api.add_lab("READY")

    code, out, _ = run(capsys, "show", lab["lab_id"], "--endpoint", api.url, "--json")

    assert code == exit_codes.OK
    assert one_json_document(out) == lab


def test_given_an_unknown_lab_when_shown_then_exit_3_with_the_api_message(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "show", "no-such-lab", "--endpoint", api.url, "--json")

    assert code == exit_codes.NOT_FOUND
    assert out == ""
    assert err == "ads: error: no lab with id 'no-such-lab'\n"


def test_given_a_lab_when_its_history_is_shown_then_each_state_has_start_time_duration_and_attempts(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = api.add_lab("READY")

    code, out, _ = run(capsys, "history", lab["lab_id"], "--endpoint", api.url)

    assert code == exit_codes.OK
    assert "Deploy execution: SUCCEEDED, started 2026-01-01 10:00:00, took 2m 05s" in out
    create = next(line for line in out.splitlines() if "Create VM" in line)
    assert create.split()[2:6] == ["SUCCEEDED", "2026-01-01", "10:00:00", "2s"]
    init = next(line for line in out.splitlines() if "Initialise VM" in line)
    assert "2m 00s" in init and "4" in init.split()
    assert "InitInProgress: deploy step build is running" in init


def test_given_json_when_history_is_shown_then_stdout_is_the_api_document(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = api.add_lab("READY")

    code, out, _ = run(capsys, "history", lab["lab_id"], "--endpoint", api.url, "--json")

    assert code == exit_codes.OK
    assert one_json_document(out) == api.history(lab)


def test_given_an_unknown_lab_when_history_is_asked_then_exit_3(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "history", "gone", "--endpoint", api.url)

    assert code == exit_codes.NOT_FOUND
    assert "no lab with id 'gone'" in err


# --- destroy ------------------------------------------------------------------------------------


def test_given_a_ready_lab_when_destroyed_then_it_is_destroying_and_the_execution_is_shown(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = api.add_lab("READY")

    code, out, _ = run(capsys, "destroy", lab["lab_id"], "--endpoint", api.url)

    assert code == exit_codes.OK
    assert api.received[-1].method == "DELETE"
    assert f"Lab {lab['lab_id']} is DESTROYING" in out
    assert "destroy-1" in out


def test_given_json_when_destroyed_then_stdout_is_the_202_answer(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = api.add_lab("FAILED")

    code, out, _ = run(capsys, "destroy", lab["lab_id"], "--endpoint", api.url, "--json")

    assert code == exit_codes.OK
    assert one_json_document(out)["status"] == "DESTROYING"


def test_given_a_lab_being_destroyed_when_destroyed_again_then_exit_4(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = api.add_lab("DESTROYING")

    code, _, err = run(capsys, "destroy", lab["lab_id"], "--endpoint", api.url)

    assert code == exit_codes.CONFLICT
    assert err.startswith(
        f"ads: error: lab '{lab['lab_id']}' is DESTROYING; it can become DESTROYING only from"
    )


def test_given_wait_when_destroyed_then_it_waits_until_destroyed_and_exits_0(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = api.add_lab("READY")

    code, out, err = run(
        capsys, "destroy", lab["lab_id"], "--endpoint", api.url, "--wait", "--json"
    )

    assert code == exit_codes.OK, err
    assert one_json_document(out)["status"] == "DESTROYED"
    assert [line.split()[-1] for line in err.splitlines() if line.startswith("[")] == [
        "DESTROYING",
        "DESTROYED",
    ]


def test_given_wait_when_the_destroy_does_not_finish_in_time_then_exit_6(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = api.add_lab("READY")
    api.destroy_script = ["DESTROYING"] * 10_000

    code, _, err = run(
        capsys, "destroy", lab["lab_id"], "--endpoint", api.url, "--wait", "--timeout", "0.2"
    )

    assert code == exit_codes.TIMEOUT
    assert "is still DESTROYING after 0.2s (--timeout), not DESTROYED" in err


def test_given_an_unknown_lab_when_destroyed_then_exit_3(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, _ = run(capsys, "destroy", "nothing-here", "--endpoint", api.url)

    assert code == exit_codes.NOT_FOUND


# --- failures of the endpoint -----------------------------------------------------------------


def test_given_the_api_fails_with_500_when_shown_then_exit_1_says_the_api_failed(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    api.canned[("GET", "/labs/x")] = (500, {"message": "Internal server error"})

    code, _, err = run(capsys, "show", "x", "--endpoint", api.url)

    assert code == exit_codes.FAILED
    assert err == "ads: error: the ADS API failed (500): Internal server error\n"


# --- --source forms ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "git:https://github.com/vlead/dm.git@main",
            {"git": "https://github.com/vlead/dm.git", "ref": "main"},
        ),
        (
            "git:https://github.com/vlead/dm.git@feature/new-ui",
            {"git": "https://github.com/vlead/dm.git", "ref": "feature/new-ui"},
        ),
        ("git:https://github.com/vlead/dm.git", {"git": "https://github.com/vlead/dm.git"}),
        (
            "git:https://ci@gitlab.example.org/dm.git",
            {"git": "https://ci@gitlab.example.org/dm.git"},
        ),
        ("s3://lab-sources/dm/v2.zip", {"s3": "s3://lab-sources/dm/v2.zip"}),
        (None, None),
    ],
)
def test_given_a_source_argument_when_parsed_then_it_becomes_the_api_source_object(
    value: str | None, expected: dict | None
) -> None:
    assert parse_source(value) == expected


@pytest.mark.parametrize(
    "value",
    ["git:", "s3://bucket-only", "https://github.com/x/y.git", "s3://", "git:https://x/y.git@"],
)
def test_given_a_malformed_source_when_parsed_then_it_is_refused_with_the_allowed_forms(
    value: str,
) -> None:
    with pytest.raises(CommandError) as error:
        parse_source(value)

    assert error.value.exit_code == exit_codes.INVALID_INPUT
    assert error.value.message.startswith(f"--source: found {value!r}; allowed: git:URL")


@pytest.mark.parametrize(
    "value",
    [
        "git:git@github.com:vlead/dm.git",
        "git:git@github.com:vlead/dm.git@v2",
        "git:ssh://git@github.com/vlead/dm.git",
    ],
)
def test_given_an_ssh_source_when_deployed_then_it_is_refused_in_one_line_before_any_request(
    api: FakeAdsApi, labspec_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    code, out, err = run(
        capsys, "deploy", str(labspec_path), "--endpoint", api.url, "--source", value
    )

    assert code == exit_codes.INVALID_INPUT
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"ads: error: --source: found {value!r}; allowed: git:URL")
    assert "https://" in err and "no SSH key" in err
    assert api.received == []


def test_given_a_region_the_control_plane_refuses_when_deployed_then_its_one_line_reason_is_shown(
    api: FakeAdsApi, labspec_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ads.api_models import DeploymentOptions
    from ads.config import AdsConfig
    from ads.deployments import region_problems
    from ads.errors import InvalidInputError

    # The answer the real API gives (ads.deployments), served by the fake.
    refusal = InvalidInputError(
        region_problems(DeploymentOptions(region="eu-west-1"), AdsConfig(region="us-east-1")),
        subject="request",
    )
    api.canned[("POST", "/labs")] = (400, refusal.to_dict())

    code, out, err = run(
        capsys, "deploy", str(labspec_path), "--endpoint", api.url, "--region", "eu-west-1"
    )

    assert code == exit_codes.INVALID_INPUT
    assert api.received[-1].body["options"] == {"region": "eu-west-1"}
    assert err == (
        "ads: error: invalid request: options.region: found 'eu-west-1'; allowed: "
        "'us-east-1', the region this control plane deploys labs in (deploy ADS in "
        "eu-west-1 to run labs there)\n"
    )
    assert out == ""


def test_given_the_api_names_one_problem_in_its_message_when_refused_then_it_is_not_repeated(
    api: FakeAdsApi, labspec_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api.canned[("POST", "/labs")] = (
        400,
        {
            "error": "invalid_input",
            "message": "invalid request: options.arch: found 'sparc'; allowed: x86_64, arm64",
            "problems": [{"path": "options.arch", "found": "'sparc'", "allowed": "x86_64, arm64"}],
        },
    )

    code, _, err = run(capsys, "deploy", str(labspec_path), "--endpoint", api.url)

    assert code == exit_codes.INVALID_INPUT
    assert (
        err == "ads: error: invalid request: options.arch: found 'sparc'; allowed: x86_64, arm64\n"
    )


def test_given_wait_when_destroyed_for_people_then_the_last_line_says_destroyed(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = api.add_lab("FAILED")

    code, out, _ = run(capsys, "destroy", lab["lab_id"], "--endpoint", api.url, "--wait")

    assert code == exit_codes.OK
    assert out.splitlines()[0] == f"Lab {lab['lab_id']} is DESTROYING"
    assert out.splitlines()[-1] == f"Lab {lab['lab_id']} is DESTROYED"
