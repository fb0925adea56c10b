"""The local plane's moto keeps no object it no longer uses (ads.local.moto_tracking).

moto's own models are appended to a class-level list for its dashboard and never
dropped: every version of a lab record written 7 times stayed alive. The plane's memory
must return once labs are gone, so what moto holds is only what it stores.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models.dynamo_type import Item

from ads.lab_record import LabStatus
from ads.labs_table import create_table
from ads.local import moto_tracking
from ads.records import LabRepository

LIFE = ("PROVISIONING", "INITIALIZING", "HEALTH_CHECKING", "READY", "DESTROYING", "DESTROYED")


def _items_alive() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, Item))


@pytest.fixture
def repository() -> Iterator[LabRepository]:
    with mock_aws():
        create_table(boto3.client("dynamodb", region_name="us-east-1"), "labs")
        yield LabRepository.from_name("labs", "us-east-1")


def _live_and_destroy(repository: LabRepository, count: int) -> None:
    for i in range(count):
        lab_id = f"lab-{i}"
        repository.create(repository.new_record(lab_id, "arn:aws:iam::1:user/a", lab_name="a"))
        for status in LIFE:
            repository.transition(lab_id, LabStatus(status), vm_id="local-1")


def test_given_moto_as_it_comes_when_records_are_rewritten_then_every_version_stays_alive(
    repository: LabRepository,
) -> None:
    # What the plane undoes: the test fails once moto stops tracking on its own, and
    # ads.local.moto_tracking may go.
    before = _items_alive()
    _live_and_destroy(repository, 5)
    assert _items_alive() - before > 5 * len(LIFE)


def test_given_the_plane_patch_when_records_are_rewritten_then_only_the_stored_items_stay_alive(
    repository: LabRepository,
) -> None:
    undo = moto_tracking.install()
    try:
        before = _items_alive()
        _live_and_destroy(repository, 5)
        assert _items_alive() - before == 5
        assert repository.require("lab-4").status == LabStatus.DESTROYED
    finally:
        undo()
