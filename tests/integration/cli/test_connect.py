"""`ads connect` against the fake API: the Session Manager command it prints or runs."""

from __future__ import annotations

import shlex
import stat
from pathlib import Path

import pytest

from ads.cli import connect_cmd, exit_codes
from ads.cli.main import main
from tests.integration.cli.conftest import TEST_ACCESS_KEY, TEST_SECRET_KEY
from tests.integration.cli.fake_api import FakeAdsApi

INSTANCE = "i-0123456789abcdef0"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def ec2_lab(api: FakeAdsApi, **fields) -> dict:
    plan = {"region": "eu-west-1", "access": "private", "lab_ports": [80]}
    return api.add_lab("READY", provider="ec2", vm_id=INSTANCE, plan=plan, **fields)


@pytest.fixture
def no_tools(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))


@pytest.fixture
def fake_tools(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """`aws` and `session-manager-plugin` on PATH; `aws` writes its arguments to a file."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "aws-args"
    (bin_dir / "aws").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {shlex.quote(str(log))}\n')
    (bin_dir / "session-manager-plugin").write_text("#!/bin/sh\nexit 0\n")
    for tool in bin_dir.iterdir():
        tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    return log


def test_given_a_private_lab_and_a_port_when_connecting_then_the_port_forward_is_printed(
    api, capsys, no_tools
):
    lab = ec2_lab(api)

    code, out, err = run(capsys, "connect", lab["lab_id"], "--port", "80", "--endpoint", api.url)

    assert code == exit_codes.OK
    assert shlex.split(out) == [
        "aws",
        "ssm",
        "start-session",
        "--target",
        INSTANCE,
        "--region",
        "eu-west-1",
        "--document-name",
        "AWS-StartPortForwardingSession",
        "--parameters",
        "portNumber=80,localPortNumber=80",
    ]
    assert "http://localhost:80/" in err
    assert "session-manager-plugin not found" in err


def test_given_no_port_when_connecting_then_a_shell_session_and_the_port_hint(
    api, capsys, no_tools
):
    lab = ec2_lab(api)

    code, out, err = run(capsys, "connect", lab["lab_id"], "--print", "--endpoint", api.url)

    assert code == exit_codes.OK
    assert shlex.split(out) == [
        "aws",
        "ssm",
        "start-session",
        "--target",
        INSTANCE,
        "--region",
        "eu-west-1",
    ]
    assert f"ads connect {lab['lab_id']} --port 80" in err


def test_given_the_tools_on_path_when_connecting_then_the_session_runs(
    api, capsys, fake_tools, tmp_path, monkeypatch
):
    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[lab-admin]\naws_access_key_id = {TEST_ACCESS_KEY}\n"
        f"aws_secret_access_key = {TEST_SECRET_KEY}\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    lab = ec2_lab(api)

    code, out, _ = run(
        capsys, "connect", lab["lab_id"], "--port", "8080", "--profile", "lab-admin",
        "--endpoint", api.url,
    )  # fmt: skip

    assert code == exit_codes.OK
    assert out == ""
    assert fake_tools.read_text().split() == [
        "ssm",
        "start-session",
        "--target",
        INSTANCE,
        "--region",
        "eu-west-1",
        "--profile",
        "lab-admin",
        "--document-name",
        "AWS-StartPortForwardingSession",
        "--parameters",
        "portNumber=8080,localPortNumber=8080",
    ]


def test_given_exec_without_the_plugin_when_connecting_then_it_fails_naming_it(
    api, capsys, no_tools
):
    lab = ec2_lab(api)

    code, out, err = run(capsys, "connect", lab["lab_id"], "--exec", "--endpoint", api.url)

    assert code == exit_codes.FAILED
    assert out == ""
    assert "aws and session-manager-plugin not found on PATH" in err


def test_given_a_destroyed_lab_when_connecting_then_there_is_nothing_to_connect_to(
    api, capsys, no_tools
):
    lab = api.add_lab("DESTROYED", provider="ec2", vm_id=INSTANCE)

    code, out, err = run(capsys, "connect", lab["lab_id"], "--endpoint", api.url)

    assert code == exit_codes.CONFLICT
    assert out == ""
    assert "is DESTROYED: there is no VM to connect to" in err


def test_given_a_local_lab_when_connecting_with_print_then_it_says_where_the_app_answers(
    api, capsys, no_tools
):
    lab = api.add_lab("READY", app_url="http://127.0.0.1:43211/")

    code, out, _ = run(capsys, "connect", lab["lab_id"], "--print", "--endpoint", api.url)

    assert code == exit_codes.OK
    assert "runs on this machine" in out
    assert "http://127.0.0.1:43211/" in out
    assert "start-session" not in out


def test_given_a_local_lab_when_connecting_to_its_port_then_the_local_address_is_printed(
    api, capsys, no_tools
):
    lab = api.add_lab("READY", app_url="http://127.0.0.1:23456/", lab_ports=[80])

    for port in ("80", "23456"):
        code, out, _ = run(capsys, "connect", lab["lab_id"], "--port", port, "--endpoint", api.url)
        assert (code, out) == (exit_codes.OK, "127.0.0.1:23456\n")

    code, out, err = run(capsys, "connect", lab["lab_id"], "--port", "81", "--endpoint", api.url)
    assert code == exit_codes.INVALID_INPUT
    assert "--port: found 81" in err and "allowed: 80, 23456" in err


def test_given_a_caller_other_than_root_when_opening_a_local_shell_then_one_line_says_why(
    api, capsys, no_tools, monkeypatch
):
    lab = api.add_lab("READY", app_url="http://127.0.0.1:23456/")
    monkeypatch.setattr("os.geteuid", lambda: 1000)

    code, out, err = run(
        capsys, "connect", lab["lab_id"], "--command", "id -u", "--endpoint", api.url
    )

    assert code == exit_codes.FAILED
    assert out == ""
    assert "only root" in err and "sudo" in err
    assert len(err.strip().splitlines()) == 1


def test_given_an_ec2_lab_when_connecting_with_a_command_then_it_is_refused(api, capsys, no_tools):
    lab = ec2_lab(api)

    code, _, err = run(capsys, "connect", lab["lab_id"], "--command", "ls", "--endpoint", api.url)

    assert code == exit_codes.INVALID_INPUT
    assert "--command: runs in a local lab's sandbox only" in err


def test_given_a_bad_port_when_connecting_then_argparse_names_it(api, capsys):
    with pytest.raises(SystemExit) as caught:
        main(["connect", "lab", "--port", "99999"])

    assert caught.value.code == 2
    assert "found '99999'; allowed: a port number from 1 to 65535" in capsys.readouterr().err


def test_given_a_record_without_plan_region_when_building_then_the_execution_region_is_used():
    record = {
        "vm_id": INSTANCE,
        "execution_arn": "arn:aws-cn:states:cn-north-1:123456789012:execution:DeployLab:x",
    }

    assert connect_cmd.session_command(record, None)[-2:] == ["--region", "cn-north-1"]
