"""The ADS configuration read from ADS_* variables: bad values name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from ads.cli.main import main
from ads.config import AdsConfig
from ads.errors import ConfigError

HELLO_WEB = Path(__file__).resolve().parents[2] / "events" / "labs" / "hello-web"


def test_given_valid_variables_when_read_then_lists_and_numbers_are_parsed():
    config = AdsConfig.from_env(
        {"ADS_ALLOWED_INSTANCE_TYPES": "t3.small, t3.large", "ADS_AGENT_PORT": "9100"}
    )
    assert config.allowed_instance_types == ("t3.small", "t3.large")
    assert config.agent_port == 9100


def test_given_two_bad_variables_when_read_then_the_error_names_both_with_what_is_allowed():
    with pytest.raises(ConfigError) as error:
        AdsConfig.from_env({"ADS_PROVIDER": "foo", "ADS_HEALTH_TIMEOUT_S": "99"})
    message = error.value.message
    assert "ADS_PROVIDER: found 'foo'; allowed: 'ec2' or 'local'" in message
    assert "ADS_HEALTH_TIMEOUT_S: found '99'; allowed: less than or equal to 30" in message
    assert [p.path for p in error.value.problems] == ["ADS_PROVIDER", "ADS_HEALTH_TIMEOUT_S"]


def test_given_a_bad_variable_when_ads_local_up_runs_then_one_line_and_exit_2_and_nothing_starts(
    monkeypatch, tmp_path, capsys
):
    monkeypatch.setenv("ADS_HOME", str(tmp_path))
    monkeypatch.setenv("ADS_AGENT_PORT", "abc")

    code = main(["local", "up", "--port", "0"])

    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == [
        "ads: error: invalid ADS configuration: ADS_AGENT_PORT: found 'abc'; "
        "allowed: a valid integer, unable to parse string as an integer"
    ]
    assert not (tmp_path / "local" / "control-plane.json").exists()


def test_given_a_bad_variable_when_ads_plan_runs_then_exit_2_names_it(monkeypatch, capsys):
    from ads.config import reset_config

    monkeypatch.setenv("ADS_DEFAULT_OS_POLICY", "newest")
    reset_config()
    try:
        code = main(["plan", str(HELLO_WEB)])
    finally:
        monkeypatch.delenv("ADS_DEFAULT_OS_POLICY")
        reset_config()
    assert code == 2
    assert "ADS_DEFAULT_OS_POLICY: found 'newest'" in capsys.readouterr().err


def test_given_the_config_and_the_os_catalogue_when_compared_then_they_allow_the_same_os_policies():
    # ads.config keeps its own Literal (it is imported by every Lambda at cold start and
    # stays free of the catalogue's data); this ties the two lists together.
    import typing

    from ads.config import AdsConfig
    from ads.lab.os_catalogue import DEFAULT_OS_POLICY, OS_POLICIES

    field = AdsConfig.model_fields["default_os_policy"]
    assert typing.get_args(field.annotation) == OS_POLICIES
    assert field.default == DEFAULT_OS_POLICY
