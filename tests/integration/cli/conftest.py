"""Fixtures of the CLI tier: a fake ADS API on 127.0.0.1 and an isolated environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ads.cli import lab_cmds, retries
from tests.integration.cli.fake_api import FakeAdsApi, RunningFakeApi

TEST_ACCESS_KEY = "AKIDADSCLITEST000001"
TEST_SECRET_KEY = "adsclitestsecretkey0000000000000000000001"
FIXTURES = Path(__file__).resolve().parents[3] / "events" / "labspecs"


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No real AWS config, no real ADS config; known test credentials; fast polling."""
    home = tmp_path / "home"
    home.mkdir()
    for name in (
        "ADS_ENDPOINT",
        "ADS_CONFIG",
        "ADS_HOME",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / "aws-config-absent"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "aws-credentials-absent"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", TEST_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", TEST_SECRET_KEY)
    monkeypatch.setattr(lab_cmds, "POLL_INTERVAL_S", 0.01)
    monkeypatch.setattr(retries, "_sleep", lambda _: None)
    return home


@pytest.fixture
def api() -> Iterator[FakeAdsApi]:
    fake = FakeAdsApi(access_key=TEST_ACCESS_KEY, secret_key=TEST_SECRET_KEY)
    running = RunningFakeApi(fake)
    try:
        yield fake
    finally:
        running.stop()
    assert not fake.invalid_answers, "the fake API answered what the real API cannot:\n" + (
        "\n".join(fake.invalid_answers)
    )


@pytest.fixture
def labspec_path() -> Path:
    return FIXTURES / "databases-and-datamining-iiith.labspec.json"
