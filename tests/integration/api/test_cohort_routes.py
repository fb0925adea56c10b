"""/cohorts through the api handler over moto: the plan, the request, its retries, its
refusals, and who may reach a cohort's labs (owner, member, stranger). moto records the
DeployCohort execution without running it, so each test sees what the API did."""

from __future__ import annotations

import json
from typing import Any

import botocore.client
import pytest

from ads.config import reset_config
from tests.integration.api.events import ALICE, BOB, labspec, load_event

STUDENTS = [f"arn:aws:iam::123456789012:user/student-{n}" for n in range(1, 4)]


@pytest.fixture
def cohort_machine(control_plane) -> str:
    return control_plane.cohort_arn


def _event(
    method: str,
    path: str,
    *,
    caller: str = ALICE,
    body: Any = None,
    key: str | None = None,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    event = load_event("api/get_labs", caller=caller, query=query)
    resource = path
    parameters = None
    parts = path.strip("/").split("/")
    if len(parts) >= 2:
        root = "/labs/{lab_id}" if parts[0] == "labs" else "/cohorts/{cohort_id}"
        resource = root + ("/" + "/".join(parts[2:]) if len(parts) > 2 else "")
        parameters = {("lab_id" if parts[0] == "labs" else "cohort_id"): parts[1]}
    event.update(
        httpMethod=method, path=path, resource=resource, pathParameters=parameters, body=None
    )
    event["requestContext"].update(httpMethod=method, resourcePath=resource)
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    event["headers"] = {**(event.get("headers") or {}), **headers}
    event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    if body is not None:
        event["body"] = json.dumps(body)
    return event


def _body(members: list[Any], **extra: Any) -> dict[str, Any]:
    listed = [m if isinstance(m, dict) else {"principal": m} for m in members]
    return {"labspec": labspec(), "members": listed, **extra}


def test_given_the_sample_request_when_posted_then_each_member_gets_a_lab_assigned_and_one_cohort_execution_starts(
    call_api, control_plane, cohort_machine
):
    answer = call_api(load_event("api/post_cohorts"))

    assert answer.status == 202, answer.body
    members = answer.body["members"]
    assert [m.get("name") for m in members] == ["Asha", "Ben", None]
    assert {m["status"] for m in members} == {"REQUESTED"}
    for member in members:
        record = control_plane.repo.require(member["lab_id"])
        assert record.owner == ALICE and record.assignee == member["principal"]
        assert record.cohort_id == answer.body["cohort_id"] and record.course == "CS101"
        assert record.lease and record.lease["requested"] == "4h"
    executions = control_plane.executions(cohort_machine)
    assert [e["name"] for e in executions] == [f"{answer.body['cohort_id']}-1"]
    started = control_plane.sfn.describe_execution(executionArn=executions[0]["executionArn"])
    assert [m["lab_id"] for m in json.loads(started["input"])["members"]] == [
        m["lab_id"] for m in members
    ]
    per_lab = answer.body["hourly_usd_per_lab"]
    assert per_lab and answer.body["total_hourly_usd"] == pytest.approx(3 * per_lab)
    # The cohort reads its members' labs without their labspecs and plans (16 MB a call).
    read = control_plane.repo.cohorts.labs(m["lab_id"] for m in members)
    assert len(read) == 3 and all(not r.labspec and not r.plan for r in read.values())


def test_given_a_dry_run_when_posted_then_the_total_hourly_cost_is_shown_and_nothing_is_created(
    call_api, control_plane, cohort_machine
):
    answer = call_api(_event("POST", "/cohorts", body=_body(STUDENTS, dry_run=True)))

    assert answer.status == 200, answer.body
    assert answer.body["members"] == 3
    assert answer.body["total_hourly_usd"] == pytest.approx(3 * answer.body["hourly_usd_per_lab"])
    assert answer.body["plan"]["instance_type"]
    assert control_plane.executions(cohort_machine) == []
    assert control_plane.repo.list_for_owner(ALICE)[0] == []


@pytest.mark.parametrize(
    ("members", "path", "found"),
    [
        (
            ["arn:aws:iam::123456789012:user/a", "alice@example.edu"],
            "members[1].principal",
            "alice",
        ),
        (
            ["arn:aws:iam::123456789012:user/a", "arn:aws:iam::123456789012:user/a"],
            "members[1].principal",
            "also members[0]",
        ),
        ([" arn:aws:iam::123456789012:user/a"], "members[0].principal", "arn:aws"),
    ],
)
def test_given_bad_members_when_posted_then_400_names_the_index_and_the_value(
    call_api, control_plane, cohort_machine, members, path, found
):
    answer = call_api(_event("POST", "/cohorts", body=_body(members)))

    assert answer.status == 400, answer.body
    problems = {p["path"]: p for p in answer.body["problems"]}
    assert found in problems[path]["found"]
    assert control_plane.executions(cohort_machine) == []


def test_given_more_members_than_the_configured_size_when_posted_then_400_names_the_maximum(
    call_api, control_plane, cohort_machine, monkeypatch
):
    monkeypatch.setenv("ADS_COHORT_MAX_MEMBERS", "2")
    reset_config()

    answer = call_api(_event("POST", "/cohorts", body=_body(STUDENTS)))

    assert answer.status == 400
    assert answer.body["problems"][0]["path"] == "members"
    assert "at most 2" in answer.body["problems"][0]["allowed"]


def test_given_a_retry_with_the_same_key_and_one_more_member_then_only_that_member_is_added(
    call_api, control_plane, cohort_machine
):
    first = call_api(_event("POST", "/cohorts", body=_body(STUDENTS[:2]), key="week-1"))
    again = call_api(_event("POST", "/cohorts", body=_body(STUDENTS[:2]), key="week-1"))
    more = call_api(_event("POST", "/cohorts", body=_body(STUDENTS), key="week-1"))

    assert first.status == again.status == more.status == 202
    assert again.body["cohort_id"] == first.body["cohort_id"] and again.body["added"] == []
    assert more.body["added"] == [STUDENTS[2]] and more.body["idempotent_replay"] is True
    labs = {m["principal"]: m["lab_id"] for m in more.body["members"]}
    assert [labs[p] for p in STUDENTS[:2]] == [m["lab_id"] for m in first.body["members"]]
    assert len(control_plane.repo.list_for_owner(ALICE, limit=10)[0]) == 3
    assert len(control_plane.executions(cohort_machine)) == 2


def test_given_a_retry_with_the_same_key_and_another_labspec_then_409_and_nothing_is_added(
    call_api, control_plane, cohort_machine
):
    call_api(_event("POST", "/cohorts", body=_body(STUDENTS[:1]), key="week-1"))
    changed = _body(STUDENTS, lease="2h")

    answer = call_api(_event("POST", "/cohorts", body=changed, key="week-1"))

    assert answer.status == 409 and answer.body["error"] == "idempotency_key_reused"
    assert "different labspec" in answer.body["message"]
    assert len(control_plane.repo.list_for_owner(ALICE)[0]) == 1


def test_given_a_cohort_over_the_labs_quota_when_posted_then_429_and_no_lab_is_created(
    call_api, control_plane, cohort_machine, monkeypatch
):
    monkeypatch.setenv("ADS_QUOTA_MAX_LABS", "2")
    reset_config()

    answer = call_api(_event("POST", "/cohorts", body=_body(STUDENTS)))

    assert answer.status == 429 and answer.body["error"] == "quota_exceeded"
    assert "asks 3 more, the limit is 2" in answer.body["message"]
    assert control_plane.repo.list_for_owner(ALICE)[0] == []
    assert control_plane.repo.quota_usage.usage(ALICE).labs == 0
    assert control_plane.executions(cohort_machine) == []


def test_given_a_cohort_larger_than_one_transaction_when_posted_then_every_lab_is_written_and_counted(
    call_api, control_plane, cohort_machine, monkeypatch
):
    members = [f"arn:aws:iam::123456789012:user/s{n:03d}" for n in range(120)]
    sizes: list[int] = []
    original = botocore.client.BaseClient._make_api_call

    def counting(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if operation == "TransactWriteItems":
            sizes.append(len(params["TransactItems"]))
        return original(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counting)

    answer = call_api(_event("POST", "/cohorts", body=_body(members)))

    assert answer.status == 202, answer.body
    assert sizes and max(sizes) <= 100 and sum(s - 1 for s in sizes) == 120
    assert control_plane.repo.quota_usage.usage(ALICE).labs == 120
    assert answer.body["counts"] == {"REQUESTED": 120}


def test_given_a_concurrent_request_taking_the_room_between_two_transactions_then_later_members_are_refused_naming_the_quota(
    call_api, control_plane, cohort_machine, monkeypatch
):
    from ads.quota_usage import usage_key

    # Room for the whole cohort when it is checked; a lab of the same owner, counted by
    # another request after the first transaction, leaves the second one short by one.
    monkeypatch.setenv("ADS_QUOTA_MAX_LABS", "120")
    reset_config()
    members = [f"arn:aws:iam::123456789012:user/s{n:03d}" for n in range(120)]
    transactions: list[int] = []
    original = botocore.client.BaseClient._make_api_call

    def concurrent(self: Any, operation: str, params: dict[str, Any]) -> Any:
        answer = original(self, operation, params)
        if operation == "TransactWriteItems":
            transactions.append(len(params["TransactItems"]) - 1)
            if len(transactions) == 1:
                control_plane.repo.quota_usage._table.update_item(
                    Key=usage_key(ALICE),
                    UpdateExpression="ADD labs :one",
                    ExpressionAttributeValues={":one": 1},
                )
        return answer

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", concurrent)

    answer = call_api(_event("POST", "/cohorts", body=_body(members)))

    assert answer.status == 202, answer.body
    first = transactions[0]
    assert first < 120 and answer.body["counts"] == {"REQUESTED": first, "REFUSED": 120 - first}
    refused = [m for m in answer.body["members"] if m["status"] == "REFUSED"]
    assert [m["principal"] for m in refused] == members[first:]
    assert all("quota labs_per_owner exceeded" in m["cause"] for m in refused)
    assert "the limit is 120" in refused[0]["cause"]
    assert control_plane.repo.quota_usage.usage(ALICE).labs == first + 1
    assert len(control_plane.repo.list_for_owner(ALICE, limit=100)[0]) == min(first, 100)
    [execution] = control_plane.executions(cohort_machine)
    described = control_plane.sfn.describe_execution(executionArn=execution["executionArn"])
    started = json.loads(described["input"])["members"]
    assert [m["principal"] for m in started] == members[:first]


def _cohort(call_api) -> dict[str, str]:
    answer = call_api(_event("POST", "/cohorts", body=_body(STUDENTS)))
    assert answer.status == 202, answer.body
    return {m["principal"]: m["lab_id"] for m in answer.body["members"]} | {
        "cohort": answer.body["cohort_id"]
    }


def test_given_a_member_when_listing_and_reading_then_only_their_own_lab_is_there(
    call_api, control_plane, cohort_machine
):
    labs = _cohort(call_api)
    me, other = STUDENTS[0], STUDENTS[1]

    listed = call_api(_event("GET", "/labs", caller=me))
    mine = call_api(_event("GET", f"/labs/{labs[me]}", caller=me))
    theirs = call_api(_event("GET", f"/labs/{labs[other]}", caller=me))
    cohort = call_api(_event("GET", f"/cohorts/{labs['cohort']}", caller=me))

    assert [lab["lab_id"] for lab in listed.body["labs"]] == [labs[me]]
    assert listed.body["labs"][0]["assignee"] == me
    assert mine.status == 200 and mine.body["assignee"] == me
    assert theirs.status == 404 and theirs.body["error"] == "lab_not_found"
    assert cohort.status == 404 and cohort.body["error"] == "cohort_not_found"


ROLE_MEMBERS = [
    "arn:aws:iam::123456789012:role/teaching/assistants/ta",
    "arn:aws:iam::123456789012:role/grader",
    "arn:aws:sts::123456789012:assumed-role/ta/alice",
]


def _session(role: str, name: str, account: str = "123456789012") -> str:
    return f"arn:aws:sts::{account}:assumed-role/{role}/{name}"


@pytest.mark.parametrize(
    ("caller", "visible"),
    [
        # A session of the role with a path (its ARN has none), and the role's named session.
        (_session("ta", "alice"), [ROLE_MEMBERS[0], ROLE_MEMBERS[2]]),
        # Another session of the same role: the role's lab, not alice's session's.
        (_session("ta", "run-7"), [ROLE_MEMBERS[0]]),
        (_session("grader", "ci"), [ROLE_MEMBERS[1]]),
        # The same role name in another account, and a user named like the role: nothing.
        (_session("ta", "alice", account="210987654321"), []),
        ("arn:aws:iam::123456789012:user/ta", []),
    ],
)
def test_given_members_given_as_roles_when_their_sessions_list_labs_then_listing_matches_access(
    call_api, control_plane, cohort_machine, caller, visible
):
    answer = call_api(_event("POST", "/cohorts", body=_body(ROLE_MEMBERS)))
    assert answer.status == 202, answer.body
    labs = {m["principal"]: m["lab_id"] for m in answer.body["members"]}

    listed = call_api(_event("GET", "/labs", caller=caller))
    paged = call_api(_event("GET", "/labs", caller=caller, query={"limit": "1"}))
    readable = [
        principal
        for principal, lab_id in labs.items()
        if call_api(_event("GET", f"/labs/{lab_id}", caller=caller)).status == 200
    ]

    assert listed.status == 200, listed.body
    assert sorted(lab["assignee"] for lab in listed.body["labs"]) == sorted(visible)
    assert sorted(readable) == sorted(visible)
    pages = [paged.body]
    while pages[-1].get("next_token"):
        query = {"limit": "1", "next_token": pages[-1]["next_token"]}
        following = call_api(_event("GET", "/labs", caller=caller, query=query))
        assert following.status == 200, following.body
        pages.append(following.body)
    assert sorted(lab["assignee"] for p in pages for lab in p["labs"]) == sorted(visible)


def test_given_a_member_when_renewing_stopping_and_destroying_their_lab_then_only_destroy_is_refused(
    call_api, control_plane, cohort_machine
):
    labs = _cohort(call_api)
    me = STUDENTS[0]
    for status in ("PROVISIONING", "HEALTH_CHECKING", "READY"):
        control_plane.repo.transition(labs[me], status)

    renewed = call_api(
        _event("POST", f"/labs/{labs[me]}/lease", caller=me, body={"duration": "2h"})
    )
    destroyed = call_api(_event("DELETE", f"/labs/{labs[me]}", caller=me))
    other = call_api(
        _event("POST", f"/labs/{labs[STUDENTS[1]]}/lease", caller=me, body={"duration": "2h"})
    )

    assert renewed.status == 200 and renewed.body["lease"]["requested"] == "2h"
    assert destroyed.status == 403 and destroyed.body["error"] == "owner_only"
    assert ALICE in destroyed.body["message"]
    assert other.status == 404
    assert control_plane.repo.require(labs[me]).status.value == "READY"


def test_given_a_stranger_when_reading_a_cohort_or_its_labs_then_404(
    call_api, control_plane, cohort_machine
):
    labs = _cohort(call_api)

    assert call_api(_event("GET", f"/cohorts/{labs['cohort']}", caller=BOB)).status == 404
    assert call_api(_event("GET", f"/labs/{labs[STUDENTS[0]]}", caller=BOB)).status == 404
    assert call_api(_event("DELETE", f"/cohorts/{labs['cohort']}", caller=BOB)).status == 404
    assert call_api(_event("GET", "/cohorts", caller=BOB)).body["cohorts"] == []


def test_given_the_owner_when_listing_renewing_and_destroying_the_cohort_then_every_lab_is_acted_on(
    call_api, control_plane, cohort_machine
):
    labs = _cohort(call_api)
    cohort_id = labs["cohort"]

    listed = call_api(_event("GET", "/cohorts"))
    renewed = call_api(_event("POST", f"/cohorts/{cohort_id}/lease", body={"duration": "1h"}))
    destroyed = call_api(_event("DELETE", f"/cohorts/{cohort_id}"))
    shown = call_api(_event("GET", f"/cohorts/{cohort_id}"))

    assert [c["cohort_id"] for c in listed.body["cohorts"]] == [cohort_id]
    assert listed.body["cohorts"][0]["members"] == 3
    assert renewed.status == 200 and {m["status"] for m in renewed.body["members"]} == {"REQUESTED"}
    assert destroyed.status == 202
    assert {m["status"] for m in destroyed.body["members"]} == {"DESTROYING"}
    assert shown.body["counts"] == {"DESTROYING": 3}
    again = call_api(_event("GET", f"/cohorts/{cohort_id}/nothing"))
    assert again.status == 404


def test_given_no_cohort_state_machine_when_posted_then_503_and_nothing_is_written(
    call_api, control_plane, monkeypatch
):
    monkeypatch.delenv("ADS_COHORT_STATE_MACHINE_ARN")
    reset_config()
    answer = call_api(_event("POST", "/cohorts", body=_body(STUDENTS)))

    assert answer.status == 503
    assert control_plane.repo.list_for_owner(ALICE)[0] == []


def test_given_a_lifecycle_bus_when_a_cohort_is_requested_and_destroyed_then_its_events_carry_the_counts(
    call_api, control_plane, cohort_machine, monkeypatch
):
    import boto3

    boto3.client("events").create_event_bus(Name="ads-lab-events")
    monkeypatch.setenv("ADS_EVENT_BUS_NAME", "ads-lab-events")
    reset_config()
    entries: list[dict[str, Any]] = []
    original = botocore.client.BaseClient._make_api_call

    def recording(self: Any, operation: str, params: dict[str, Any]) -> Any:
        answer = original(self, operation, params)
        if operation == "PutEvents":
            assert answer["FailedEntryCount"] == 0, answer
            entries.extend(params["Entries"])
        return answer

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recording)

    first = call_api(_event("POST", "/cohorts", body=_body(STUDENTS), key="class-1"))
    assert first.status == 202, first.body
    labs = {"cohort": first.body["cohort_id"]}
    # The same request again (same key) adds nobody and announces nothing new.
    again = call_api(_event("POST", "/cohorts", body=_body(STUDENTS), key="class-1"))
    assert again.status == 202 and again.body["idempotent_replay"] is True
    requested = [e for e in entries if e["DetailType"] == "Cohort Requested"]
    destroyed = call_api(_event("DELETE", f"/cohorts/{labs['cohort']}"))

    assert destroyed.status == 202, destroyed.body
    [request_event] = requested
    detail = json.loads(request_event["Detail"])
    assert request_event["Source"] == "ads" and request_event["EventBusName"] == "ads-lab-events"
    assert detail["cohort_id"] == labs["cohort"] and detail["owner"] == ALICE
    assert detail["members"] == 3 and detail["added"] == 3
    assert detail["counts"] == {"REQUESTED": 3}
    [destroy_event] = [e for e in entries if e["DetailType"] == "Cohort Destroyed"]
    assert json.loads(destroy_event["Detail"])["counts"] == {"DESTROYING": 3}


def test_given_the_bus_refusing_the_entry_when_a_round_ends_then_record_cohort_reports_it_unpublished(
    call_api, control_plane, cohort_machine
):
    from botocore.stub import Stubber

    from ads.cohort_events import record_cohort_deployed
    from ads.lab_record import LabStatus
    from ads.lifecycle_events import LifecyclePublisher

    labs = _cohort(call_api)
    repo = control_plane.repo
    for principal in STUDENTS[:2]:
        repo.transition(labs[principal], LabStatus.FAILED, note="test", cause="x")
    import boto3

    events = boto3.client("events")
    publisher = LifecyclePublisher(events, "ads-lab-events")
    with Stubber(events) as stub:
        # PutEvents answers 200 with the entry refused: FailedEntryCount, not an exception.
        stub.add_response(
            "put_events",
            {
                "FailedEntryCount": 1,
                "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}],
            },
        )
        recorded = record_cohort_deployed(repo, publisher, labs["cohort"], "exec-1")
        stub.assert_no_pending_responses()

    assert recorded == {
        "cohort_id": labs["cohort"],
        "counts": {"FAILED": 2, "REQUESTED": 1},
        "event_published": False,
    }
    assert record_cohort_deployed(repo, publisher, "gone-cohort-01jd5k3q8v2m6x9t4r7p0wz1ab") == {
        "cohort_id": "gone-cohort-01jd5k3q8v2m6x9t4r7p0wz1ab",
        "counts": {},
        "event_published": False,
    }
