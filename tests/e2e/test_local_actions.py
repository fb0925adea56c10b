"""End to end on the local plane over HTTP: a lab's actions run by `ads action --wait` on
the real agent: one that succeeds prints its output, one that fails reports its exit code
and output and leaves the lab READY and serving, an undefined one is refused listing the
defined ones, `ads actions` lists the runs; then the lab is destroyed."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.harness import hello_web_repository

pytestmark = pytest.mark.e2e


def page(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


@pytest.fixture
def lab_with_selftest(tmp_path: Path) -> Path:
    """hello-web with two more actions, one that fails, as a git repository."""

    def add_actions(labspec: dict) -> None:
        actions = labspec["lab"]["runtime_requirements"]["platform"]["lab_actions"]
        actions["backup"] = ["echo backing up the page", "echo saved backup-1"]
        actions["selftest"] = [
            "echo checking the page",
            "echo 'the page check failed' >&2; exit 5",
        ]

    return hello_web_repository(tmp_path / "hello-web", add_actions, "hello-web with selftest")


def test_given_a_ready_lab_when_its_actions_run_with_wait_then_each_run_is_answered_and_recorded(
    local_plane, lab_with_selftest: Path
):
    deployed = local_plane.ads(
        "deploy", str(lab_with_selftest), "--source", f"git:{lab_with_selftest}", "--wait", "--json"
    )
    assert deployed.returncode == 0, deployed.explain()
    lab_id = deployed.json()["lab_id"]
    app_url = deployed.json()["app_url"]
    try:
        assert page(app_url) == 200

        backup = local_plane.ads("action", lab_id, "backup", "--wait")
        assert backup.returncode == 0, backup.explain()
        assert "ads-agent: backup succeeded" in backup.stdout
        assert "saved backup-1" in backup.stdout

        failed = local_plane.ads("action", lab_id, "selftest", "--wait")
        assert failed.returncode == 1, failed.explain()
        assert "the page check failed" in failed.stdout
        assert f"action selftest of lab {lab_id} failed: exited 5" in failed.stderr
        assert page(app_url) == 200

        unknown = local_plane.ads("action", lab_id, "restore")
        assert unknown.returncode == 3, unknown.explain()
        assert "defines no action 'restore'" in unknown.stderr and "selftest" in unknown.stderr

        listed = local_plane.ads("actions", lab_id, "--json")
        assert listed.returncode == 0, listed.explain()
        runs = listed.json()["runs"]
        assert [r["name"] for r in runs] == ["selftest", "backup"]
        assert [r["exit_code"] for r in runs] == [5, 0]
        assert listed.json()["status"] == "READY"
    finally:
        destroyed = local_plane.ads("destroy", lab_id, "--wait")
        assert destroyed.returncode == 0, destroyed.explain()
