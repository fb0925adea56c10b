"""DELETE /labs/{lab_id}: DESTROYING, DestroyLab started, deploy stopped, no double destroy."""

from __future__ import annotations

import json

from ads.lab_record import LabStatus
from tests.integration.api.events import ADMIN_SESSION, load_event


def _deploy(call_api) -> str:
    return call_api(load_event("api/post_labs_without_source")).body["lab_id"]


def _make_ready(control_plane, lab_id: str) -> None:
    for status in ("PROVISIONING", "INITIALIZING", "HEALTH_CHECKING", "READY"):
        control_plane.repo.transition(lab_id, status)


def test_given_a_ready_lab_when_deleted_then_202_destroying_and_destroy_lab_started(
    call_api, control_plane
):
    lab_id = _deploy(call_api)
    _make_ready(control_plane, lab_id)

    answer = call_api(load_event("api/delete_lab", lab_id=lab_id))

    assert answer.status == 202
    assert answer.body["status"] == "DESTROYING"
    assert answer.body["execution_arn"].endswith(f":execution:ads-DestroyLab:{lab_id}-destroy-1")
    assert answer.body["console_url"].endswith(answer.body["execution_arn"])
    record = control_plane.repo.require(lab_id)
    assert record.status == LabStatus.DESTROYING
    assert record.destroy_execution_arn == answer.body["execution_arn"]
    described = control_plane.sfn.describe_execution(executionArn=answer.body["execution_arn"])
    assert json.loads(described["input"]) == {"lab_id": lab_id}


def test_given_a_lab_still_deploying_when_deleted_then_its_deploy_execution_is_stopped_first(
    call_api, control_plane
):
    lab_id = _deploy(call_api)
    deploy_arn = control_plane.repo.require(lab_id).execution_arn

    answer = call_api(load_event("api/delete_lab", lab_id=lab_id))

    assert answer.status == 202
    assert control_plane.sfn.describe_execution(executionArn=deploy_arn)["status"] == "ABORTED"
    assert control_plane.repo.require(lab_id).status == LabStatus.DESTROYING


def test_given_a_lab_being_destroyed_when_deleted_again_then_the_same_202_and_no_second_destroy(
    call_api, control_plane
):
    lab_id = _deploy(call_api)
    first = call_api(load_event("api/delete_lab", lab_id=lab_id))

    again = call_api(load_event("api/delete_lab", lab_id=lab_id))

    assert again.status == 202
    assert again.body == first.body
    assert len(control_plane.executions(control_plane.destroy_arn)) == 1


def test_given_concurrent_destroys_of_one_lab_when_they_race_then_all_answer_202_with_one_execution(
    call_api, control_plane
):
    from concurrent.futures import ThreadPoolExecutor

    from ads.local import moto_serial

    # moto's backends need the local plane's serialisation to be called from threads.
    undo = moto_serial.install()
    lab_id = _deploy(call_api)
    _make_ready(control_plane, lab_id)
    call_api(load_event("api/get_labs", query={}))  # warm: clients exist before the race

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(
                pool.map(lambda _: call_api(load_event("api/delete_lab", lab_id=lab_id)), range(8))
            )
    finally:
        undo()

    assert [a.status for a in answers] == [202] * 8
    assert {a.body["execution_arn"] for a in answers} == {answers[0].body["execution_arn"]}
    assert len(control_plane.executions(control_plane.destroy_arn)) == 1
    assert control_plane.repo.require(lab_id).status == LabStatus.DESTROYING


def test_given_a_destroyed_lab_when_deleted_then_409(call_api, control_plane):
    lab_id = _deploy(call_api)
    call_api(load_event("api/delete_lab", lab_id=lab_id))
    control_plane.repo.transition(lab_id, LabStatus.DESTROYED)

    again = call_api(load_event("api/delete_lab", lab_id=lab_id))

    assert again.status == 409
    assert "DESTROYED" in again.body["message"]


def test_given_a_destroy_that_ended_badly_when_deleted_again_then_a_second_numbered_destroy_starts(
    call_api, control_plane
):
    lab_id = _deploy(call_api)
    first = call_api(load_event("api/delete_lab", lab_id=lab_id))
    control_plane.sfn.stop_execution(executionArn=first.body["execution_arn"])

    second = call_api(load_event("api/delete_lab", lab_id=lab_id))

    assert second.status == 202
    assert second.body["execution_arn"].endswith(f"{lab_id}-destroy-2")
    history = call_api(load_event("api/get_lab_history", lab_id=lab_id))
    assert [
        (e["kind"], e["execution_arn"].rsplit(":", 1)[1]) for e in history.body["executions"]
    ] == [
        ("deploy", lab_id),
        ("destroy", f"{lab_id}-destroy-1"),
        ("destroy", f"{lab_id}-destroy-2"),
    ]
    assert [e["status"] for e in history.body["executions"]] == ["ABORTED", "ABORTED", "RUNNING"]


def test_given_alices_lab_when_bob_deletes_it_then_404_and_the_lab_is_untouched(
    call_api, control_plane
):
    lab_id = _deploy(call_api)

    answer = call_api(load_event("api/delete_lab_as_other_user", lab_id=lab_id))

    assert answer.status == 404
    assert control_plane.repo.require(lab_id).status == LabStatus.REQUESTED
    assert control_plane.executions(control_plane.destroy_arn) == []


def test_given_alices_lab_when_an_admin_deletes_it_then_202(call_api, control_plane):
    lab_id = _deploy(call_api)

    answer = call_api(load_event("api/delete_lab", lab_id=lab_id, caller=ADMIN_SESSION))

    assert answer.status == 202
    record = control_plane.repo.require(lab_id)
    assert record.status_history[-1].note == f"destroy requested by {ADMIN_SESSION}"


def test_given_destroy_lab_cannot_start_when_deleted_then_502_and_a_retry_starts_it(
    call_api, control_plane
):
    lab_id = _deploy(call_api)
    definition = control_plane.sfn.describe_state_machine(
        stateMachineArn=control_plane.destroy_arn
    )["definition"]
    control_plane.sfn.delete_state_machine(stateMachineArn=control_plane.destroy_arn)

    refused = call_api(load_event("api/delete_lab", lab_id=lab_id))
    control_plane.sfn.create_state_machine(
        name="ads-DestroyLab", definition=definition, roleArn="arn:aws:iam::123456789012:role/x"
    )
    retried = call_api(load_event("api/delete_lab", lab_id=lab_id))

    assert refused.status == 502
    assert "DestroyLab" in refused.body["message"]
    assert retried.status == 202
    assert retried.body["execution_arn"].endswith(f"{lab_id}-destroy-1")


def test_given_an_unknown_lab_when_deleted_then_404(call_api, control_plane):
    answer = call_api(load_event("api/delete_lab", lab_id="ghost-01jd5k3q8v2m6x9t4r7p0wz1ab"))

    assert answer.status == 404
