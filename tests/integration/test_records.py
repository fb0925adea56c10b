"""Lab records against moto's DynamoDB: lifecycle, conditional writes, listing, idempotency."""

from __future__ import annotations

import threading

import boto3
import pytest
from moto import mock_aws

from ads.errors import IllegalTransitionError, InvalidInputError, LabNotFoundError
from ads.lab_record import LabRecord, LabStatus
from ads.labs_table import create_table
from ads.records import LabRepository


@pytest.fixture
def repo():
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, "labs")
        yield LabRepository.from_name("labs", "us-east-1")


def _new(repo, lab_id="lab-a", owner="arn:aws:iam::1:user/alice"):
    return repo.create(
        repo.new_record(lab_id, owner, lab_name="A", plan={"hourly_cost_usd": 0.0104})
    )


def test_given_a_new_lab_when_it_moves_forward_then_history_records_each_status(repo):
    _new(repo)
    repo.transition("lab-a", LabStatus.PROVISIONING, vm_id="i-1")
    repo.transition("lab-a", LabStatus.INITIALIZING)
    record = repo.transition("lab-a", LabStatus.HEALTH_CHECKING)
    assert record.vm_id == "i-1"
    assert record.plan == {"hourly_cost_usd": 0.0104}
    assert [c.status for c in record.status_history] == [
        LabStatus.REQUESTED,
        LabStatus.PROVISIONING,
        LabStatus.INITIALIZING,
        LabStatus.HEALTH_CHECKING,
    ]


def test_given_a_retried_step_when_the_same_status_is_set_again_then_fields_are_stored_without_new_history(
    repo,
):
    _new(repo)
    repo.transition("lab-a", LabStatus.PROVISIONING)
    record = repo.transition("lab-a", LabStatus.PROVISIONING, private_ip="10.0.0.5")
    assert record.private_ip == "10.0.0.5"
    assert len(record.status_history) == 2


def test_given_a_ready_lab_when_asked_to_go_back_to_provisioning_then_it_is_refused(repo):
    _new(repo)
    for status in ("PROVISIONING", "INITIALIZING", "HEALTH_CHECKING", "READY"):
        repo.transition("lab-a", status)
    with pytest.raises(IllegalTransitionError) as err:
        repo.transition("lab-a", LabStatus.PROVISIONING)
    assert err.value.current == "READY"
    assert repo.require("lab-a").status == LabStatus.READY


@pytest.fixture
def atomic_requests():
    # DynamoDB applies each conditional write atomically; moto checks the condition and
    # applies the update in two steps, so two threads can both pass the check. The local
    # plane serialises moto's backend calls for this reason; the race here is then ADS's
    # own (both threads read DESTROYING, one write wins, the other must see DESTROYED).
    from ads.local import moto_serial

    undo = moto_serial.install()
    try:
        yield
    finally:
        undo()


