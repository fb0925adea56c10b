"""The default command timeout: ADS_COMMAND_TIMEOUT_S (CDK context command_timeout_s)
reaches the agent as install.sh --timeout from both providers; the labspec's
runtime_requirements.platform.timeouts still override it per step or action."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from ads.config import DEFAULT_COMMAND_TIMEOUT_S, MAX_COMMAND_TIMEOUT_S, AdsConfig
from ads.errors import ConfigError
from ads.providers.ec2_bootstrap import init_script
from ads.providers.local_init import install_command
from ads.providers.local_sandbox import SandboxLayout


def _option(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


def test_given_no_variable_when_read_then_the_default_command_timeout_applies():
    assert AdsConfig.from_env({}).command_timeout_s == DEFAULT_COMMAND_TIMEOUT_S


def test_given_the_variable_when_read_then_it_is_the_default_command_timeout():
    assert AdsConfig.from_env({"ADS_COMMAND_TIMEOUT_S": "90"}).command_timeout_s == 90


@pytest.mark.parametrize("value", ["0", "-5", "soon", str(MAX_COMMAND_TIMEOUT_S + 1)])
def test_given_a_bad_command_timeout_when_read_then_the_error_names_the_variable(value):
    with pytest.raises(ConfigError) as error:
        AdsConfig.from_env({"ADS_COMMAND_TIMEOUT_S": value})
    assert [p.path for p in error.value.problems] == ["ADS_COMMAND_TIMEOUT_S"]
    assert f"found '{value}'" in error.value.message


def test_given_a_command_timeout_when_the_ec2_init_script_is_made_then_install_gets_it():
    script = init_script(
        prefix="/opt/ads",
        lab_id="lab-1",
        bundle_url="https://example.org/bundle.zip",
        plan={"lab_ports": [80]},
        agent_port=9089,
        command_timeout_s=90,
    )

    install = shlex.split(script.splitlines()[-1])
    assert _option(install, "--timeout") == "90"
    assert _option(install, "--lab-bind") == "0.0.0.0"


def test_given_a_command_timeout_when_the_local_install_command_is_made_then_install_gets_it(
    tmp_path: Path,
):
    layout = SandboxLayout(tmp_path)
    argv = install_command(
        bundle=tmp_path / "bundle",
        layout=layout,
        lab_id="lab-1",
        vm={"agent_port": 9089, "lab_port": 8080, "python": "/usr/bin/python3"},
        exit_path=tmp_path / "exit",
        source_args=[],
        command_timeout_s=90,
    )

    assert _option(argv, "--timeout") == "90"
    assert _option(argv, "--lab-bind") == "127.0.0.1"
