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


def _image(control_plane, key: str, owner: str, state: str, hours_ago: float, monthly) -> str:
    """An image item of ``owner`` in ``state``, available ``hours_ago`` hours ago."""
    from ads.lab_images import LabImage, image_id_of

    now = utc_now()
    image = LabImage(
        image_id=image_id_of(key),
        image_key=key,
        image_state="creating",
        image_owner=owner,
        provider="ec2",
        source_lab_id="hello-web-01jsource",
        lab_name="Hello Web",
        revision="none",
        base_image="/aws/service/canonical/ubuntu#x86_64",
        created_at=iso(now - timedelta(hours=hours_ago + 1)),
        updated_at=iso(now),
    )
    images = control_plane.repo.images
    assert images.claim(image)
    if state != "creating":
        images.update(
            key,
            image_state=state,
            provider_image_id="ami-0123456789abcdef0",
            snapshot_ids=["snap-0123456789abcdef0"],
            storage_monthly_cost_usd=monthly,
            available_at=iso(now - timedelta(hours=hours_ago)) if state == "available" else None,
        )
    return image.image_id


def test_given_kept_images_when_costs_are_read_then_their_snapshot_storage_accrues_since_available_per_owner(
    call_api, control_plane
):
    lab_id = _lab_with_history(call_api, control_plane, ALICE, STOP_START)
    kept = _image(control_plane, "a" * 32, ALICE, "available", 73, 0.4)
    _image(control_plane, "b" * 32, ALICE, "pending", 1, None)  # no snapshot yet
    _image(control_plane, "c" * 32, ALICE, "failed", 1, None)
    bobs = _image(control_plane, "d" * 32, BOB, "available", 10, 0.8)

    alice = call_api(load_event("api/get_costs", caller=ALICE, query={}))
    admin_all = call_api(load_event("api/get_costs", caller=ADMIN_SESSION, query={}))
    admin_bob = call_api(load_event("api/get_costs", caller=ADMIN_SESSION, query={"owner": BOB}))
    since = iso(utc_now() - timedelta(hours=7.3))
    window = call_api(load_event("api/get_costs", caller=ALICE, query={"since": since}))

    assert alice.status == 200
    [image] = alice.body["images"]
    assert image["image_id"] == kept and image["owner"] == ALICE
    assert image["hours_kept"] == pytest.approx(73, abs=0.01)
    assert image["storage_usd"] == pytest.approx(73 * 0.4 / 730, abs=0.0001)
    [owner] = alice.body["owners"]
    [line] = alice.body["labs"]
    assert line["lab_id"] == lab_id
    assert (owner["images"], owner["image_storage_usd"]) == (1, image["storage_usd"])
    assert owner["total_usd"] == pytest.approx(line["total_usd"] + image["storage_usd"])
    assert sorted(i["image_id"] for i in admin_all.body["images"]) == sorted([kept, bobs])
    assert [i["image_id"] for i in admin_bob.body["images"]] == [bobs]
    [bob] = admin_bob.body["owners"]
    assert (bob["owner"], bob["labs"], bob["images"]) == (BOB, 0, 1)
    assert bob["total_usd"] == pytest.approx(10 * 0.8 / 730, abs=0.0001)
    [in_window] = window.body["images"]
    assert in_window["hours_kept"] == pytest.approx(7.3, abs=0.01)


def test_given_an_image_and_pages_when_costs_are_read_then_the_image_comes_once_on_the_first_page(
    call_api, control_plane
):
    for _ in range(3):
        _lab_with_history(call_api, control_plane, ALICE, [("PROVISIONING", 1), ("READY", 1)])
    kept = _image(control_plane, "e" * 32, ALICE, "available", 2, 0.4)

    first = call_api(load_event("api/get_costs", caller=ALICE, query={"limit": "2"}))
    rest = call_api(
        load_event(
            "api/get_costs",
            caller=ALICE,
            query={"limit": "2", "next_token": first.body["next_token"]},
        )
    )

    assert [i["image_id"] for i in first.body["images"]] == [kept]
    assert rest.body["images"] == []


def test_given_an_image_removed_when_costs_are_read_then_it_counts_until_its_removal_and_is_listed_no_more(
    call_api, control_plane
):
    removed = _image(control_plane, "e" * 32, ALICE, "available", 50, 0.73)
    images = control_plane.repo.images
    images.forget("e" * 32)
    removed_at = utc_now() - timedelta(hours=20)
    control_plane.repo._table.update_item(
        Key={"lab_id": "image#" + "e" * 32},
        UpdateExpression="SET removed_at = :at",
        ExpressionAttributeValues={":at": iso(removed_at)},
    )

    report = call_api(load_event("api/get_costs", caller=ALICE, query={}))
    after = iso(utc_now() - timedelta(hours=10))
    window = call_api(load_event("api/get_costs", caller=ALICE, query={"since": after}))

    [image] = report.body["images"]
    assert image["image_id"] == removed and image["removed_at"] == iso(removed_at)
    # Available 50 h ago, removed 20 h ago: 30 h of snapshot storage, no more.
    assert image["hours_kept"] == pytest.approx(30, abs=0.01)
    assert image["storage_usd"] == pytest.approx(30 * 0.73 / 730, abs=0.0001)
    assert window.body["images"] == []  # nothing stored in a window after its removal
    # GET /images and a deploy's lookup no longer see it; the item waits for its TTL.
    assert images.list() == [] and images.get("e" * 32) is None
    [kept] = images.list(removed=True)
    assert kept.image_state == "removed"
    item = control_plane.repo._table.get_item(Key={"lab_id": "image#" + "e" * 32})["Item"]
    assert int(item["expires_at"]) > utc_now().timestamp() + 89 * 86400
