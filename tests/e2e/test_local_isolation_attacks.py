"""End to end: hostile local labs, run as a user would run them, against `ads local up`.

Each attack is a lab whose start step does what a malicious lab would: plant symlinks
in new sandboxes, read, write and signal another lab, read the control plane's files,
or ask for a source it has no right to read. The control plane runs as root (CI's case)
with ADS_HOME in a directory every user can traverse (like /srv/ads), so only ADS's
isolation stands between a lab and those files. What each attack managed is written
by the lab into its own sandbox, and the test reads it there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ads import processes
from ads.local.daemon import state_file
from ads.processes import alive
from ads.providers.local_processes import sandbox_processes
from tests.e2e.harness import (
    REPO_ROOT,
    RunningPlane,
    kill_leftovers,
    leftover_processes,
    run_ads,
)
from tests.e2e.requester_client import deploy_as

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="the attacks are on a control plane run as root"),
]

HELLO_WEB = REPO_ROOT / "events" / "labs" / "hello-web"
# A uid no account has, outside the range local labs lease uids from.
UNPRIVILEGED_UID = 61_903
RESULT_FILE = "attack-result.json"


@pytest.fixture(scope="module")
def exposed_plane() -> Iterator[RunningPlane]:
    """A control plane whose ADS_HOME every local user may traverse."""
    home = Path(tempfile.mkdtemp(prefix="ads-e2e-exposed-"))
    home.chmod(0o755)
    plane: RunningPlane | None = None
    try:
        started = run_ads(home, "local", "up", "--port", "0", "--timeout", "180")
        assert started.returncode == 0, started.explain()
        state = json.loads(state_file(home).read_text())
        plane = RunningPlane(home=home, endpoint=state["endpoint"], pid=int(state["pid"]))
        yield plane
    finally:
        run_ads(home, "local", "down", timeout=120)
        deadline = time.monotonic() + 10
        while leftover_processes(home) and time.monotonic() < deadline:
            time.sleep(0.2)
        kill_leftovers(home)
        if plane is not None and alive(plane.pid):
            os.kill(plane.pid, 9)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def root_only_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="ads-e2e-root-only-"))
    path.chmod(0o700)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def labspec_with_start(start: list[str]) -> dict[str, Any]:
    spec = json.loads((HELLO_WEB / "scripts" / "labspec.json").read_text())
    actions = spec["lab"]["runtime_requirements"]["platform"]["lab_actions"]
    actions["start"] = [*start, *actions["start"]]
    return spec


def python_step(script: str) -> str:
    """A start command running ``script`` with python3 (quoted for sh)."""
    return "python3 -c " + _sh_quote(textwrap.dedent(script))


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def deploy(plane: RunningPlane, spec: dict[str, Any] | Path, *extra: str) -> dict[str, Any]:
    if isinstance(spec, dict):
        spec_dir = Path(tempfile.mkdtemp(prefix="ads-e2e-spec-"))
        path = spec_dir / "labspec.json"
        path.write_text(json.dumps(spec))
        try:
            result = plane.ads("deploy", str(path), "--wait", "--json", *extra)
        finally:
            shutil.rmtree(spec_dir, ignore_errors=True)
    else:
        result = plane.ads("deploy", str(spec), "--wait", "--json", *extra)
    try:
        return result.json()
    except json.JSONDecodeError:
        raise AssertionError(result.explain()) from None


def destroy(plane: RunningPlane, lab_id: str) -> None:
    result = plane.ads("destroy", lab_id, "--wait")
    assert result.returncode == 0, result.explain()


def attack_result(record: dict[str, Any]) -> dict[str, Any]:
    sandbox = Path(record["vm_details"]["sandbox"])
    found = list(sandbox.rglob(RESULT_FILE))
    assert found, f"the attacking lab left no {RESULT_FILE} in {sandbox}"
    return json.loads(found[0].read_text())


def ready(record: dict[str, Any]) -> dict[str, Any]:
    assert record.get("status") == "READY", json.dumps(record, indent=2)[:3000]
    return record


def test_given_a_lab_that_plants_symlinks_in_new_sandboxes_when_another_lab_deploys_then_root_writes_through_none_of_them(
    exposed_plane: RunningPlane, root_only_dir: Path
):
    victim = root_only_dir / "victim.txt"
    victim.write_text("untouched\n")
    victim.chmod(0o600)
    root_only_dir.chmod(0o755)  # the symlink's target must be reachable by root only
    watcher = f"""
        import os, time
        targets = [{str(exposed_plane.home / "local" / "labs")!r}, "/tmp/ads-sandboxes"]
        victim = {str(victim)!r}
        mine = os.environ.get("ADS_SANDBOX", "")
        names = ["plan.json", "vm.json", "bundle", "source", ".ads-init"]
        planted = []
        deadline = time.time() + 120
        def learned():
            # Other labs' sandboxes, from the environment of any process it may read.
            for pid in os.listdir("/proc"):
                try:
                    with open("/proc/" + pid + "/environ", "rb") as f:
                        for item in f.read().split(b"\\0"):
                            if item.startswith(b"ADS_SANDBOX="):
                                yield item[12:].decode()
                except OSError:
                    pass

        while time.time() < deadline:
            entries = set(learned())
            for base in targets:
                try:
                    entries.update(os.path.join(base, e) for e in os.listdir(base))
                except OSError:
                    pass
            for sandbox in entries:
                if os.path.realpath(sandbox) == os.path.realpath(mine):
                    continue
                for where in (sandbox, os.path.join(sandbox, "ads"), os.path.join(sandbox, "vm")):
                    for name in names:
                        try:
                            os.symlink(victim, os.path.join(where, name))
                            planted.append(os.path.join(where, name))
                        except OSError:
                            pass
            time.sleep(0.005)
    """
    start = [
        "nohup " + python_step(watcher) + " >/dev/null 2>&1 &",
        "echo '{\"started\": true}' > ../" + RESULT_FILE,
    ]
    attacker = ready(deploy(exposed_plane, labspec_with_start(start)))
    try:
        target = deploy(exposed_plane, HELLO_WEB)

        assert victim.read_text() == "untouched\n"
        assert target.get("status") == "READY", target
        destroy(exposed_plane, target["lab_id"])
    finally:
        destroy(exposed_plane, attacker["lab_id"])
    assert victim.read_text() == "untouched\n"


def test_given_two_labs_when_one_attacks_the_other_then_it_cannot_read_write_or_signal_it(
    exposed_plane: RunningPlane,
):
    victim = ready(deploy(exposed_plane, HELLO_WEB))
    victim_sandbox = Path(victim["vm_details"]["sandbox"])
    # The long-lived ones (the agent, its supervisor, the lab's server), not a passing `sleep`.
    victim_pids = [
        pid
        for pid in sandbox_processes(str(victim_sandbox))
        if [Path(arg).name for arg in processes.cmdline(pid)[:1]] != ["sleep"]
    ]
    assert victim_pids
    script = f"""
        import json, os, signal
        victim = {str(victim_sandbox)!r}
        result = {{"read": [], "listed": [], "written": [], "killed": []}}
        for directory, dirs, files in os.walk(victim):
            result["listed"].append(directory)
            for name in files:
                try:
                    with open(os.path.join(directory, name), "rb") as f:
                        f.read(1)
                    result["read"].append(os.path.join(directory, name))
                except OSError:
                    pass
        for where in (victim, os.path.join(victim, "vm"), os.path.join(victim, "state")):
            try:
                with open(os.path.join(where, "planted-by-attacker"), "w") as f:
                    f.write("x")
                result["written"].append(where)
            except OSError:
                pass
        for pid in {victim_pids!r}:
            try:
                os.kill(pid, signal.SIGKILL)
                result["killed"].append(pid)
            except OSError:
                pass
        with open("../{RESULT_FILE}", "w") as f:
            json.dump(result, f)
    """
    attacker = deploy(exposed_plane, labspec_with_start([python_step(script)]))
    try:
        ready(attacker)
        result = attack_result(attacker)

        assert result == {"read": [], "listed": [], "written": [], "killed": []}
        assert all(alive(pid) for pid in victim_pids)
        assert not list(victim_sandbox.rglob("planted-by-attacker"))
        health = subprocess.run(
            [
                "python3",
                "-c",
                "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)",
                victim["endpoint"].rstrip("/") + "/health",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert health.returncode == 0, health.stderr
    finally:
        destroy(exposed_plane, attacker["lab_id"])
        destroy(exposed_plane, victim["lab_id"])


def test_given_a_lab_when_it_reads_the_control_planes_files_then_it_finds_nothing(
    exposed_plane: RunningPlane,
):
    local = exposed_plane.home / "local"
    secrets = sorted(str(p) for p in local.rglob("*") if p.is_file())
    assert any(p.endswith("control-plane.json") for p in secrets)
    script = f"""
        import json, os
        result = {{"read": [], "listed": []}}
        for path in {secrets!r}:
            try:
                with open(path, "rb") as f:
                    f.read(1)
                result["read"].append(path)
            except OSError:
                pass
        for directory in ({str(exposed_plane.home)!r}, {str(local)!r}, {str(local / "labs")!r}):
            try:
                result["listed"] += os.listdir(directory)
            except OSError:
                pass
        with open("../{RESULT_FILE}", "w") as f:
            json.dump(result, f)
    """
    attacker = deploy(exposed_plane, labspec_with_start([python_step(script)]))
    try:
        ready(attacker)

        result = attack_result(attacker)

        assert result["read"] == []
        # At most the empty mount points of its own view: no file of the control plane.
        assert not {Path(p).name for p in secrets} & set(result["listed"]), result
    finally:
        destroy(exposed_plane, attacker["lab_id"])


def test_given_a_system_directory_as_local_source_when_deployed_then_it_is_refused_in_one_line(
    exposed_plane: RunningPlane,
):
    result = exposed_plane.ads("deploy", str(HELLO_WEB), "--source", "git:file:///etc", "--json")

    assert result.returncode == 2, result.explain()
    assert "source.git" in result.output
    assert "system directory /etc" in result.output


def test_given_a_root_only_repository_as_local_source_when_deployed_then_the_lab_never_gets_its_contents(
    exposed_plane: RunningPlane, root_only_dir: Path
):
    repo = root_only_dir / "secret-lab"
    shutil.copytree(HELLO_WEB, repo)
    (repo / "secret.txt").write_text("TOP-SECRET-7f3a\n")
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(root_only_dir),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@ads.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@ads.invalid",
    }
    for command in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "-A"],
        ["git", "commit", "-qm", "s"],
    ):
        subprocess.run(command, cwd=repo, env=env, check=True, capture_output=True)

    # Asked by an unprivileged user: root asking for its own repository reads it as root.
    labspec = json.loads((HELLO_WEB / "scripts" / "labspec.json").read_text())
    record = deploy_as(UNPRIVILEGED_UID, exposed_plane, labspec, str(repo))

    try:
        assert record.get("status") == "FAILED", json.dumps(record, indent=2)[:3000]
        assert f"uid {UNPRIVILEGED_UID} cannot read" in json.dumps(record)
        leaked = subprocess.run(
            [
                "grep",
                "-rl",
                "TOP-SECRET-7f3a",
                "/tmp/ads-sandboxes",
                str(exposed_plane.home / "local" / "labs"),
            ],
            capture_output=True,
            text=True,
        )
        assert leaked.stdout == ""
    finally:
        exposed_plane.ads("destroy", record["lab_id"], "--wait")
