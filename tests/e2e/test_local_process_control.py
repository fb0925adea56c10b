"""`ads local down` and friends: which processes they end, and which they leave alone.

Uses throwaway `sleep` processes started here (and ended here, by pid) in place of a
control plane, so these run in about a second.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ads.cli.local_supervisor import stop_plane
from ads.local.daemon import (
    ControlPlaneState,
    is_control_plane_process,
    labs_dir,
    read_state,
    sandbox_processes,
    state_file,
    write_state,
)
from ads.processes import alive, uid_processes
from tests.e2e.harness import leftover_processes, run_ads


@pytest.fixture
def sleeper():
    """Start ``sleep`` processes (optionally with extra environment); end them afterwards."""
    started: list[subprocess.Popen] = []

    def start(env: dict[str, str] | None = None) -> subprocess.Popen:
        proc = subprocess.Popen(
            ["sleep", "60"], env=dict(os.environ, **(env or {})), start_new_session=True
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=5)


def test_given_a_state_file_naming_a_stranger_when_down_runs_then_the_stranger_is_not_signalled(
    tmp_path: Path, sleeper
):
    stranger = sleeper()
    write_state(
        tmp_path,
        ControlPlaneState(
            "http://127.0.0.1:1", stranger.pid, "2026-01-01T00:00:00Z", str(tmp_path)
        ),
    )
    report = stop_plane(tmp_path, timeout=1)
    assert report.refused == [stranger.pid]
    assert report.stopped == []
    assert stranger.poll() is None
    assert not state_file(tmp_path).exists()


def test_given_a_leftover_lab_process_when_down_runs_then_it_is_ended(tmp_path: Path, sleeper):
    sandbox = tmp_path / "local" / "labs" / "lab-a"
    sandbox.mkdir(parents=True)
    leftover = sleeper({"ADS_SANDBOX": str(sandbox)})
    elsewhere = sleeper({"ADS_SANDBOX": str(tmp_path.parent / "another-home" / "lab-b")})
    assert sandbox_processes(tmp_path) == [leftover.pid]
    report = stop_plane(tmp_path, timeout=1)
    assert leftover.pid in report.killed_lab_processes
    leftover.wait(timeout=5)
    assert elsewhere.poll() is None


def test_given_a_leftover_in_a_sandbox_linked_from_the_labs_root_when_down_runs_then_it_is_ended(
    tmp_path: Path, sleeper
):
    # As root, a sandbox the lab's uid could not reach under $ADS_HOME lives in
    # <tmp>/ads-sandboxes/ and the labs root holds a symlink to it.
    home = tmp_path / "home"
    labs = labs_dir(home)
    labs.mkdir(parents=True)
    outside = tmp_path / "ads-sandboxes" / "lab-c-0123456789ab"
    outside.mkdir(parents=True)
    (labs / "lab-c").symlink_to(outside)
    leftover = sleeper({"ADS_SANDBOX": str(outside)})
    unlinked = sleeper({"ADS_SANDBOX": str(tmp_path / "ads-sandboxes" / "lab-d-unlinked")})

    assert sandbox_processes(home) == [leftover.pid]
    assert leftover.pid in leftover_processes(home)
    report = stop_plane(home, timeout=1)

    assert leftover.pid in report.killed_lab_processes
    leftover.wait(timeout=5)
    assert unlinked.poll() is None
    assert report.survivors == []


@pytest.mark.skipif(os.geteuid() != 0, reason="only root starts a process as another uid")
def test_given_a_lab_process_with_a_scrubbed_environment_when_leftovers_are_sought_then_its_leased_uid_finds_it(
    tmp_path: Path, monkeypatch
):
    home = tmp_path / "home"
    bookkeeping = labs_dir(home) / ".vms" / "lab-e.json"
    machine = tmp_path / "tmp"
    leases = machine / "ads-sandboxes" / ".uid-leases"
    leases.mkdir(parents=True)
    uid = next(u for u in range(64500, 64600) if not uid_processes(u))
    (leases / str(uid)).write_text(json.dumps({"lab_id": "lab-e", "bookkeeping": str(bookkeeping)}))
    (leases / str(uid + 1)).write_text(
        json.dumps({"lab_id": "x", "bookkeeping": "/elsewhere/.vms/x.json"})
    )
    monkeypatch.setattr(tempfile, "tempdir", str(machine))
    scrubbed = subprocess.Popen(["sleep", "60"], env={"PATH": "/usr/bin:/bin"}, user=uid, group=uid)
    try:
        assert sandbox_processes(home) == [scrubbed.pid]
        assert leftover_processes(home) == [scrubbed.pid]
    finally:
        scrubbed.kill()
        scrubbed.wait(timeout=5)
    assert leftover_processes(home) == []


def test_given_a_process_that_is_not_the_daemon_when_checked_then_it_is_not_taken_for_one(
    tmp_path: Path, sleeper
):
    assert not is_control_plane_process(sleeper().pid, tmp_path)
    assert not is_control_plane_process(os.getpid())
    assert alive(os.getpid())


def test_given_a_damaged_state_file_when_read_then_it_counts_as_absent(tmp_path: Path):
    state_file(tmp_path).parent.mkdir(parents=True)
    state_file(tmp_path).write_text("{not json")
    assert read_state(tmp_path) is None
    result = run_ads(tmp_path, "local", "status")
    assert result.returncode == 1, result.explain()
    assert "not running" in result.stdout


def test_given_a_taken_port_when_up_runs_then_it_fails_fast_naming_the_port(tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_ads(tmp_path, "local", "up", "--port", str(port), timeout=30)
    assert result.returncode == 2, result.explain()
    assert result.stderr.strip().splitlines() == [
        f"ads: error: --port: found {port}, but 127.0.0.1:{port} is already in use; "
        "allowed: a free port (or --port 0 for any free one)"
    ]
    assert read_state(tmp_path) is None


@pytest.mark.parametrize("command", [("local", "up", "--port", "0"), ("demo",)])
def test_given_ads_home_is_a_file_when_the_plane_would_start_then_one_line_names_ads_home(
    tmp_path: Path, command: tuple[str, ...]
):
    home = tmp_path / "not-a-directory"
    home.write_text("")

    result = run_ads(home, *command, timeout=30)

    assert result.returncode == 2, result.explain()
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"ads: error: invalid ADS configuration: ADS_HOME: found '{home}'")
    assert "allowed: a directory this user can write" in line
    assert leftover_processes(home) == []


def test_given_a_missing_labspec_when_the_demo_runs_then_it_says_what_is_allowed_without_starting(
    tmp_path: Path,
):
    result = run_ads(tmp_path, "demo", str(tmp_path / "nope.json"), timeout=30)
    assert result.returncode == 2, result.explain()
    assert "LABSPEC" in result.stderr and "allowed" in result.stderr
    assert not (tmp_path / "local").exists()


def test_given_no_arguments_when_the_daemon_module_runs_then_usage_is_printed():
    result = subprocess.run(
        [sys.executable, "-m", "ads.local.daemon"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "--port" in result.stderr
