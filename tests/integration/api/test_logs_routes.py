"""GET /labs/{lab_id}/logs through the api handler over moto, the provider faked (its SSM
and sandbox paths have their own tests): a page of a step's output with its exit codes and
a next_token that resumes where it stopped, 404 listing the known steps or actions, 409
naming the status of a lab with no VM, 400 for a bad query, 503 when the VM does not
answer in time."""

from __future__ import annotations

from typing import Any

import pytest

from ads.providers.vm_logs import LogsNotReady, LogsRequest
from tests.integration.api.events import load_event

DOCUMENT = {"name": "deploy", "kind": "deploy", "status": "succeeded", "exit_code": 0,
            "started": "2026-01-01T10:00:00Z", "ended": "2026-01-01T10:01:00Z",
            "steps": [{"step": "start", "exit_code": 0}], "lines": ["$ ./start.sh", "up"]}  # fmt: skip


class FakeProvider:
    def __init__(self, next_offset: int | None = None, error: Exception | None = None) -> None:
        self.requests: list[LogsRequest] = []
        self.next_offset = next_offset
        self.error = error

    def read_logs(self, lab_id: str, vm: Any, request: LogsRequest) -> dict[str, Any]:
        if self.error is not None:
            raise self.error
        self.requests.append(request)
        return {**DOCUMENT, "next_offset": self.next_offset}


@pytest.fixture
def provider(monkeypatch) -> FakeProvider:
    fake = FakeProvider(next_offset=123)
    monkeypatch.setattr("ads.providers.get_provider", lambda _config: fake)
    return fake


def _logs_event(lab_id: str, **query: str) -> dict[str, Any]:
    event = load_event("api/delete_lab", lab_id=lab_id)
    path = f"/labs/{lab_id}/logs"
    event.update(httpMethod="GET", resource="/labs/{lab_id}/logs", path=path)
    event["requestContext"].update(httpMethod="GET", resourcePath="/labs/{lab_id}/logs", path=path)
    event["queryStringParameters"] = query or None
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} or None
    return event


def _ready_lab(call_api, control_plane) -> str:
    lab_id = call_api(load_event("api/post_labs_without_source")).body["lab_id"]
    control_plane.repo.transition(lab_id, "PROVISIONING", vm_id="i-0abc", agent_port=9089)
    for status in ("INITIALIZING", "HEALTH_CHECKING", "READY"):
        control_plane.repo.transition(lab_id, status)
    return lab_id


def _steps(control_plane, lab_id: str) -> list[str]:
    return [s["name"] for s in control_plane.repo.require(lab_id).plan["steps"]]


def test_given_a_ready_lab_when_a_steps_logs_are_read_then_a_page_and_a_token_to_resume(
    call_api, control_plane, provider
) -> None:
    lab_id = _ready_lab(call_api, control_plane)
    step = _steps(control_plane, lab_id)[-1]

    first = call_api(_logs_event(lab_id, step=step, limit="500"))

    assert first.status == 200, first.body
    assert first.body["lines"] == ["$ ./start.sh", "up"]
    assert (first.body["status"], first.body["exit_code"], first.body["step"]) == (
        "succeeded", 0, step,
    )  # fmt: skip
    assert provider.requests[-1] == LogsRequest(step=step, offset=0, max_bytes=500)
    again = call_api(_logs_event(lab_id, step=step, next_token=first.body["next_token"]))
    assert again.status == 200
    assert provider.requests[-1].offset == 123


def test_given_no_run_left_when_read_then_no_next_token(call_api, control_plane, provider) -> None:
    lab_id = _ready_lab(call_api, control_plane)
    provider.next_offset = None

    answer = call_api(_logs_event(lab_id))

    assert answer.status == 200 and answer.body["next_token"] is None
    assert provider.requests[-1] == LogsRequest()


def test_given_an_unknown_step_or_action_when_read_then_404_lists_the_known_ones(
    call_api, control_plane, provider
) -> None:
    lab_id = _ready_lab(call_api, control_plane)

    step = call_api(_logs_event(lab_id, step="nope"))
    action = call_api(_logs_event(lab_id, action="nope"))

    assert step.status == 404 and step.body["error"] == "logs_not_found"
    assert "no step 'nope'" in step.body["message"]
    assert all(name in step.body["message"] for name in _steps(control_plane, lab_id))
    assert action.status == 404 and "defines no action 'nope'" in action.body["message"]
    assert provider.requests == []


def test_given_a_lab_with_no_vm_when_read_then_409_names_its_status(
    call_api, control_plane, provider
) -> None:
    lab_id = call_api(load_event("api/post_labs_without_source")).body["lab_id"]

    answer = call_api(_logs_event(lab_id))

    assert answer.status == 409
    assert f"lab '{lab_id}' is REQUESTED: it has no VM" in answer.body["message"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"step": "a", "action": "b"}, "step"),
        ({"next_token": "not-a-token"}, "next_token"),
        ({"limit": "0"}, "limit"),
        ({"step": "a b"}, "step"),
    ],
)
def test_given_a_bad_query_when_read_then_400_names_the_field(
    call_api, control_plane, provider, query: dict[str, str], field: str
) -> None:
    lab_id = _ready_lab(call_api, control_plane)

    answer = call_api(_logs_event(lab_id, **query))

    assert answer.status == 400, answer.body
    assert field in str(answer.body)


def test_given_a_vm_that_does_not_answer_when_read_then_503(
    call_api, control_plane, provider
) -> None:
    lab_id = _ready_lab(call_api, control_plane)
    provider.error = LogsNotReady("i-0abc did not answer within 20 s")

    answer = call_api(_logs_event(lab_id))

    assert answer.status == 503
    assert "did not answer within 20 s" in answer.body["message"]
