"""Throttling: botocore's retry mode retries, only its final throttle becomes ProviderThrottled.

botocore's ``Stubber`` answers before the client's retry loop (it replies on
``before-call``), so it shows what a throttle botocore gave up on becomes. The retries
themselves are shown one layer lower: a ``before-send`` handler plays the HTTP answers AWS
gives, inside the loop, the way botocore would receive them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import boto3
import botocore.endpoint
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from ads import steps
from ads.config import AdsConfig
from ads.providers import ec2_bootstrap
from ads.providers.base import ProviderThrottled
from ads.providers.ec2 import Ec2Provider
from ads.providers.throttling import (
    ATTEMPTS,
    RETRIES,
    call,
    client_config,
    throttle_becomes_retry,
    throttling_codes,
)

ROOT = Path(__file__).resolve().parents[3]
REGION = "eu-west-1"
THROTTLED = (
    b"<Response><Errors><Error><Code>RequestLimitExceeded</Code>"
    b"<Message>Request limit exceeded.</Message></Error></Errors>"
    b"<RequestID>5b1e0c3a-0000-4000-8000-000000000001</RequestID></Response>"
)
NO_INSTANCES = (
    b'<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
    b"<requestId>5b1e0c3a-0000-4000-8000-000000000002</requestId>"
    b"<reservationSet/></DescribeInstancesResponse>"
)


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Any:
        yield self._data


class Ec2Answers:
    """Plays EC2's HTTP answers in order, the last one for good; counts the requests."""

    def __init__(self, *answers: tuple[int, bytes]) -> None:
        self.answers = list(answers)
        self.sent = 0

    def __call__(self, request: Any, **_: Any) -> AWSResponse:
        status, body = self.answers[min(self.sent, len(self.answers) - 1)]
        self.sent += 1
        return AWSResponse(request.url, status, {"Content-Type": "text/xml"}, _Body(body))


