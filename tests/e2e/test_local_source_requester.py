"""End to end: a local source is read with the rights of the OS user who asked.

The control plane runs as root; the repository lives in a 0700 directory of an
unprivileged uid, as a user's home does. A client running as that uid deploys it and
the lab gets it; a client running as another unprivileged uid asks for the same path
and the lab fails with the reason, having received nothing. Which uid asks is what the
kernel says owns the client's connection, whatever credential the client holds: both
clients hold the plane's user credential, handed over explicitly because the
credentials file is root's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import REPO_ROOT, RunningPlane
from tests.e2e.requester_client import deploy_as

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="clients of other uids need a root test run"),
]

HELLO_WEB = REPO_ROOT / "events" / "labs" / "hello-web"
# No account has these uids; they are outside the range local labs lease uids from.
OWNER_UID = 61_901
OTHER_UID = 61_902
MARKER = "OWNED-BY-61901"


@pytest.fixture
def owned_repository() -> Iterator[Path]:
    """hello-web as a git repository in a 0700 directory that only OWNER_UID may enter."""
    home = Path(tempfile.mkdtemp(prefix="ads-e2e-home-"))
    repo = home / "hello-web"
    shutil.copytree(HELLO_WEB, repo)
    (repo / "owned.txt").write_text(MARKER + "\n")
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@ads.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@ads.invalid",
    }
    for command in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "-A"],
        ["git", "commit", "-qm", "lab"],
    ):
        subprocess.run(command, cwd=repo, env=env, check=True, capture_output=True)
    for path in [home, *home.rglob("*")]:
        os.lchown(path, OWNER_UID, OWNER_UID)
    home.chmod(0o700)
    yield repo
    shutil.rmtree(home, ignore_errors=True)


def _deploy_as(uid: int, plane: RunningPlane, repo: Path) -> dict:
    labspec = json.loads((HELLO_WEB / "scripts" / "labspec.json").read_text())
    return deploy_as(uid, plane, labspec, str(repo))


def _sandbox_holds_marker(record: dict) -> bool:
    sandbox = Path(record["vm_details"]["sandbox"])
    found = subprocess.run(["grep", "-rl", MARKER, str(sandbox)], capture_output=True, text=True)
    return bool(found.stdout.strip())


def test_given_a_repository_in_a_users_private_directory_when_that_user_deploys_it_then_the_lab_gets_it(
    local_plane: RunningPlane, owned_repository: Path
):
    record = _deploy_as(OWNER_UID, local_plane, owned_repository)

    try:
        assert record.get("status") == "READY", json.dumps(record, indent=2)[:3000]
        assert _sandbox_holds_marker(record)
    finally:
        local_plane.ads("destroy", record["lab_id"], "--wait")


def test_given_a_repository_in_a_users_private_directory_when_another_user_asks_for_it_then_the_lab_fails_without_it(
    local_plane: RunningPlane, owned_repository: Path
):
    record = _deploy_as(OTHER_UID, local_plane, owned_repository)

    try:
        assert record.get("status") == "FAILED", json.dumps(record, indent=2)[:3000]
        cause = record.get("cause") or ""
        assert "uid 61902 cannot read" in cause, cause
        assert str(owned_repository) in cause
        sandbox = Path(record.get("vm_details", {}).get("sandbox") or "/nonexistent")
        if sandbox.exists():
            assert not _sandbox_holds_marker(record)
    finally:
        local_plane.ads("destroy", record["lab_id"], "--wait")
