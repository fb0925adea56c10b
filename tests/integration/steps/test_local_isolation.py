"""The local provider's safety rules that need no running lab: uid leases, safe reads and
writes in a sandbox, and the local source policy."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ads.config import AdsConfig
from ads.providers.local_sandbox import RunAs, UidPool, make_sandbox, read_lab_file, write_file
from ads.providers.local_sources import SourceReader, local_source_problem, reader_for

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (chown to a lab uid)")


def test_given_two_labs_when_uids_are_leased_then_they_differ_and_a_freed_one_is_not_reused_first(
    tmp_path: Path,
):
    pool = UidPool(300_000, 3, directory=tmp_path / "leases")
    (tmp_path / "leases").mkdir(mode=0o700)

    first = pool.allocate("lab-a", tmp_path / "a.json")
    second = pool.allocate("lab-b", tmp_path / "b.json")
    again = pool.allocate("lab-a", tmp_path / "a.json")
    pool.release(first, "lab-a")
    third = pool.allocate("lab-c", tmp_path / "c.json")

    assert first != second
    assert again == first
    assert third not in (first, second)
    assert set(pool.leased()) == {second, third}


@as_root
def test_given_a_lab_that_planted_a_symlink_for_its_exit_file_when_root_reads_it_then_nothing_is_read(
    tmp_path: Path,
):
    layout = make_sandbox(tmp_path / "sandbox", RunAs("ads-lab-300100", 300_100, 300_100))
    secret = tmp_path / "secret"
    secret.write_text("0\n")
    (layout.exits / "init-1.exit").symlink_to(secret)

    assert read_lab_file(layout.top, "vm/.ads-init/init-1.exit") == ""
    assert layout.top.stat().st_uid == 0
    assert layout.ads.stat().st_mode & 0o777 == 0o750
    assert layout.vm.stat().st_uid == 300_100


def test_given_a_directory_someone_else_may_write_when_root_writes_into_it_then_it_refuses(
    tmp_path: Path,
):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)

    with pytest.raises(OSError, match="writable by someone else"):
        write_file(shared, "plan.json", b"{}")
    assert not (shared / "plan.json").exists()


@pytest.mark.parametrize("url", ["file:///etc", "/etc/ssh", "/root/repo", "file:///proc/1", "/"])
def test_given_a_system_directory_as_local_source_when_checked_then_it_is_refused_naming_it(
    url: str,
):
    refused = local_source_problem(url, AdsConfig(provider="local"))

    assert refused is not None
    assert "system directory" in refused.found
    assert str(refused).startswith("source.git: found ")


def test_given_a_symlink_to_etc_as_local_source_when_checked_then_it_is_refused(tmp_path: Path):
    (tmp_path / "innocent").symlink_to("/etc")

    refused = local_source_problem(str(tmp_path / "innocent"), AdsConfig(provider="local"))

    assert refused is not None and "/etc" in refused.found


def test_given_an_allowed_root_when_a_source_is_under_it_then_the_control_plane_reads_it(
    tmp_path: Path,
):
    config = AdsConfig(provider="local", local_source_roots=(str(tmp_path),))

    reader = reader_for(tmp_path / "repo", None, config)

    assert reader.uid is None


@as_root
def test_given_a_known_requester_when_a_source_is_outside_the_roots_then_it_is_read_as_them(
    tmp_path: Path,
):
    alice = SourceReader(name="alice", uid=1234, gid=1234)

    assert reader_for(tmp_path / "repo", alice, AdsConfig(provider="local")) == alice
    assert reader_for(tmp_path / "repo", None, AdsConfig(provider="local")).name == "nobody"
