"""The watch_labs handler over moto (the labs table, its status index, the bus, Step
Functions) with agents on 127.0.0.1, and AWS's awkward answers pinned with Stubber:
a PutEvents entry refused (FailedEntryCount) and a conditional write lost to a destroy
(ConditionalCheckFailedException)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeSerializer
from botocore.stub import ANY, Stubber
from moto import mock_aws

from ads.config import AdsConfig, reset_config
from ads.deployment_context import DeploymentContext
from ads.health_watch import HealthWatch
from ads.lab_record import LabStatus
from ads.labs_table import STATUS_INDEX, create_table, to_dynamo
from ads.lifecycle_events import LifecyclePublisher
from ads.records import LabRepository
from ads.watch_recovery import health_watch_for

REGION = "us-east-1"
TABLE = "ads-labs-watch"
BUS = "ads-watch-bus"
OWNER = "arn:aws:iam::123456789012:user/alice"
HEALTHY = "hello-web-01jd5k3q8v2m6x9t4r7p0wz1aa"
DEAD = "hello-web-01jd5k3q8v2m6x9t4r7p0wz1ab"
ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


class Context:
    function_name = "ads-watch-labs"
    function_version = "$LATEST"
    invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:ads-watch-labs"
    memory_limit_in_mb = 256
    aws_request_id = "00000000-0000-0000-0000-000000000001"
    log_group_name = "/aws/lambda/ads-watch-labs"
    log_stream_name = "2026/01/01/[$LATEST]0"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000


def _agent(lab_id: str) -> type[BaseHTTPRequestHandler]:
    class Agent(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"status": "ok", "lab_id": lab_id}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    return Agent


@pytest.fixture
def agent() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _agent(HEALTHY))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _closed_port() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def world(monkeypatch) -> Iterator[dict[str, Any]]:
    with mock_aws():
        for name, value in ENV.items():
            monkeypatch.setenv(name, value)
        create_table(boto3.client("dynamodb", region_name=REGION), TABLE)
        events = boto3.client("events", region_name=REGION)
        events.create_event_bus(Name=BUS)
        sqs = boto3.client("sqs", region_name=REGION)
        queue = sqs.create_queue(QueueName="lab-events")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        events.put_rule(Name="all", EventBusName=BUS, EventPattern=json.dumps({"source": ["ads"]}))
        events.put_targets(
            Rule="all", EventBusName=BUS, Targets=[{"Id": "queue", "Arn": queue_arn}]
        )
        sfn = boto3.client("stepfunctions", region_name=REGION)
        role = "arn:aws:iam::123456789012:role/ads-sfn"
        machines = {}
        for name in ("PowerLab", "ActionLab", "DestroyLab"):
            machines[name] = sfn.create_state_machine(
                name=name,
                definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
                roleArn=role,
            )["stateMachineArn"]
        env = {
            "ADS_PROVIDER": "local",
            "ADS_TABLE_NAME": TABLE,
            "ADS_EVENT_BUS_NAME": BUS,
            "ADS_HEALTH_TIMEOUT_S": "1",
            "ADS_WATCH_FAILURES": "2",
            "ADS_POWER_STATE_MACHINE_ARN": machines["PowerLab"],
            "ADS_ACTION_STATE_MACHINE_ARN": machines["ActionLab"],
            "ADS_DESTROY_STATE_MACHINE_ARN": machines["DestroyLab"],
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        reset_config()
        yield {"sqs": sqs, "queue": queue}
    reset_config()


def _repository() -> LabRepository:
    return LabRepository.from_name(TABLE, REGION)


def _new_lab(repository: LabRepository, lab_id: str, endpoint: str, **fields: Any) -> None:
    record = repository.new_record(lab_id, OWNER, lab_name="Hello Web", endpoint=endpoint)
    repository.create(record)
    for status in ("PROVISIONING", "HEALTH_CHECKING", "READY"):
        repository.transition(lab_id, status, **fields)


def _events(world: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    received = world["sqs"].receive_message(QueueUrl=world["queue"], MaxNumberOfMessages=10)
    bodies = [json.loads(m["Body"]) for m in received.get("Messages", [])]
    return [(b["detail-type"], b["detail"]) for b in bodies]


def test_given_a_healthy_and_a_dead_lab_when_the_handler_runs_twice_then_only_the_dead_one_degrades_and_restarts(
    world, agent
):
    from functions.watch_labs.handler import handler

    repository = _repository()
    _new_lab(repository, HEALTHY, agent)
    _new_lab(repository, DEAD, _closed_port())

    first = handler({"source": "aws.scheduler"}, Context())
    second = handler({"source": "aws.scheduler"}, Context())

    assert first["checked"] == 2 and first["counted"] == [DEAD]
    assert second["degraded"] == [DEAD] and second["recovering"] == [DEAD]
    healthy = repository.require(HEALTHY)
    assert healthy.status == LabStatus.READY and healthy.health is None
    dead = repository.require(DEAD)
    # The recovery is PowerLab's restart (no start action defined), asked on the owner's behalf.
    assert dead.status == LabStatus.RESTARTING
    assert dead.health["recovery"] == "restart" and dead.power_execution_arn
    assert [s.status for s in dead.status_history][-2:] == [
        LabStatus.DEGRADED,
        LabStatus.RESTARTING,
    ]
    [(detail_type, detail)] = _events(world)
    assert detail_type == "Lab Degraded"
    assert detail["lab_id"] == DEAD and detail["status"] == "DEGRADED"
    assert "health check failed 2 time(s) in a row" in detail["cause"]
    assert detail["health"]["failures"] == 2


def test_given_a_degraded_lab_that_answers_when_the_handler_runs_then_ready_with_lab_recovered(
    world, agent
):
    from functions.watch_labs.handler import handler

    repository = _repository()
    _new_lab(repository, HEALTHY, agent)
    repository.transition(
        HEALTHY,
        LabStatus.DEGRADED,
        cause="health check failed",
        health={"failures": 3, "degraded_at": "2026-12-01T10:00:00.000Z", "degraded_epoch": 1.0},
    )

    report = handler({}, Context())

    assert report["recovered"] == [HEALTHY]
    record = repository.require(HEALTHY)
    assert record.status == LabStatus.READY and record.cause is None and record.health is None
    assert [t for t, _ in _events(world)] == ["Lab Recovered"]


def test_given_labs_in_every_status_when_listed_by_status_then_the_index_pages_through_only_the_watched(
    world,
):
    repository = _repository()
    for i in range(5):
        _new_lab(repository, f"hello-web-01jd5k3q8v2m6x9t4r7p0wz1c{i}", "http://127.0.0.1:9")
    repository.transition("hello-web-01jd5k3q8v2m6x9t4r7p0wz1c0", LabStatus.DESTROYING)
    repository.create(repository.new_record("hello-web-01jd5k3q8v2m6x9t4r7p0wz1d0", OWNER))

    listed = list(repository.labs_in_status(LabStatus.READY, LabStatus.DEGRADED, page_size=2))

    assert sorted(r.lab_id for r in listed) == [
        f"hello-web-01jd5k3q8v2m6x9t4r7p0wz1c{i}" for i in range(1, 5)
    ]


def _watch(repository: LabRepository, publisher: LifecyclePublisher) -> HealthWatch:
    config = AdsConfig(table_name=TABLE, watch_failures=1, watch_recovery="none")
    context = DeploymentContext(
        repository, boto3.client("stepfunctions", region_name=REGION), config
    )
    return health_watch_for(context, publisher)


def test_given_eventbridge_refusing_the_entry_when_a_lab_degrades_then_the_record_still_says_degraded(
    world,
):
    repository = _repository()
    _new_lab(repository, DEAD, _closed_port())
    events = boto3.client("events", region_name=REGION)
    stubber = Stubber(events)
    # PutEvents answers 200 with the entry refused: FailedEntryCount, not an exception.
    stubber.add_response(
        "put_events",
        {
            "FailedEntryCount": 1,
            "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}],
        },
    )

    with stubber:
        report = _watch(repository, LifecyclePublisher(events, BUS)).run(time_budget_s=30)

    stubber.assert_no_pending_responses()
    assert report.degraded == [DEAD] and report.errors == []
    assert repository.require(DEAD).status == LabStatus.DEGRADED


def _item(lab_id: str, status: str, endpoint: str) -> dict[str, Any]:
    serializer = TypeSerializer()
    record = {
        "lab_id": lab_id,
        "owner": OWNER,
        "status": status,
        "created_at": "2026-12-01T10:00:00.000Z",
        "updated_at": "2026-12-01T10:00:00.000Z",
        "endpoint": endpoint,
    }
    return {k: serializer.serialize(v) for k, v in to_dynamo(record).items()}


def test_given_a_destroy_that_wins_the_conditional_write_when_degrading_then_the_watch_leaves_the_lab(
    world,
):
    endpoint = _closed_port()
    table = boto3.resource("dynamodb", region_name=REGION).Table(TABLE)
    repository = LabRepository(table)
    stubber = Stubber(table.meta.client)
    stubber.add_response(
        "query",
        {"Items": [_item(DEAD, "READY", endpoint)], "Count": 1, "ScannedCount": 1},
        {
            "TableName": TABLE,
            "IndexName": STATUS_INDEX,
            "KeyConditionExpression": ANY,
            "Limit": 100,
        },
    )
    stubber.add_response("query", {"Items": [], "Count": 0, "ScannedCount": 0})
    # READY -> DEGRADED refused (a destroy moved the lab), then the same-status write too.
    for _ in range(2):
        stubber.add_client_error(
            "update_item",
            service_error_code="ConditionalCheckFailedException",
            service_message="The conditional request failed",
            http_status_code=400,
        )
    stubber.add_response("get_item", {"Item": _item(DEAD, "DESTROYING", endpoint)})
    events = boto3.client("events", region_name=REGION)
    events_stubber = Stubber(events)  # no response queued: any PutEvents would fail the test

    with stubber, events_stubber:
        report = _watch(repository, LifecyclePublisher(events, BUS)).run(time_budget_s=30)

    stubber.assert_no_pending_responses()
    assert report.conflicts == [DEAD]
    assert report.degraded == [] and report.errors == []
