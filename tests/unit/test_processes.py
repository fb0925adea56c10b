"""ads.processes on real, short-lived processes: liveness, stopping with grace, groups,
matching by environment, uid and command line, and the host the local plane needs.

Every process is started here, in its own session, and ended here by pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest

from ads import processes
from ads.cli.main import main as ads_main

# Prints "ready" once its SIGTERM disposition is set, so a test never signals it earlier.
IGNORES_TERM = (
    "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ready', flush=True); time.sleep(60)"
)
# A process group of three: the shell and two children, all ignoring SIGTERM.
GROUP_IGNORING_TERM = "trap '' TERM; sleep 60 & sleep 60 & echo ready; wait"


@pytest.fixture
def spawn() -> Iterator[Callable[..., subprocess.Popen]]:
    started: list[subprocess.Popen] = []

    def start(argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        process = subprocess.Popen(
            argv,
            env=dict(os.environ, **(env or {})),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            # Its own session: the group holds whatever it started too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
        if process.stdout:
            process.stdout.close()


def _ready(process: subprocess.Popen) -> subprocess.Popen:
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process


def test_given_a_running_process_when_asked_then_it_is_alive_until_it_ends(spawn):
    sleeper = spawn(["sleep", "30"])
    assert processes.alive(sleeper.pid)
    sleeper.kill()
    sleeper.wait(timeout=5)
    assert not processes.alive(sleeper.pid)


def test_given_an_exited_child_not_yet_reaped_when_asked_then_the_zombie_counts_as_gone(spawn):
    child = spawn(["true"])
    # Not waited for: the child stays a zombie until someone reaps it.
    deadline = time.monotonic() + 5
    while processes.alive(child.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not processes.alive(child.pid)


@pytest.mark.parametrize("pid", [0, -1, -os.getpid()])
def test_given_a_pid_that_names_no_single_process_when_asked_then_it_is_not_alive(pid: int):
    assert not processes.alive(pid)


def test_given_a_process_that_ends_on_sigterm_when_stopped_then_it_ends_within_the_grace(spawn):
    sleeper = spawn(["sleep", "30"])
    started = time.monotonic()
    result = processes.stop([sleeper.pid], grace_s=10, kill_grace_s=1)
    assert result.stopped and result.signalled == [sleeper.pid]
    assert time.monotonic() - started < 5
    assert sleeper.wait(timeout=5) == -signal.SIGTERM


def test_given_a_process_ignoring_sigterm_when_stopped_then_sigkill_ends_it_after_the_grace(spawn):
    stubborn = _ready(spawn([sys.executable, "-c", IGNORES_TERM]))
    started = time.monotonic()
    result = processes.stop([stubborn.pid], grace_s=0.5, kill_grace_s=5)
    assert time.monotonic() - started >= 0.5
    assert result.stopped
    assert stubborn.wait(timeout=5) == -signal.SIGKILL


def test_given_a_process_group_ignoring_sigterm_when_stopped_then_every_member_ends(spawn):
    leader = _ready(spawn(["sh", "-c", GROUP_IGNORING_TERM]))
    members = processes.group_members([leader.pid])
    assert leader.pid in members and len(members) == 3
    result = processes.stop(groups=[leader.pid], grace_s=0.3, kill_grace_s=5)
    assert result.stopped
    assert sorted(result.signalled) == sorted(members)
    assert processes.group_members([leader.pid]) == []
    assert leader.wait(timeout=5) == -signal.SIGKILL


def test_given_a_finder_when_stopping_then_processes_it_finds_later_are_stopped_too(spawn):
    first = spawn(["sleep", "30"])
    second: list[subprocess.Popen] = []

    def find() -> list[int]:
        # The second process appears only after the first was signalled.
        if not second and not processes.alive(first.pid):
            second.append(spawn(["sleep", "30"]))
        return [p.pid for p in [first, *second] if processes.alive(p.pid)]

    result = processes.stop(find, grace_s=5, kill_grace_s=1)
    assert result.stopped
    assert second and result.signalled == [first.pid, second[0].pid]


def test_given_a_stopped_pid_list_when_the_process_is_already_gone_then_nothing_is_signalled(
    spawn,
):
    gone = spawn(["true"])
    gone.wait(timeout=5)
    result = processes.stop([gone.pid], grace_s=1, kill_grace_s=1)
    assert result.signalled == [] and result.stopped


def test_given_processes_with_a_variable_when_searched_then_only_they_are_found_with_its_value(
    spawn,
):
    marked = spawn(["sleep", "30"], env={"ADS_TEST_MARK": f"mark-{os.getpid()}"})
    other = spawn(["sleep", "30"], env={"ADS_TEST_MARK": "someone-else"})
    found = dict(processes.with_environ("ADS_TEST_MARK"))
    assert found[marked.pid] == f"mark-{os.getpid()}"
    assert found[other.pid] == "someone-else"
    assert os.getpid() not in found
    assert processes.environ(marked.pid)["ADS_TEST_MARK"] == f"mark-{os.getpid()}"


def test_given_a_process_when_its_uid_and_command_line_are_read_then_they_are_its_own(spawn):
    sleeper = spawn(["sleep", "31"])
    assert processes.real_uid(sleeper.pid) == os.getuid()
    assert sleeper.pid in processes.uid_processes(os.getuid())
    assert os.getpid() not in processes.uid_processes(os.getuid())
    assert processes.cmdline(sleeper.pid) == ["sleep", "31"]
    assert sleeper.pid in processes.matching(lambda pid: processes.cmdline(pid) == ["sleep", "31"])


def test_given_a_gone_process_when_read_then_the_answers_are_empty(spawn):
    gone = spawn(["true"])
    gone.wait(timeout=5)
    assert processes.cmdline(gone.pid) == []
    assert processes.environ(gone.pid) == {}
    assert processes.real_uid(gone.pid) is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="describes a Linux host")
def test_given_linux_when_the_host_is_checked_then_nothing_is_missing():
    assert processes.host_problem() is None
    assert processes.host_problem("Linux") is None


@pytest.mark.parametrize("system", ["Darwin", "Windows", ""])
def test_given_another_os_when_the_host_is_checked_then_one_line_says_what_is_needed(system):
    problem = processes.host_problem(system)
    assert problem is not None and "\n" not in problem
    assert problem.startswith("the local plane needs Linux (process groups, /proc via psutil")
    assert problem.endswith(f"found {system or 'an unknown OS'}")


@pytest.mark.parametrize("command", [["local", "up"], ["demo"]])
def test_given_a_mac_when_the_local_plane_is_started_then_it_refuses_in_one_line(
    command, monkeypatch, capsys, tmp_path
):
    monkeypatch.setattr(processes.platform, "system", lambda: "Darwin")
    monkeypatch.setenv("ADS_HOME", str(tmp_path / "home"))
    assert ads_main(command) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "ads: error: the local plane needs Linux (process groups, /proc via psutil, "
        "namespaces for lab isolation); found Darwin\n"
    )
    assert not (tmp_path / "home").exists()


def _counting_looks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the looks at the process table from now on (none is shared from before)."""
    monkeypatch.setattr(processes, "_table", (float("-inf"), []))
    looks: list[int] = []
    original = processes._look

    def look() -> list[processes.ProcessRow]:
        looks.append(1)
        return original()

    monkeypatch.setattr(processes, "_look", look)
    return looks


