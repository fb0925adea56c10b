"""ads_agent/install.sh run for real into a temporary prefix, as the local provider runs it."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

from tests.integration.agent.conftest import (
    INSTALL_SH,
    free_port,
    http_call,
    is_gone,
    pids_with_marker,
    wait_until,
)

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Lab Author",
    "GIT_AUTHOR_EMAIL": "author@example.org",
    "GIT_COMMITTER_NAME": "Lab Author",
    "GIT_COMMITTER_EMAIL": "author@example.org",
}

BUILD_SCRIPT = 'echo "built at $(date +%s%N)" >> ../build.log\n'


def _git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(repo), *args],
        env=dict(os.environ, **GIT_IDENTITY),
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def _lab_repo(root: Path) -> Path:
    repo = root / "lab-src"
    (repo / "scripts").mkdir(parents=True)
    (repo / "scripts" / "build.sh").write_text(BUILD_SCRIPT)
    (repo / "README").write_text("version one\n")
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "first")
    return repo


def _plan(
    root: Path, start: list[str] | None = None, build: bool = True, probe: dict | None = None
) -> Path:
    plan = {
        "lab_name": "Install Lab",
        "steps": [
            {"name": "build", "commands": ["sh build.sh"] if build else []},
            {"name": "start", "commands": start if start is not None else ["echo started"]},
        ],
        "actions": {"start": ["echo started"], "stop": []},
        "health_probe": probe,
    }
    path = root / "plan.json"
    path.write_text(json.dumps(plan))
    return path


class Install:
    def __init__(self, sandbox) -> None:
        self.sandbox = sandbox
        self.prefix = sandbox.root / "prefix"
        self.state_dir = self.prefix / "state"
        self.port = free_port()

    def run(
        self, *args: str, user: str | None = None, port: int | None = None
    ) -> subprocess.CompletedProcess:
        command = [
            "sh", str(INSTALL_SH), "--prefix", str(self.prefix), "--host", "127.0.0.1",
            "--port", str(self.port if port is None else port), "--lab-port", str(free_port()),
            "--service", "background", "--python", sys.executable, *args,
        ]  # fmt: skip
        return subprocess.run(
            command,
            env=self.sandbox.env,
            capture_output=True,
            text=True,
            timeout=120,
            start_new_session=True,
            user=user,
        )

    def agent_processes(self) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {"supervise": [], "serve": []}
        for pid in pids_with_marker(self.sandbox.marker):
            try:
                args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"ads_agent" in args and str(self.state_dir).encode() in args:
                for role in found:
                    if role.encode() in args:
                        found[role].append(pid)
        return found

    def lab_json(self) -> dict:
        return json.loads((self.state_dir / "lab.json").read_text())

    def agent_json(self) -> dict:
        return json.loads((self.state_dir / "agent.json").read_text())


@pytest.fixture
def install(sandbox):
    return Install(sandbox)


def test_given_a_lab_whose_probe_never_passes_when_installed_then_it_ends_deployed_after_the_healthy_wait(
    sandbox, install
):
    # Nothing listens on the lab port: the deploy succeeded, the lab is not healthy.
    probe = {"path": "/", "port": None, "expect_status": 200, "timeout_s": 1}
    plan = _plan(sandbox.root, build=False, probe=probe)
    started = time.monotonic()

    result = install.run("--lab-id", "unready-lab-1", "--plan", str(plan), "--healthy-wait", "1")

    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started >= 1
    assert "install.sh: lab not healthy after" in result.stderr
    assert "Check Health keeps asking" in result.stderr
    assert http_call(install.port, "/health").status == 503


def test_given_a_git_lab_when_installed_twice_then_one_agent_serves_the_same_lab(sandbox, install):
    repo = _lab_repo(sandbox.root)
    plan = _plan(sandbox.root)
    args = ("--lab-id", "twice-lab-1", "--plan", str(plan), "--source-git", str(repo))

    first = install.run(*args)
    assert first.returncode == 0, first.stderr
    first_pids = install.agent_processes()
    assert len(first_pids["supervise"]) == 1 and len(first_pids["serve"]) == 1
    first_lab = install.lab_json()

    second = install.run(*args)
    assert second.returncode == 0, second.stderr
    second_pids = install.agent_processes()
    assert len(second_pids["supervise"]) == 1 and len(second_pids["serve"]) == 1
    assert all(is_gone(pid) for pids in first_pids.values() for pid in pids)

    assert install.lab_json()["lab_id"] == first_lab["lab_id"] == "twice-lab-1"
    assert (
        install.lab_json()["source_revision"]
        == first_lab["source_revision"]
        == _git(repo, "rev-parse", "HEAD")
    )
    assert len((install.prefix / "lab" / "build.log").read_text().splitlines()) == 2
    assert (install.prefix / "agent" / "ads_agent" / "server.py").is_file()
    answer = http_call(install.port, "/health")
    assert (answer.status, answer.json()["lab_id"]) == (200, "twice-lab-1")
    deploys = http_call(install.port, "/api/1.0/actions?action=deploy").json()["actions"]
    assert len(deploys) == 2
    supervisor_pid = int((install.state_dir / "supervisor.pid").read_text())
    assert second_pids["supervise"] == [supervisor_pid]


def test_given_a_new_commit_and_a_ref_when_reinstalled_then_the_lab_moves_to_that_ref(
    sandbox, install
):
    repo = _lab_repo(sandbox.root)
    first_commit = _git(repo, "rev-parse", "HEAD")
    _git(repo, "tag", "v1")
    (repo / "README").write_text("version two\n")
    _git(repo, "commit", "-qam", "second")
    plan = _plan(sandbox.root)
    base = ("--lab-id", "ref-lab", "--plan", str(plan), "--source-git", f"file://{repo}")

    assert install.run(*base, "--source-ref", "v1").returncode == 0
    assert install.lab_json()["source_revision"] == first_commit
    assert (install.prefix / "lab" / "README").read_text() == "version one\n"

    assert install.run(*base, "--source-ref", "main").returncode == 0
    assert (install.prefix / "lab" / "README").read_text() == "version two\n"
    assert install.lab_json()["source"] == {"kind": "git", "url": f"file://{repo}", "ref": "main"}

    assert install.run(*base, "--source-ref", first_commit).returncode == 0
    assert install.lab_json()["source_revision"] == first_commit


def test_given_a_failing_deploy_when_installed_then_it_exits_with_the_command_status_and_the_agent_says_why(
    sandbox, install
):
    plan = _plan(sandbox.root, start=["echo cannot bind port 80 >&2; exit 9"], build=False)
    result = install.run("--lab-id", "broken-lab", "--plan", str(plan))
    assert result.returncode == 9
    assert "echo cannot bind port 80 >&2; exit 9" in result.stderr
    assert "cannot bind port 80" in result.stderr.split("--- output tail ---")[1]
    answer = http_call(install.port, "/health")
    assert (answer.status, answer.json()["status"]) == (503, "failed")
    assert len(install.agent_processes()["serve"]) == 1


def _tar_gz(path: Path, files: dict[str, str], top: str = "lab-main/") -> None:
    with tarfile.open(str(path), "w:gz") as bundle:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(top + name)
            info.size = len(data)
            info.mode = 0o755
            bundle.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_given_an_archive_lab_when_installed_twice_then_the_revision_is_its_sha256_and_the_lab_is_kept(
    sandbox, install, kind
):
    archive = sandbox.root / f"lab.{kind}"
    files = {"scripts/build.sh": BUILD_SCRIPT, "index.html": "<h1>lab</h1>\n"}
    if kind == "zip":
        with zipfile.ZipFile(str(archive), "w") as bundle:
            for name, text in files.items():
                bundle.writestr(name, text)
    else:
        _tar_gz(archive, files)
    plan = _plan(sandbox.root)
    args = ("--lab-id", "archive-lab", "--plan", str(plan), "--source-archive", str(archive))
    assert install.run(*args).returncode == 0
    assert install.run(*args).returncode == 0
    expected = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert install.lab_json()["source_revision"] == expected
    assert (install.prefix / "lab" / "index.html").read_text() == "<h1>lab</h1>\n"
    assert len((install.prefix / "lab" / "build.log").read_text().splitlines()) == 2


def test_given_an_archive_escaping_the_lab_dir_when_installed_then_it_is_refused(sandbox, install):
    archive = sandbox.root / "evil.tar.gz"
    _tar_gz(archive, {"../../outside": "x"}, top="")
    result = install.run(
        "--lab-id", "evil", "--plan", str(_plan(sandbox.root)), "--source-archive", str(archive)
    )
    assert result.returncode == 3
    assert "unsafe entry '../../outside'" in result.stderr
    assert not (install.prefix / "outside").exists()


def test_given_no_source_when_installed_then_an_empty_lab_with_scripts_is_deployed(
    sandbox, install
):
    plan = sandbox.root / "plan.json"
    plan.write_text(
        json.dumps(
            {"lab_name": "Empty", "steps": [{"name": "start", "commands": ["pwd"]}], "actions": {}}
        )
    )
    result = install.run("--lab-id", "empty-lab", "--plan", str(plan))
    assert result.returncode == 0, result.stderr
    assert (install.prefix / "lab" / "scripts").is_dir()
    assert install.lab_json()["source_revision"] == "none"
    info = http_call(install.port, "/api/1.0/info").json()
    assert (info["lab_id"], info["lab_name"], info["source"]["kind"]) == (
        "empty-lab",
        "Empty",
        "none",
    )


def test_given_port_zero_when_installed_then_agent_json_tells_the_caller_where_the_agent_listens(
    sandbox, install
):
    result = install.run(
        "--lab-id", "any-port", "--plan", str(_plan(sandbox.root, build=False)), port=0
    )
    assert result.returncode == 0, result.stderr
    port = install.agent_json()["port"]
    assert http_call(port, "/health").status == 200


def test_given_a_background_agent_when_its_server_dies_then_the_supervisor_starts_another(
    sandbox, install
):
    assert (
        install.run(
            "--lab-id", "phoenix", "--plan", str(_plan(sandbox.root, build=False))
        ).returncode
        == 0
    )
    [old] = install.agent_processes()["serve"]
    os.kill(old, signal.SIGKILL)
    assert wait_until(lambda: install.agent_processes()["serve"] not in ([], [old]), timeout=15)
    assert wait_until(lambda: _answers(install.port), timeout=10)


def _answers(port: int) -> bool:
    try:
        return http_call(port, "/health").status == 200
    except OSError:
        return False


def test_given_a_background_agent_when_the_supervisor_gets_sigterm_then_both_exit(sandbox, install):
    assert (
        install.run(
            "--lab-id", "stopper", "--plan", str(_plan(sandbox.root, build=False))
        ).returncode
        == 0
    )
    processes = install.agent_processes()
    [supervisor] = processes["supervise"]
    [server] = processes["serve"]
    os.kill(supervisor, signal.SIGTERM)
    assert wait_until(lambda: is_gone(supervisor) and is_gone(server), timeout=15)
    assert not (install.state_dir / "supervisor.pid").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--lab-id", "x-1"), "--prefix: missing"),
        (("--prefix", "/tmp/x", "--lab-id", "Bad_Id", "--plan", "p"), "--lab-id: found 'Bad_Id'"),
        (
            ("--prefix", "/tmp/x", "--lab-id", "a1", "--plan", "p", "--service", "cron"),
            "--service: found 'cron'",
        ),
        (
            ("--prefix", "/tmp/x", "--lab-id", "a1", "--plan", "p", "--port", "70000"),
            "--port: found '70000'",
        ),
        (
            ("--prefix", "/tmp/x", "--lab-id", "a1", "--plan", "p", "--source-ref", "v1"),
            "--source-ref: found without",
        ),
        (("--bogus",), "--bogus: unknown option"),
    ],
)
def test_given_bad_arguments_when_installing_then_exit_2_names_the_option(sandbox, args, message):
    result = subprocess.run(
        ["sh", str(INSTALL_SH), *args], capture_output=True, text=True, env=sandbox.env
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_given_no_systemd_when_the_systemd_service_is_required_then_exit_3_suggests_background(
    sandbox, install
):
    if os.path.isdir("/run/systemd/system"):
        pytest.skip("systemd runs here")
    result = install.run(
        "--lab-id", "unit-lab", "--plan", str(_plan(sandbox.root)), "--service", "systemd"
    )
    assert result.returncode == 3
    assert (
        "--service systemd: systemd is not running here; use --service background" in result.stderr
    )
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    # Refused before anything was written: no half-installed agent to clean up.
    assert not install.prefix.exists()
    assert install.agent_processes() == {"supervise": [], "serve": []}


def test_given_a_plan_that_is_not_json_when_installing_then_exit_2_names_the_file(sandbox, install):
    bad = sandbox.root / "plan.json"
    bad.write_text("{not json")
    result = install.run("--lab-id", "bad-plan", "--plan", str(bad))
    assert result.returncode == 2
    assert f"--plan: {bad} is not valid JSON" in result.stderr
    assert "Traceback" not in result.stderr


def test_given_a_plan_with_a_bad_probe_when_installing_then_exit_2_names_the_field(
    sandbox, install
):
    plan = sandbox.root / "plan.json"
    plan.write_text(
        json.dumps(
            {"steps": [], "actions": {}, "health_probe": {"path": "x", "expect_status": 200}}
        )
    )
    result = install.run("--lab-id", "bad-probe", "--plan", str(plan))
    assert result.returncode == 2
    assert "health_probe.path: found 'x', allowed a path starting with /" in result.stderr


# The test's own interpreter may live under /root, out of nobody's reach.
SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the install as another user")
@pytest.mark.skipif(SYSTEM_PYTHON is None, reason="needs a system python3 that nobody can run")
def test_given_root_hands_the_install_to_nobody_when_run_then_it_succeeds_without_sudo(sandbox):
    shared = Path(tempfile.mkdtemp(prefix="ads-nobody-", dir="/tmp"))
    try:
        os.chmod(str(shared), 0o777)
        repo = _lab_repo(shared)
        plan = _plan(shared)
        # The checkout may sit in a directory nobody cannot enter (a 0700 temp dir in CI):
        # run a copy of the agent bundle, as the local provider does.
        bundle = shared / "bundle" / "ads_agent"
        shutil.copytree(INSTALL_SH.parent, bundle, ignore=shutil.ignore_patterns("__pycache__"))
        for path in [shared, *shared.rglob("*")]:
            os.chmod(str(path), 0o777 if path.is_dir() else 0o666)
        prefix = shared / "prefix"
        port = free_port()
        env = dict(
            sandbox.env, HOME="/root"
        )  # unreadable to nobody, as when a root daemon starts it
        result = subprocess.run(
            ["sh", str(bundle / "install.sh"), "--prefix", str(prefix), "--lab-id", "nobody-lab",
             "--plan", str(plan), "--source-git", str(repo), "--host", "127.0.0.1",
             "--port", str(port), "--lab-port", str(free_port()), "--service", "auto",
             "--python", str(SYSTEM_PYTHON)],
            env=env, capture_output=True, text=True, timeout=120, user="nobody", start_new_session=True,
            cwd=str(shared),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "background" in result.stdout
        assert http_call(port, "/health").status == 200
        assert (prefix / "state" / "lab.json").stat().st_uid != 0
    finally:
        for pid in pids_with_marker(sandbox.marker):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        wait_until(lambda: not pids_with_marker(sandbox.marker), timeout=10)
        shutil.rmtree(str(shared), ignore_errors=True)


def test_given_an_archive_url_when_installed_then_it_is_downloaded_and_unpacked(sandbox, install):
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    served = sandbox.root / "served"
    served.mkdir()
    _tar_gz(served / "lab.tar.gz", {"scripts/build.sh": BUILD_SCRIPT})
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/lab.tar.gz"
        result = install.run(
            "--lab-id", "url-lab", "--plan", str(_plan(sandbox.root)), "--source-archive", url
        )
        missing = install.run(
            "--lab-id",
            "url-lab",
            "--plan",
            str(_plan(sandbox.root)),
            "--source-archive",
            url + ".gone",
        )
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 0, result.stderr
    assert install.lab_json()["source"]["url"] == url
    assert (install.prefix / "lab" / "build.log").is_file()
    assert missing.returncode == 3
    assert "download failed (HTTP Error 404" in missing.stderr
    assert http_call(install.port, "/health").status == 200  # the previous agent still answers
