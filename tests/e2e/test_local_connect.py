"""End to end on the local plane: `ads connect LAB --command CMD` runs in the lab's
sandbox as the lab's uid and cannot see another lab's sandbox; `--port` prints where the
lab's port answers; both labs come from a repository at a tag (`ads deploy PATH@REF`)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from ads.config import AdsConfig
from ads.providers.local import LocalProvider
from ads.providers.vm_logs import LogsRequest
from tests.e2e.harness import GIT_ENV

pytestmark = pytest.mark.e2e

HELLO_WEB = Path("events/labs/hello-web")


@pytest.fixture
def tagged_repo(tmp_path: Path) -> Path:
    """hello-web tagged v1, then a main commit without a labspec (so only v1 deploys)."""
    repo = tmp_path / "hello-web"
    shutil.copytree(HELLO_WEB, repo)
    tmp_path.chmod(0o755)
    for command in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "-A"],
        ["git", "commit", "-q", "-m", "v1"],
        ["git", "tag", "v1"],
        ["git", "rm", "-q", "scripts/labspec.json"],
        ["git", "commit", "-q", "-m", "no labspec on main"],
    ):
        subprocess.run(command, cwd=repo, env=GIT_ENV, check=True)
    return repo


def _provider_logs(home: Path, vm_id: str, request: LogsRequest) -> dict:
    """The local provider's logs of a lab, read as the plane reads them."""
    provider = LocalProvider(AdsConfig(provider="local", local_root=str(home / "local" / "labs")))
    vm = provider.vm_info(vm_id)
    assert vm is not None
    return provider.read_logs("", vm, request)


def test_given_two_labs_from_a_tag_when_connecting_with_a_command_then_it_runs_as_the_lab_alone(
    local_plane, tagged_repo: Path
):
    labs: list[dict] = []
    try:
        for _ in range(2):
            deployed = local_plane.ads("deploy", f"{tagged_repo}@v1", "--wait", "--json")
            assert deployed.returncode == 0, deployed.explain()
            labs.append(deployed.json())
        first, second = labs
        assert first["source"] == {"git": str(tagged_repo), "ref": "v1"}
        books = local_plane.home / "local" / "labs" / ".vms"
        book = json.loads((books / f"{first['lab_id']}.json").read_text())
        other = json.loads((books / f"{second['lab_id']}.json").read_text())

        who = local_plane.ads("connect", first["lab_id"], "--command", "id -u; pwd")
        assert who.returncode == 0, who.explain()
        uid, cwd = who.stdout.split()
        assert int(uid) == book["run_as"]["uid"] != 0
        assert cwd == str(Path(book["sandbox"]) / "vm")

        listed = local_plane.ads("connect", first["lab_id"], "--command", "ls lab/scripts")
        assert listed.returncode == 0, listed.explain()
        assert "labspec.json" in listed.stdout.split()

        peek = local_plane.ads(
            "connect", first["lab_id"], "--command", f"ls {other['sandbox']}/vm/lab"
        )
        assert peek.returncode != 0, peek.explain()

        failed = local_plane.ads("connect", first["lab_id"], "--command", "exit 7")
        assert failed.returncode == 7, failed.explain()

        logs = _provider_logs(local_plane.home, first["vm_id"], LogsRequest(step="start"))
        assert (logs["status"], logs["steps"]) == ("succeeded", [{"step": "start", "exit_code": 0}])
        assert logs["lines"] and logs["lines"][0].startswith("$ ")

        port = local_plane.ads("connect", first["lab_id"], "--port", "80")
        assert port.returncode == 0, port.explain()
        assert f"http://{port.stdout.strip()}/" == first["app_url"]
    finally:
        for lab in labs:
            destroyed = local_plane.ads("destroy", lab["lab_id"], "--wait")
            assert destroyed.returncode == 0, destroyed.explain()