def test_given_two_concurrent_destroys_when_both_race_then_exactly_one_wins(repo, atomic_requests):
    _new(repo)
    repo.transition("lab-a", LabStatus.FAILED, cause="boom")
    repo.transition("lab-a", LabStatus.DESTROYING)
    start = threading.Barrier(2)
    answers: list[object] = []

    def destroy():
        start.wait()
        # Whatever happens is kept: an exception in a thread would otherwise go unseen.
        try:
            answers.append(repo.transition("lab-a", LabStatus.DESTROYED))
        except Exception as exc:
            answers.append(exc)

    threads = [threading.Thread(target=destroy) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    # The loser's move is the same status again, which is no error (a retried step).
    assert len(answers) == 2
    assert all(isinstance(a, LabRecord) and a.status == LabStatus.DESTROYED for a in answers), (
        answers
    )
    record = repo.require("lab-a")
    assert record.status == LabStatus.DESTROYED
    assert [c.status for c in record.status_history].count(LabStatus.DESTROYED) == 1
    assert record.expires_at is not None


def test_given_an_unknown_lab_when_transitioned_then_not_found(repo):
    with pytest.raises(LabNotFoundError):
        repo.transition("nope", LabStatus.PROVISIONING)


def test_given_labs_of_two_owners_when_listed_then_each_sees_only_theirs_newest_first_in_pages(
    repo,
):
    for i in range(5):
        _new(repo, f"lab-{i}", owner="alice")
    _new(repo, "lab-bob", owner="bob")
    repo.transition("lab-3", LabStatus.FAILED)
    page, token = repo.list_for_owner("alice", limit=2)
    assert len(page) == 2 and token
    page2, token2 = repo.list_for_owner("alice", limit=2, next_token=token)
    page3, token3 = repo.list_for_owner("alice", limit=2, next_token=token2)
    ids = [r.lab_id for r in page + page2 + page3]
    assert sorted(ids) == [f"lab-{i}" for i in range(5)]
    assert token3 is None
    failed, _ = repo.list_for_owner("alice", status=[LabStatus.FAILED])
    assert [r.lab_id for r in failed] == ["lab-3"]
    everyone, _ = repo.list_all(limit=50)
    assert len(everyone) == 6


def test_given_a_garbage_next_token_when_listing_then_a_field_error_is_raised(repo):
    with pytest.raises(InvalidInputError) as err:
        repo.list_for_owner("alice", next_token="!!notatoken")
    assert err.value.problems[0].path == "next_token"


def test_given_an_idempotency_key_when_claimed_twice_then_the_second_gets_the_first_lab(repo):
    assert repo.idempotency_keys.claim("alice", "k1", "lab-1") is None
    assert repo.idempotency_keys.claim("alice", "k1", "lab-2") == "lab-1"
    assert repo.idempotency_keys.claim("bob", "k1", "lab-3") is None
    page, _ = repo.list_all()
    assert page == []


ROLE = "arn:aws:iam::123456789012:role/ads-ci"
SESSION_1 = "arn:aws:sts::123456789012:assumed-role/ads-ci/run-1"
SESSION_2 = "arn:aws:sts::123456789012:assumed-role/ads-ci/run-2"


def test_given_labs_of_a_role_and_of_its_sessions_when_a_session_lists_then_it_sees_its_own_and_the_roles(
    repo,
):
    _new(repo, "lab-role", owner=ROLE)
    _new(repo, "lab-s1", owner=SESSION_1)
    _new(repo, "lab-s2", owner=SESSION_2)
    _new(repo, "lab-alice", owner="arn:aws:iam::123456789012:user/alice")

    mine, token = repo.list_for_owner(SESSION_1)

    assert sorted(r.lab_id for r in mine) == ["lab-role", "lab-s1"]
    assert token is None


def test_given_a_role_with_a_path_when_its_session_lists_then_the_roles_labs_are_included(repo):
    _new(repo, "lab-path-role", owner="arn:aws:iam::123456789012:role/pipelines/ads-ci")

    mine, _ = repo.list_for_owner(SESSION_2)

    assert [r.lab_id for r in mine] == ["lab-path-role"]


def test_given_many_labs_in_a_group_when_a_session_pages_then_every_visible_lab_comes_once(repo):
    for n in range(5):
        _new(repo, f"lab-role-{n}", owner=ROLE)
        _new(repo, f"lab-other-{n}", owner=SESSION_2)
    seen: list[str] = []
    token = None
    while True:
        page, token = repo.list_for_owner(SESSION_1, limit=2, next_token=token)
        assert len(page) <= 2
        seen.extend(r.lab_id for r in page)
        if token is None:
            break
    assert sorted(seen) == [f"lab-role-{n}" for n in range(5)]


def test_given_fields_stored_without_a_read_back_when_dynamodb_answers_then_no_item_is_asked_for():
    # DynamoDB returns no Attributes for ReturnValues NONE; store_fields must neither ask
    # for the item nor need it (update_fields, which returns the record, asks ALL_NEW).
    from botocore.stub import ANY, Stubber

    table = boto3.resource("dynamodb", region_name="us-east-1").Table("labs")
    repository = LabRepository(table)
    with Stubber(table.meta.client) as stub:
        stub.add_response(
            "update_item",
            {},
            {
                "TableName": "labs",
                # The resource layer hands plain values to the stub.
                "Key": {"lab_id": "lab-1"},
                "UpdateExpression": ANY,
                "ConditionExpression": "attribute_exists(lab_id)",
                "ExpressionAttributeNames": ANY,
                "ExpressionAttributeValues": ANY,
                "ReturnValues": "NONE",
            },
        )
        assert repository.store_fields("lab-1", execution_arn="arn:x") is None
        stub.assert_no_pending_responses()
