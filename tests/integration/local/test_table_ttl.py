"""DynamoDB's TTL on the local plane (ads.local.table_ttl): moto never deletes an expired
item, DynamoDB does; the plane deletes them while it runs, the records file forgets them,
and an item whose TTL moved on before its deletion (a key taken over) stays."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from ads.lab_record import LabStatus
from ads.local.runtime import TABLE_NAME, LocalControlPlane
from ads.local.table_ttl import expire_items

OWNER = "arn:aws:iam::123456789012:user/local"
NOW = 1_900_000_000


def _stored_keys(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {key for (key,) in db.execute("SELECT key FROM items")}


def _put(client: Any, key: str, ttl: int | None) -> None:
    item: dict[str, Any] = {"lab_id": {"S": key}, "note": {"S": "x" * 10}}
    if ttl is not None:
        item["expires_at"] = {"N": str(ttl)}
    client.put_item(TableName=TABLE_NAME, Item=item)


def test_given_expired_and_live_items_when_expired_then_only_the_expired_go_from_table_and_file(
    tmp_path: Path,
):
    records = tmp_path / "records.sqlite3"
    with LocalControlPlane(tmp_path / "plane", records_file=records) as plane:
        client = plane.client("dynamodb")
        for n in range(30):
            _put(client, f"old-{n:02d}", NOW - 1 - n)
        _put(client, "live", NOW + 3600)
        _put(client, "forever", None)
        # A real record: destroyed labs carry the TTL of their 90 days.
        repository = plane.repository()
        repository.create(repository.new_record("lab-gone-01", OWNER))
        repository.transition("lab-gone-01", LabStatus.DESTROYING)
        repository.transition("lab-gone-01", LabStatus.DESTROYED, expires_at=NOW - 10)
        assert "lab-gone-01" in _stored_keys(records)

        assert expire_items(client, TABLE_NAME, NOW) == 31

        left = {i["lab_id"]["S"] for i in client.scan(TableName=TABLE_NAME)["Items"]}
        assert {"live", "forever"} <= left
        assert not any(key.startswith("old-") for key in left)
        assert "lab-gone-01" not in left
        stored = _stored_keys(records)
        assert {"live", "forever"} <= stored
        assert "lab-gone-01" not in stored and not any(k.startswith("old-") for k in stored)
        # Nothing left to do: a second run deletes nothing.
        assert expire_items(client, TABLE_NAME, NOW) == 0


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        # The scan saw it expired; by the DeleteItem its TTL is in the future again (a key
        # taken over), so the condition refuses, as DynamoDB would: the item stays.
        ("ConditionalCheckFailedException", 0),
        # Any other refusal reaches the timer, which reports it and tries at its next run.
        ("ProvisionedThroughputExceededException", "ProvisionedThroughputExceeded"),
    ],
)
def test_given_a_delete_refused_after_the_scan_when_expired_then_only_a_moved_ttl_is_quiet(
    tmp_path: Path, code: str, outcome: int | str
):
    with LocalControlPlane(tmp_path / "plane") as plane:
        client = plane.client("dynamodb")
        stubber = Stubber(client)
        stubber.add_response("scan", {"Items": [{"lab_id": {"S": "taken-over"}}], "Count": 1})
        stubber.add_client_error("delete_item", service_error_code=code, http_status_code=400)
        with stubber:
            if isinstance(outcome, int):
                assert expire_items(client, TABLE_NAME, NOW) == outcome
            else:
                with pytest.raises(Exception, match=outcome):
                    expire_items(client, TABLE_NAME, NOW)
        stubber.assert_no_pending_responses()


def test_given_the_ttl_timer_when_the_plane_runs_then_expired_items_go_and_it_stops_with_the_plane(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("ADS_LOCAL_TTL_INTERVAL_S", "1")
    with LocalControlPlane(tmp_path / "plane") as plane:
        client = plane.client("dynamodb")
        _put(client, "expired", int(time.time()) - 60)
        _put(client, "live", int(time.time()) + 3600)
        assert plane.timers.start_ttl()
        assert not plane.timers.start_ttl()  # one timer per plane
        deadline = time.monotonic() + 15
        keys = {"expired"}
        while "expired" in keys and time.monotonic() < deadline:
            time.sleep(0.2)
            keys = {i["lab_id"]["S"] for i in client.scan(TableName=TABLE_NAME)["Items"]}
        assert "expired" not in keys and "live" in keys
    assert plane.timers._ttl_timer is None
