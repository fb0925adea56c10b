"""GET /costs and a lab's accrued cost through the api handler, against moto."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ads.lab_record import iso, utc_now
from tests.integration.api.events import ADMIN_SESSION, ALICE, BOB, load_event


def _lab_with_history(call_api, control_plane, caller: str, steps: list[tuple[str, float]]) -> str:
    """A lab of ``caller`` whose history is ``(status, hours ago)``, written as is."""
    lab_id = call_api(load_event("api/post_labs_without_source", caller=caller)).body["lab_id"]
    now = utc_now()
    history = [{"status": s, "at": iso(now - timedelta(hours=h)), "note": ""} for s, h in steps]
    control_plane.repo._table.update_item(
        Key={"lab_id": lab_id},
        UpdateExpression="SET status_history = :h, #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":h": history, ":s": steps[-1][0]},
    )
    return lab_id


STOP_START = [
    ("REQUESTED", 10),
    ("PROVISIONING", 10),
    ("READY", 9.5),
    ("STOPPING", 6),
    ("STOPPED", 6),
    ("STARTING", 2),
    ("HEALTH_CHECKING", 2),
    ("READY", 2),
]


def test_given_a_lab_stopped_and_started_when_its_owner_reads_costs_then_stopped_time_is_storage_only(
    call_api, control_plane
):
    lab_id = _lab_with_history(call_api, control_plane, ALICE, STOP_START)

    answer = call_api(load_event("api/get_costs", caller=ALICE, query={}))

    assert answer.status == 200
    [line] = answer.body["labs"]
    assert line["lab_id"] == lab_id and line["owner"] == ALICE
    assert line["hours_running"] == pytest.approx(6.0, abs=0.01)
    assert line["hours_stopped"] == pytest.approx(4.0, abs=0.01)
    assert line["compute_usd"] == pytest.approx(6.0 * 0.0104, abs=0.001)
    assert line["storage_usd"] == pytest.approx(10.0 * 0.64 / 730, abs=0.0001)
    [owner] = answer.body["owners"]
    assert owner["owner"] == ALICE and owner["labs"] == 1
    assert owner["total_usd"] == line["total_usd"]

    lab = call_api(load_event("api/get_lab", lab_id=lab_id, caller=ALICE))
    assert lab.body["accrued_cost"]["hours_stopped"] == pytest.approx(4.0, abs=0.01)


def test_given_two_owners_when_costs_are_read_then_an_owner_sees_their_own_and_an_admin_any(
    call_api, control_plane
):
    _lab_with_history(call_api, control_plane, ALICE, STOP_START)
    _lab_with_history(call_api, control_plane, BOB, [("PROVISIONING", 3), ("READY", 2)])

    bob = call_api(load_event("api/get_costs", caller=BOB, query={}))
    spying = call_api(load_event("api/get_costs", caller=BOB, query={"owner": ALICE}))
    admin_all = call_api(load_event("api/get_costs", caller=ADMIN_SESSION, query={}))
    admin_one = call_api(load_event("api/get_costs", caller=ADMIN_SESSION, query={"owner": ALICE}))

    assert [line["owner"] for line in bob.body["labs"]] == [BOB]
    assert spying.status == 403 and spying.body["error"] == "forbidden"
    assert "owner" in spying.body["message"]
    assert [o["owner"] for o in admin_all.body["owners"]] == sorted([ALICE, BOB])
    assert [line["owner"] for line in admin_one.body["labs"]] == [ALICE]


def test_given_since_when_costs_are_read_then_only_the_window_counts_and_ended_labs_drop_out(
    call_api, control_plane
):
    _lab_with_history(call_api, control_plane, ALICE, STOP_START)
    _lab_with_history(
        call_api, control_plane, ALICE, [("PROVISIONING", 9), ("DESTROYING", 8), ("DESTROYED", 8)]
    )
    since = iso(utc_now() - timedelta(hours=3))

    answer = call_api(load_event("api/get_costs", caller=ALICE, query={"since": since}))

    [line] = answer.body["labs"]
    assert line["hours_running"] == pytest.approx(2.0, abs=0.01)
    assert line["hours_stopped"] == pytest.approx(1.0, abs=0.01)
    assert answer.body["since"] == since


def test_given_pages_when_costs_are_read_then_next_token_follows_and_a_bad_since_is_400(
    call_api, control_plane
):
    for _ in range(3):
        _lab_with_history(call_api, control_plane, ALICE, [("PROVISIONING", 1), ("READY", 1)])

    first = call_api(load_event("api/get_costs", caller=ALICE, query={"limit": "2"}))
    rest = call_api(
        load_event(
            "api/get_costs",
            caller=ALICE,
            query={"limit": "2", "next_token": first.body["next_token"]},
        )
    )
    bad = call_api(load_event("api/get_costs", caller=ALICE, query={"since": "yesterday"}))

    assert len(first.body["labs"]) == 2 and len(rest.body["labs"]) == 1
    assert rest.body["next_token"] is None
    assert bad.status == 400
    assert [p["path"] for p in bad.body["problems"]] == ["since"]
