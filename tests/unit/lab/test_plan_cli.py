"""`ads plan`: in-process through ads.cli.main.main and as the installed console script."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ads.cli.main import main
from ads.config import reset_config
from tests.unit.lab.specs import BAD, FIXTURES

KDM = str(FIXTURES / "kdm-iitkgp.labspec.json")
TRACKER = str(FIXTURES / "lab-usage-tracker.labspec.json")
JSON_KEYS = {
    "os",
    "arch",
    "image",
    "instance_type",
    "memory_mib",
    "root_volume_gib",
    "hourly_cost_usd",
    "steps",
    "warnings",
}


@pytest.fixture(autouse=True)
def clean_config(monkeypatch):
    for name in list(os.environ):
        if name.startswith("ADS_") or name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
            monkeypatch.delenv(name)
    reset_config()
    yield
    reset_config()


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["plan", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_given_a_real_spec_when_planned_then_the_summary_shows_os_type_cost_and_steps(capsys):
    code, out, err = run(capsys, KDM)
    assert (code, err) == (0, "")
    assert "ubuntu 22.04 LTS" in out
    assert "substituted for ubuntu 12.04 by OS policy nearest-lts" in out
    assert "t3.micro" in out
    assert "$0.0104 per hour in us-east-1" in out
    assert "$ make -C ../src" in out
    assert "Warnings:" in out and "reached end of life on 2017-04-28" in out


def test_given_json_flag_when_planned_then_one_json_object_with_the_plan_keys(capsys):
    code, out, err = run(capsys, TRACKER, "--json")
    assert (code, err) == (0, "")
    plan = json.loads(out)
    assert set(plan) >= JSON_KEYS
    assert plan["os"]["family"] == "ubuntu"
    assert plan["os"]["version"] == "22.04"
    assert plan["os"]["requested_version"] == "14.04"
    assert plan["os"]["substituted"] is True
    assert plan["image"]["ssm_parameter"].startswith("/aws/service/canonical/ubuntu/server/22.04/")
    assert (plan["instance_type"], plan["memory_mib"], plan["hourly_cost_usd"]) == (
        "t3.small",
        2048,
        0.0208,
    )
    assert len(plan["steps"]) == 9 and plan["steps"][0]["name"] == "build_installer"
    assert plan["steps"][3] == {"name": "build", "commands": ["cd ../;make build"]}
    assert any("14.04" in w for w in plan["warnings"])


def test_given_arch_and_region_options_when_planned_then_they_shape_the_plan(capsys):
    code, out, _ = run(capsys, TRACKER, "--json", "--arch", "aarch64", "--region", "us-west-2")
    plan = json.loads(out)
    assert (code, plan["arch"], plan["instance_type"], plan["region"]) == (
        0,
        "arm64",
        "t4g.small",
        "us-west-2",
    )


def test_given_exact_policy_for_an_ubuntu_12_spec_when_planned_then_exit_2_with_one_line(capsys):
    code, out, err = run(capsys, KDM, "--os-policy", "exact")
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert err.startswith("ads: error: invalid labspec ")
    assert "lab.runtime_requirements.platform.osVersion" in err


def test_given_a_bad_spec_with_many_problems_when_planned_then_all_are_on_one_line(capsys):
    code, out, err = run(capsys, str(BAD / "many-problems.labspec.json"), "--json")
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert err.count(" | ") == 5
    assert "lab.runtime_requirements.platform.installer[1]: found an empty command" in err


@pytest.mark.parametrize("name", sorted(p.name for p in BAD.glob("*.json")))
def test_given_any_bad_fixture_when_planned_then_exit_2_and_a_single_error_line(capsys, name):
    code, out, err = run(capsys, str(BAD / name))
    assert (code, out) == (2, "")
    assert err.startswith("ads: error: ") and err.count("\n") == 1


def test_given_a_missing_file_when_planned_then_exit_2_says_it_cannot_be_read(capsys, tmp_path):
    code, _, err = run(capsys, str(tmp_path / "nope.json"))
    assert code == 2
    assert err == f"ads: error: cannot read {tmp_path / 'nope.json'}: no such file\n"


def test_given_a_lab_checkout_directory_when_planned_then_its_scripts_labspec_is_read(
    capsys, tmp_path
):
    (tmp_path / "scripts").mkdir()
    shutil.copy(KDM, tmp_path / "scripts" / "labspec.json")
    code, out, _ = run(capsys, str(tmp_path), "--json")
    assert (code, json.loads(out)["lab_name"]) == (0, "Kinematics & Dynamics of Mechanism")


def test_given_a_directory_without_a_labspec_when_planned_then_exit_2(capsys, tmp_path):
    code, _, err = run(capsys, str(tmp_path))
    assert code == 2
    assert "is a directory without scripts/labspec.json" in err


def test_given_stdin_when_planned_with_dash_then_the_spec_is_read_from_it(capsys, monkeypatch):
    data = Path(KDM).read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, out, _ = run(capsys, "-", "--json")
    assert (code, json.loads(out)["instance_type"]) == (0, "t3.micro")


def test_given_an_unknown_arch_option_when_planned_then_exit_2_lists_the_spellings(capsys):
    code, _, err = run(capsys, KDM, "--arch", "sparc")
    assert code == 2
    assert (
        err.startswith("ads: error: --arch: found 'sparc'; allowed: x86_64")
        and err.count("\n") == 1
    )


def test_given_configured_allowed_types_and_policy_when_planned_then_they_apply(
    capsys, monkeypatch
):
    monkeypatch.setenv("ADS_ALLOWED_INSTANCE_TYPES", "t3.medium,t3.large")
    monkeypatch.setenv("ADS_DEFAULT_OS_POLICY", "exact")
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    reset_config()
    code, _, err = run(capsys, KDM)
    assert code == 2 and "policy exact" in err
    code, out, _ = run(capsys, KDM, "--json", "--os-policy", "nearest-lts")
    plan = json.loads(out)
    assert (code, plan["instance_type"], plan["region"]) == (0, "t3.medium", "us-west-2")


def test_given_a_broken_configuration_when_planned_then_exit_2_without_traceback(
    capsys, monkeypatch
):
    monkeypatch.setenv("ADS_DEFAULT_OS_POLICY", "sometimes")
    reset_config()
    code, _, err = run(capsys, KDM)
    assert code == 2
    assert err.startswith("ads: error: invalid ADS configuration") and err.count("\n") == 1


# --- the installed console script ---------------------------------------------------------


def ads_script() -> str:
    script = Path(sys.executable).with_name("ads")
    if not script.exists():
        script = Path(__file__).resolve().parents[3] / ".venv" / "bin" / "ads"
    if not script.exists():
        pytest.skip("the ads console script is not installed")
    return str(script)


def run_script(*argv: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ADS_") and k not in ("AWS_REGION", "AWS_DEFAULT_REGION")
    }
    return subprocess.run(
        [ads_script(), "plan", *argv],
        input=stdin,
        capture_output=True,
        timeout=60,
        env=env,
        check=False,
    )


def test_given_the_console_script_when_planning_a_real_spec_as_json_then_exit_0_and_a_plan():
    result = run_script(TRACKER, "--json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    assert json.loads(result.stdout)["instance_type"] == "t3.small"


def test_given_the_console_script_when_reading_stdin_then_the_summary_is_printed():
    result = run_script("-", stdin=Path(KDM).read_bytes())
    assert result.returncode == 0
    assert b"t3.micro" in result.stdout


def test_given_the_console_script_when_the_spec_is_invalid_then_exit_2_one_line_no_traceback():
    result = run_script(str(BAD / "invalid-json.labspec.json"))
    assert result.returncode == 2
    assert result.stdout == b""
    assert b"Traceback" not in result.stderr
    assert result.stderr.decode().count("\n") == 1
    assert result.stderr.startswith(b"ads: error: invalid labspec ")


def test_given_the_console_script_when_the_file_is_missing_then_exit_2_one_line():
    result = run_script("/nonexistent/labspec.json")
    assert (result.returncode, result.stderr) == (
        2,
        b"ads: error: cannot read /nonexistent/labspec.json: no such file\n",
    )


# --- odd arguments: always exit 2 with one line, never a traceback ------------------------


def test_given_an_unknown_os_policy_when_planned_then_exit_2_lists_the_policies_in_one_line(
    capsys,
):
    code, out, err = run(capsys, KDM, "--os-policy", "bogus")
    assert (code, out) == (2, "")
    assert err == (
        "ads: error: --os-policy: found 'bogus'; allowed: exact, same-major, nearest-lts\n"
    )


@pytest.mark.parametrize("region", ["garbage", "", "US-EAST-1", "us-east-1; rm -rf /"])
def test_given_a_region_that_is_not_a_region_name_when_planned_then_exit_2_in_one_line(
    capsys, region
):
    code, out, err = run(capsys, KDM, "--region", region)
    assert (code, out) == (2, "")
    assert err.startswith(f"ads: error: --region: found {region!r}; allowed: ")
    assert err.count("\n") == 1


def test_given_an_empty_stdin_when_planned_with_dash_then_exit_2_says_the_document_is_empty(
    capsys, monkeypatch
):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    code, out, err = run(capsys, "-")
    assert (code, out) == (2, "")
    assert err.startswith("ads: error: invalid labspec <stdin>: $: found an empty document;")
    assert err.count("\n") == 1


def test_given_a_file_over_one_mib_when_planned_then_exit_2_names_the_limit(capsys, tmp_path):
    big = tmp_path / "big.labspec.json"
    big.write_bytes(b" " * (1024 * 1024) + b"{}")
    code, out, err = run(capsys, str(big))
    assert (code, out) == (2, "")
    assert err == (
        f"ads: error: {big}: found more than 1048576 bytes; allowed: a labspec of at most 1 MiB\n"
    )


def test_given_a_labspec_of_exactly_one_mib_when_planned_then_it_is_read(capsys, tmp_path):
    text = Path(KDM).read_bytes()
    padded = tmp_path / "padded.labspec.json"
    padded.write_bytes(text + b" " * (1024 * 1024 - len(text)))
    code, out, _ = run(capsys, str(padded), "--json")
    assert (code, json.loads(out)["instance_type"]) == (0, "t3.micro")


def test_given_a_file_that_cannot_be_opened_when_planned_then_exit_2_gives_the_reason(
    capsys, tmp_path, monkeypatch
):
    locked = tmp_path / "locked.labspec.json"
    shutil.copy(KDM, locked)
    locked.chmod(0)
    if os.geteuid() == 0:
        # root reads any file whatever its mode: make the open fail the way it would for a user.
        real_open = Path.open

        def refuse(self, *args, **kwargs):
            if self == locked:
                raise PermissionError(13, "Permission denied", str(self))
            return real_open(self, *args, **kwargs)

        monkeypatch.setattr(Path, "open", refuse)
    code, out, err = run(capsys, str(locked))
    assert (code, out) == (2, "")
    assert err == f"ads: error: cannot read {locked}: Permission denied\n"


def test_given_a_lab_checkout_with_a_labspec_at_its_root_when_planned_then_it_is_read(
    capsys, tmp_path
):
    shutil.copy(KDM, tmp_path / "labspec.json")
    code, out, _ = run(capsys, str(tmp_path), "--json")
    assert (code, json.loads(out)["lab_slug"]) == (0, "kinematics-dynamics-of")


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_given_an_endless_file_when_planned_then_only_the_limit_is_read_and_exit_2():
    result = run_script("/dev/zero")
    assert result.returncode == 2
    assert result.stderr == (
        b"ads: error: /dev/zero: found more than 1048576 bytes; allowed: a labspec of at most "
        b"1 MiB\n"
    )


@pytest.mark.parametrize(
    "argv",
    [
        ("--os-policy", "bogus", KDM),
        ("--arch", "sparc", KDM),
        ("--region", "nowhere", KDM),
        ("/",),
        ("-",),
    ],
    ids=["os-policy", "arch", "region", "directory", "empty-stdin"],
)
def test_given_odd_arguments_to_the_console_script_then_exit_2_one_line_no_traceback(argv):
    result = run_script(*argv)
    assert result.returncode == 2
    assert result.stdout == b""
    assert result.stderr.startswith(b"ads: error: ") and result.stderr.count(b"\n") == 1
