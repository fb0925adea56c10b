"""End to end on the local plane over HTTP: a lab whose labspec asks for images (its build
appends to a log) deployed twice with `ads deploy --reuse-image --wait`. The second lab
is READY without running the build: its log has the first lab's build and its own init
and start only. `ads images` lists the image, `ads images rm` removes it and its snapshot,
and a second `rm` is 404 (exit 3). Both labs are destroyed whatever happens."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

BUILT_ONCE = Path("events/labspecs/built-once.labspec.json")


@pytest.fixture
def labspec_file(tmp_path: Path) -> Path:
    labspec = json.loads(BUILT_ONCE.read_text())
    # A key of its own: the plane serves the whole session.
    labspec["lab"]["description"]["id"] = f"built-once-{secrets.token_hex(4)}"
    path = tmp_path / "labspec.json"
    path.write_text(json.dumps(labspec))
    return path


def test_given_a_lab_with_a_build_step_when_deployed_twice_with_reuse_then_the_second_skips_the_build(
    local_plane, labspec_file: Path
):
    lab_ids: list[str] = []
    try:
        first = local_plane.ads("deploy", str(labspec_file), "--reuse-image", "--wait", "--json")
        assert first.returncode == 0, first.explain()
        lab_ids.append(first.json()["lab_id"])
        listed = local_plane.ads("images", "--json")
        assert listed.returncode == 0, listed.explain()
        [image] = [i for i in listed.json()["images"] if i["source_lab_id"] == lab_ids[0]]
        assert image["image_state"] == "available"

        second = local_plane.ads("deploy", str(labspec_file), "--reuse-image", "--wait", "--json")
        assert second.returncode == 0, second.explain()
        lab_ids.append(second.json()["lab_id"])
        assert second.json()["status"] == "READY"
        assert second.json()["vm_details"]["from_image"] == image["image_id"]

        log = Path(second.json()["vm_details"]["sandbox"]) / "vm" / "lab" / "build.log"
        assert log.read_text().splitlines() == [
            f"build {lab_ids[0]}",
            f"init {lab_ids[0]}",
            f"start {lab_ids[0]}",
            f"init {lab_ids[1]}",
            f"start {lab_ids[1]}",
        ]

        shown = local_plane.ads("images")
        assert image["image_id"] in shown.stdout and "available" in shown.stdout
        removed = local_plane.ads("images", "rm", image["image_id"])
        assert removed.returncode == 0, removed.explain()
        assert not Path(image["provider_image_id"]).exists()
        again = local_plane.ads("images", "rm", image["image_id"])
        assert again.returncode == 3, again.explain()
        assert "not found" in again.stderr
    finally:
        for lab_id in lab_ids:
            destroyed = local_plane.ads("destroy", lab_id, "--wait")
            assert destroyed.returncode == 0, destroyed.explain()