def test_given_questions_that_accept_a_recent_look_when_asked_together_then_one_look_serves_them(
    spawn, monkeypatch
):
    marked = spawn(["sleep", "30"], env={"ADS_TEST_MARK": f"shared-{os.getpid()}"})
    looks = _counting_looks(monkeypatch)
    with processes.accepting_age(60):
        answers = [dict(processes.with_environ("ADS_TEST_MARK")) for _ in range(5)]
        members = processes.group_members([marked.pid])
        by_uid = processes.uid_processes(os.getuid())

    assert looks == [1]
    assert all(answer[marked.pid] == f"shared-{os.getpid()}" for answer in answers)
    assert members == [marked.pid] and marked.pid in by_uid


def test_given_a_recent_look_when_a_process_ends_then_it_is_not_reported_from_that_look(
    spawn, monkeypatch
):
    marked = spawn(["sleep", "30"], env={"ADS_TEST_MARK": f"ended-{os.getpid()}"})
    _counting_looks(monkeypatch)
    with processes.accepting_age(60):
        assert marked.pid in dict(processes.with_environ("ADS_TEST_MARK"))
        marked.kill()
        marked.wait(timeout=5)
        # The look still lists it; the answer checks each pid it gives.
        assert marked.pid not in dict(processes.with_environ("ADS_TEST_MARK"))


def test_given_a_question_without_an_accepted_age_when_asked_then_a_new_look_sees_new_processes(
    spawn, monkeypatch
):
    looks = _counting_looks(monkeypatch)
    with processes.accepting_age(60):
        processes.process_table()
    later = spawn(["sleep", "30"], env={"ADS_TEST_MARK": f"later-{os.getpid()}"})

    assert later.pid in dict(processes.with_environ("ADS_TEST_MARK"))
    assert len(looks) == 2


def test_given_a_stop_when_its_rounds_share_looks_then_none_left_is_concluded_from_a_fresh_look(
    spawn, monkeypatch
):
    victim = spawn(["sleep", "30"], env={"ADS_TEST_MARK": f"stop-{os.getpid()}"})
    mark = f"stop-{os.getpid()}"
    latecomer: list[subprocess.Popen] = []
    original = processes._look

    def look() -> list[processes.ProcessRow]:
        rows = original()
        # A process that appears right after the stop's last shared look was taken.
        if not latecomer and victim.poll() is not None:
            latecomer.append(spawn(["sleep", "30"], env={"ADS_TEST_MARK": mark}))
        return rows

    monkeypatch.setattr(processes, "_look", look)

    def find() -> list[int]:
        return [pid for pid, value in processes.with_environ("ADS_TEST_MARK") if value == mark]

    result = processes.stop(find, grace_s=5, kill_grace_s=1)

    assert result.stopped
    assert latecomer and latecomer[0].poll() is not None
    assert result.signalled == [victim.pid, latecomer[0].pid]
