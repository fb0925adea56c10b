"""Where the CLI finds its endpoint, how it signs requests, and how it fails to connect."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from ads.cli import exit_codes
from ads.cli.api_error import ApiError
from ads.cli.client import AdsApiClient
from ads.cli.endpoint import resolve_settings
from ads.cli.main import main
from ads.cli.signing import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY
from tests.integration.cli.conftest import TEST_ACCESS_KEY
from tests.integration.cli.fake_api import FakeAdsApi


def write_json(path: Path, document: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- endpoint discovery -------------------------------------------------------------------


@pytest.fixture
def every_source(tmp_path: Path) -> dict[str, str]:
    """An environment in which all four endpoint sources are present, each different."""
    config = write_json(
        tmp_path / "cfg" / "config.json", {"endpoint": "https://from-config.example/prod"}
    )
    write_json(
        tmp_path / "adshome" / "local" / "control-plane.json", {"endpoint": "http://127.0.0.1:7001"}
    )
    return {
        "HOME": str(tmp_path),
        "ADS_ENDPOINT": "https://from-env.example/prod",
        "ADS_CONFIG": str(config),
        "ADS_HOME": str(tmp_path / "adshome"),
    }


def test_given_every_source_when_an_endpoint_flag_is_given_then_the_flag_wins(
    every_source: dict,
) -> None:
    settings = resolve_settings(endpoint="https://from-flag.example/", env=every_source)

    assert settings.endpoint == "https://from-flag.example"
    assert settings.endpoint_source == "--endpoint"


def test_given_no_flag_when_ads_endpoint_is_set_then_the_environment_wins(
    every_source: dict,
) -> None:
    assert resolve_settings(env=every_source).endpoint == "https://from-env.example/prod"


def test_given_no_flag_nor_environment_when_a_config_file_exists_then_it_is_used(
    every_source: dict,
) -> None:
    del every_source["ADS_ENDPOINT"]

    settings = resolve_settings(env=every_source)

    assert settings.endpoint == "https://from-config.example/prod"
    assert settings.endpoint_source.startswith("config file ")


def test_given_only_a_running_local_control_plane_when_resolved_then_its_endpoint_is_used(
    every_source: dict,
) -> None:
    del every_source["ADS_ENDPOINT"]
    Path(every_source["ADS_CONFIG"]).unlink()

    settings = resolve_settings(env=every_source)

    assert settings.endpoint == "http://127.0.0.1:7001"
    assert settings.endpoint_source.startswith("local control plane ")


def test_given_no_ads_config_variable_when_resolved_then_the_default_config_path_under_home_is_read(
    tmp_path: Path,
) -> None:
    write_json(
        tmp_path / ".config" / "ads" / "config.json", {"endpoint": "https://home-config.example"}
    )

    assert resolve_settings(env={"HOME": str(tmp_path)}).endpoint == "https://home-config.example"


def test_given_no_ads_home_when_resolved_then_the_local_plane_file_under_home_dot_ads_is_read(
    tmp_path: Path,
) -> None:
    write_json(
        tmp_path / ".ads" / "local" / "control-plane.json", {"endpoint": "http://127.0.0.1:7002"}
    )

    assert resolve_settings(env={"HOME": str(tmp_path)}).endpoint == "http://127.0.0.1:7002"


def test_given_nothing_configured_when_a_command_runs_then_exit_5_explains_the_three_ways(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["list"])

    err = capsys.readouterr().err
    assert code == exit_codes.UNREACHABLE
    assert err.startswith("ads: error: no ADS endpoint is configured;")
    assert "--endpoint URL" in err and "ADS_ENDPOINT" in err and "~/.config/ads/config.json" in err
    assert "ads local up" in err


def test_given_a_config_file_with_broken_json_when_resolved_then_exit_2_names_the_file(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.json"
    config.write_text("{endpoint: ")

    with pytest.raises(ApiError) as error:
        resolve_settings(env={"HOME": str(tmp_path), "ADS_CONFIG": str(config)})

    assert error.value.exit_code == exit_codes.INVALID_INPUT
    assert f"config file {config}: found invalid JSON" in error.value.message


def test_given_an_endpoint_without_scheme_when_resolved_then_exit_2_says_what_is_allowed(
    tmp_path: Path,
) -> None:
    with pytest.raises(ApiError) as error:
        resolve_settings(
            endpoint="abc.execute-api.us-east-1.amazonaws.com", env={"HOME": str(tmp_path)}
        )

    assert error.value.exit_code == exit_codes.INVALID_INPUT
    assert "allowed: an http:// or https:// URL" in error.value.message


@pytest.mark.parametrize(
    "endpoint", ["http://127.0.0.1:99999", "http://[::1", "http://127.0.0.1:port", "http://h:0"]
)
def test_given_an_endpoint_with_a_broken_host_or_port_when_resolved_then_exit_2_not_a_traceback(
    tmp_path: Path, endpoint: str
) -> None:
    with pytest.raises(ApiError) as error:
        resolve_settings(endpoint=endpoint, env={"HOME": str(tmp_path)})

    assert error.value.exit_code == exit_codes.INVALID_INPUT
    assert error.value.message.startswith(f"endpoint from --endpoint: found {endpoint!r}")


def test_given_the_local_plane_file_when_list_runs_without_flags_then_the_request_reaches_it(
    api: FakeAdsApi,
    isolated_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_json(
        isolated_env / ".ads" / "local" / "control-plane.json", {"endpoint": api.url, "pid": 1}
    )

    code = main(["list", "--json"])

    assert code == exit_codes.OK
    assert json.loads(capsys.readouterr().out) == {"labs": [], "next_token": None}
    assert api.received[-1].path == "/labs"


def test_given_ads_endpoint_in_the_environment_when_show_runs_then_the_request_reaches_it(
    api: FakeAdsApi, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = api.add_lab("READY")
    monkeypatch.setenv("ADS_ENDPOINT", api.url)

    assert main(["show", lab["lab_id"], "--json"]) == exit_codes.OK
    assert json.loads(capsys.readouterr().out)["lab_id"] == lab["lab_id"]


# --- region --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "config_region", "endpoint", "env_region", "expected"),
    [
        (
            "eu-north-1",
            "ap-south-1",
            "https://a1b2c3.execute-api.eu-west-1.amazonaws.com/prod",
            "us-west-2",
            "eu-west-1",
        ),
        ("eu-north-1", "ap-south-1", "https://ads.example.org/prod", "us-west-2", "eu-north-1"),
        (None, "ap-south-1", "https://ads.example.org/prod", "us-west-2", "ap-south-1"),
        (None, None, "https://ads.example.org/prod", "us-west-2", "us-west-2"),
        (None, None, "https://ads.example.org/prod", None, "us-east-1"),
    ],
)
def test_given_region_sources_when_resolved_then_api_host_flag_config_environment_default_is_the_order(
    tmp_path: Path,
    flag: str | None,
    config_region: str | None,
    endpoint: str,
    env_region: str | None,
    expected: str,
) -> None:
    env = {"HOME": str(tmp_path)}
    if config_region:
        env["ADS_CONFIG"] = str(
            write_json(tmp_path / "c.json", {"region": config_region, "profile": "lab-admin"})
        )
    if env_region:
        env["AWS_REGION"] = env_region

    settings = resolve_settings(endpoint=endpoint, region=flag, env=env)

    assert settings.region == expected
    if config_region:
        assert settings.profile == "lab-admin"


# --- signing -------------------------------------------------------------------------------------


def test_given_test_credentials_when_a_request_is_sent_then_its_sigv4_signature_verifies_on_the_server(
    api: FakeAdsApi, labspec_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api.add_lab("READY")

    assert (
        main(["list", "--endpoint", api.url, "--status", "READY", "--limit", "5"]) == exit_codes.OK
    )
    assert (
        main(["deploy", str(labspec_path), "--endpoint", api.url, "--idempotency-key", "abc"])
        == exit_codes.OK
    )

    for request in api.received:
        authorization = request.headers["authorization"]
        assert request.signature_ok, (authorization, request.expected_authorization)
        assert authorization == request.expected_authorization
        assert authorization.startswith(f"AWS4-HMAC-SHA256 Credential={TEST_ACCESS_KEY}/")
        assert "/us-east-1/execute-api/aws4_request" in authorization
        signed = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
        assert "host" in signed and "x-amz-date" in signed
    assert "idempotency-key" in api.received[-1].headers["authorization"]


def test_given_a_tampered_request_when_verified_then_the_signature_no_longer_matches(
    api: FakeAdsApi,
) -> None:
    client = AdsApiClient(resolve_settings(endpoint=api.url))
    client.list_labs(["READY"])
    sent = api.received[-1]

    expected = api.expected_authorization("GET", "/labs?status=FAILED", sent.headers, b"")

    assert expected != sent.headers["authorization"]


def test_given_a_signature_made_with_other_credentials_when_sent_then_exit_5_says_credentials_were_refused(
    api: FakeAdsApi, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "a-different-secret")

    code = main(["list", "--endpoint", api.url])

    err = capsys.readouterr().err
    assert code == exit_codes.UNREACHABLE
    assert err.startswith(
        "ads: error: the ADS endpoint refused the request (403): The request signature"
    )
    assert "check that your AWS credentials are valid" in err


def test_given_no_credentials_when_the_endpoint_is_local_then_the_fixed_local_credentials_sign(
    api: FakeAdsApi, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    api.access_key, api.secret_key = LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY

    code = main(["list", "--endpoint", api.url])

    assert code == exit_codes.OK, capsys.readouterr().err
    assert api.received[-1].signature_ok
    assert f"Credential={LOCAL_ACCESS_KEY}/" in api.received[-1].headers["authorization"]


def test_given_no_credentials_when_the_endpoint_is_remote_then_exit_5_before_anything_is_sent(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    code = main(["list", "--endpoint", "https://a1b2c3.execute-api.eu-west-1.amazonaws.com/prod"])

    err = capsys.readouterr().err
    assert code == exit_codes.UNREACHABLE
    assert err.startswith("ads: error: no AWS credentials found to sign requests to https://a1b2c3")


def test_given_an_unknown_profile_when_a_command_runs_then_exit_5_names_the_profile(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["list", "--endpoint", api.url, "--profile", "nobody"])

    assert code == exit_codes.UNREACHABLE
    assert "AWS profile: found 'nobody'" in capsys.readouterr().err


def test_given_an_endpoint_with_a_stage_path_when_requested_then_the_stage_prefixes_every_route(
    api: FakeAdsApi,
) -> None:
    client = AdsApiClient(resolve_settings(endpoint=api.url + "/prod"))

    with pytest.raises(ApiError) as error:
        client.get_lab("x")

    assert api.received[-1].path == "/prod/labs/x"
    assert api.received[-1].signature_ok
    assert error.value.exit_code == exit_codes.NOT_FOUND


# --- unreachable -----------------------------------------------------------------------------------


def test_given_nothing_listening_when_a_command_runs_then_exit_5_names_the_endpoint_and_its_source(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"http://127.0.0.1:{free_port()}"

    code = main(["show", "some-lab", "--endpoint", url])

    err = capsys.readouterr().err
    assert code == exit_codes.UNREACHABLE
    assert err.startswith(f"ads: error: cannot reach the ADS endpoint {url} (from --endpoint):")
    assert len(err.strip().splitlines()) == 1


def test_given_a_stale_local_plane_file_when_a_command_runs_then_exit_5_suggests_ads_local_up(
    isolated_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_json(
        isolated_env / ".ads" / "local" / "control-plane.json",
        {"endpoint": f"http://127.0.0.1:{free_port()}"},
    )

    code = main(["list"])

    assert code == exit_codes.UNREACHABLE
    assert "start it with `ads local up`" in capsys.readouterr().err


def test_given_a_slow_endpoint_when_the_http_timeout_passes_then_the_error_is_unreachable(
    api: FakeAdsApi,
) -> None:
    api.delay_s = 1.0
    client = AdsApiClient(resolve_settings(endpoint=api.url), timeout_s=0.2)

    with pytest.raises(ApiError) as error:
        client.list_labs()

    assert error.value.exit_code == exit_codes.UNREACHABLE
    assert "no answer within 0.2s" in error.value.message


def test_given_a_region_flag_when_listing_against_a_custom_host_then_the_signature_uses_that_region(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    api.region = "eu-west-1"

    code = main(["list", "--endpoint", api.url, "--region", "eu-west-1"])

    assert code == exit_codes.OK, capsys.readouterr().err
    assert "/eu-west-1/execute-api/aws4_request" in api.received[-1].headers["authorization"]


def test_given_deploy_region_when_deployed_then_it_is_the_labs_region_not_the_signing_region(
    api: FakeAdsApi, labspec_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["deploy", str(labspec_path), "--endpoint", api.url, "--region", "ap-south-1"])

    assert code == exit_codes.OK, capsys.readouterr().err
    assert api.received[-1].body["options"] == {"region": "ap-south-1"}
    assert "/us-east-1/execute-api/aws4_request" in api.received[-1].headers["authorization"]
