"""The tier's gate: it says why it skips and never builds an AWS session before it may."""

from __future__ import annotations

import pytest

from tests.aws.gate import skip_reason


class Session:
    def __init__(self, credentials: object) -> None:
        self.credentials = credentials

    def get_credentials(self) -> object:
        return self.credentials


def no_session() -> Session:
    raise AssertionError("an AWS session was built before the tier was allowed to run")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "runs only through make test-aws"),
        ({"ADS_AWS_ACCOUNT": "123456789012"}, "runs only through make test-aws"),
        ({"ADS_AWS_TESTS": "1"}, "ADS_AWS_ACCOUNT is not set"),
        ({"ADS_AWS_TESTS": "1", "ADS_AWS_ACCOUNT": "my-account"}, "a 12-digit AWS account id"),
    ],
)
def test_given_the_tier_not_enabled_when_gated_then_the_reason_and_no_aws_session(env, expected):
    assert expected in skip_reason(env, no_session)


def test_given_no_credentials_when_gated_then_skipped_with_the_reason():
    env = {"ADS_AWS_TESTS": "1", "ADS_AWS_ACCOUNT": "123456789012"}

    assert "no AWS credentials" in skip_reason(env, lambda: Session(None))


def test_given_everything_when_gated_then_the_tier_runs():
    env = {"ADS_AWS_TESTS": "1", "ADS_AWS_ACCOUNT": "123456789012"}

    assert skip_reason(env, lambda: Session(object())) is None
