"""End to end on the local plane over HTTP: a lab repository with v1, v2 and a v3 whose
build exits 2 (made here, its page naming its version). `ads redeploy --ref v2 --wait`
serves v2 on the same VM and records its sha; `ads redeploy --ref v3 --wait` exits 1
with the build's failure, and the lab is READY serving v2 with the failed update in its
revision history. The lab is destroyed whatever happens."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.harness import GIT_ENV

pytestmark = pytest.mark.e2e

HELLO_WEB = Path("events/labs/hello-web")


def page(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.read().decode()
    except (urllib.error.URLError, OSError) as exc:
        return f"no page: {exc}"


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=repo, env=GIT_ENV, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


@pytest.fixture
def versioned_lab(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    lab = tmp_path / "versioned-web"
    shutil.copytree(HELLO_WEB, lab)
    labspec_path = lab / "scripts" / "labspec.json"
    labspec = json.loads(labspec_path.read_text())
    labspec["lab"]["build_requirements"]["platform"]["build_steps"]["build"] = ["sh build.sh"]
    labspec_path.write_text(json.dumps(labspec))
    _git(lab, "init", "-q", "-b", "main")
    shas = {}
    for version, code in (("v1", 0), ("v2", 0), ("v3", 2)):
        (lab / "scripts" / "build.sh").write_text(
            f"mkdir -p ../build\necho 'lab version {version}' > ../build/index.html\nexit {code}\n"
        )
        _git(lab, "add", "-A")
        _git(lab, "commit", "-q", "-m", version)
        _git(lab, "tag", version)
        shas[version] = _git(lab, "rev-parse", "HEAD")
    _git(lab, "checkout", "-q", "v1")
    return lab, shas


def test_given_a_lab_at_v1_when_redeployed_to_v2_then_v3_then_v2_serves_and_the_failure_is_kept(
    local_plane, versioned_lab: tuple[Path, dict[str, str]]
):
    lab, shas = versioned_lab
    deployed = local_plane.ads("deploy", str(lab), "--source", f"git:{lab}", "--wait", "--json")
    assert deployed.returncode == 0, deployed.explain()
    lab_id = deployed.json()["lab_id"]
    app_url = deployed.json()["app_url"]
    try:
        assert "lab version v1" in page(app_url)

        updated = local_plane.ads("redeploy", lab_id, "--ref", "v2", "--wait")
        assert updated.returncode == 0, updated.explain()
        assert f"serves v2 at revision {shas['v2']}" in updated.stdout
        assert "lab version v2" in page(app_url)

        failed = local_plane.ads("redeploy", lab_id, "--ref", "v3", "--wait")
        assert failed.returncode == 1, failed.explain()
        assert f"it serves revision {shas['v2']} again" in failed.stderr
        assert "build exited 2" in failed.stderr
        assert "lab version v2" in page(app_url)

        shown = local_plane.ads("show", lab_id, "--json")
        record = shown.json()
        assert record["status"] == "READY" and record["revision"] == shas["v2"]
        assert [(r["outcome"], r["sha"]) for r in record["revisions"]] == [
            ("deployed", shas["v1"]),
            ("updated", shas["v2"]),
            ("rolled_back", shas["v3"]),
        ]
    finally:
        destroyed = local_plane.ads("destroy", lab_id, "--wait")
        assert destroyed.returncode == 0, destroyed.explain()