class _Clock:
    """botocore's ``time`` with sleep recorded instead of slept."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    recorded = _Clock()
    monkeypatch.setattr(botocore.endpoint, "time", recorded)
    return recorded


def ec2_client(config: Config | None = None) -> Any:
    return boto3.session.Session().client(
        "ec2",
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=config or client_config(),
    )


def answering(client: Any, answers: Ec2Answers) -> Any:
    client.meta.events.register("before-send.ec2.DescribeInstances", answers)
    return client


def test_given_a_throttle_that_clears_within_botocores_attempts_when_called_then_it_succeeds(
    clock: _Clock,
):
    answers = Ec2Answers((503, THROTTLED), (503, THROTTLED), (200, NO_INSTANCES))
    ec2 = answering(ec2_client(), answers)

    response = call(ec2, "describe_instances", InstanceIds=["i-0123456789abcdef0"])

    assert response["Reservations"] == []
    assert answers.sent == 3
    assert response["ResponseMetadata"]["RetryAttempts"] == 2
    # botocore waited between the attempts (full jitter: anything up to its ceiling).
    assert len(clock.sleeps) == 2


def test_given_a_persistent_throttle_when_called_then_botocore_tries_attempts_times_and_provider_throttled_follows(
    clock: _Clock,
):
    answers = Ec2Answers((503, THROTTLED))
    ec2 = answering(ec2_client(), answers)

    with pytest.raises(ProviderThrottled) as raised:
        call(ec2, "describe_instances", InstanceIds=["i-0123456789abcdef0"])

    assert answers.sent == ATTEMPTS
    assert len(clock.sleeps) == ATTEMPTS - 1
    assert isinstance(raised.value.__cause__, ClientError)
    assert str(raised.value) == (
        f"describe_instances was still throttled after {ATTEMPTS} attempts "
        "(RequestLimitExceeded: Request limit exceeded.)"
    )


def test_given_a_client_without_the_retry_configuration_when_throttled_then_it_would_try_a_different_number_of_times(
    clock: _Clock,
):
    # Guards the test above: the attempts it counts are the configuration's, not a default.
    answers = Ec2Answers((503, THROTTLED))
    ec2 = answering(
        ec2_client(Config(retries={"mode": "standard", "total_max_attempts": 2})), answers
    )

    with pytest.raises(ProviderThrottled):
        call(ec2, "describe_instances", InstanceIds=["i-0123456789abcdef0"])

    assert answers.sent == 2 != ATTEMPTS


@pytest.mark.parametrize(
    "code",
    ["RequestLimitExceeded", "ThrottlingException", "ProvisionedThroughputExceededException"],
)
def test_given_the_final_throttle_from_stubber_when_called_then_it_becomes_provider_throttled(
    code: str,
):
    ec2 = ec2_client()
    with Stubber(ec2) as stub:
        stub.add_client_error("describe_instances", service_error_code=code, http_status_code=400)
        with pytest.raises(ProviderThrottled, match=code):
            call(ec2, "describe_instances", InstanceIds=["i-0123456789abcdef0"])
        stub.assert_no_pending_responses()


def test_given_an_error_that_is_not_a_throttle_when_called_then_it_is_the_callers_unchanged():
    ec2 = ec2_client()
    with Stubber(ec2) as stub:
        stub.add_client_error("describe_instances", service_error_code="InvalidInstanceID.NotFound")
        with pytest.raises(ClientError) as raised:
            call(ec2, "describe_instances", InstanceIds=["i-0123456789abcdef0"])

    assert not isinstance(raised.value, ProviderThrottled)
    assert raised.value.response["Error"]["Code"] == "InvalidInstanceID.NotFound"


def test_given_botocores_throttling_codes_when_read_then_they_hold_the_codes_the_services_adss_calls_answer():
    codes = throttling_codes()
    # EC2, SSM / Step Functions / EventBridge, DynamoDB, ELBv2 and IAM-style query APIs.
    assert {
        "RequestLimitExceeded",
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "Throttling",
    } <= codes


def test_given_an_exception_outside_aws_when_throttle_becomes_retry_then_it_passes_unchanged():
    with pytest.raises(KeyError), throttle_becomes_retry("anything"):
        raise KeyError("x")


def _retried_names(asl: dict[str, Any]) -> list[tuple[str, set[str]]]:
    found = []
    for name, state in asl["States"].items():
        if state["Type"] == "Task":
            errors = {e for r in state.get("Retry", []) for e in r["ErrorEquals"]}
            found.append((name, errors))
        for branch in state.get("Branches", []):
            found.extend(_retried_names(branch))
    return found


@pytest.mark.parametrize("name", ["deploy_lab.asl.json", "destroy_lab.asl.json"])
def test_given_the_state_machines_when_read_then_every_task_retries_the_name_a_final_throttle_raises(
    name: str,
):
    throttled = ProviderThrottled("x", operation="y")
    tasks = _retried_names(json.loads((ROOT / "statemachine" / name).read_text()))

    assert tasks
    for state, retried in tasks:
        # Lambda reports the exception's class name as the errorType the ASL matches.
        assert type(throttled).__name__ in retried, state


def test_given_the_ec2_provider_from_config_when_built_then_every_client_carries_the_retry_mode():
    provider = Ec2Provider.from_config(
        AdsConfig(region=REGION),
        boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing"),
    )

    for client in (provider._ec2, provider._ssm, provider._s3, provider.access._elbv2):
        assert (
            client.meta.config.retries
            == RETRIES
            == {"mode": "standard", "total_max_attempts": ATTEMPTS}
        )
    # The presigning client keeps what makes its URLs acceptable to S3.
    assert provider._s3.meta.config.signature_version == "s3v4"
    assert ec2_bootstrap.PRESIGN_CONFIG.retries is None


def test_given_the_step_dependencies_when_built_then_the_table_and_the_event_bus_clients_carry_it_too(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    deps = steps.dependencies_for(AdsConfig(provider="ec2", region=REGION, table_name="labs"))

    clients = [deps.repository._table.meta.client, deps.publisher._events]
    for client in clients:
        assert (
            client.meta.config.retries
            == RETRIES
            == {"mode": "standard", "total_max_attempts": ATTEMPTS}
        )
