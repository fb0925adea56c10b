"""End to end: a class starting its labs at once. Twelve `ads deploy` processes run
against one local plane at the same time; each must exit 0 with its own READY lab, no
lab may be made twice (the CLI retries what a busy plane did not answer, with one
Idempotency-Key per run), and twelve destroys at once must leave nothing."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import ADS, REPO_ROOT, RunningPlane, user_env

pytestmark = pytest.mark.e2e

HELLO_WEB = REPO_ROOT / "events" / "labs" / "hello-web"
CONCURRENT = 12
TIMEOUT_S = 600


@pytest.fixture
def labspec_file() -> Iterator[tuple[Path, str]]:
    """hello-web under a name no other test uses, so its labs can be counted."""
    token = secrets.token_hex(3)
    spec = json.loads((HELLO_WEB / "scripts" / "labspec.json").read_text())
    spec["lab"]["description"]["name"] = f"Concurrent {token}"
    folder = Path(tempfile.mkdtemp(prefix="ads-e2e-concurrent-"))
    path = folder / "labspec.json"
    path.write_text(json.dumps(spec))
    yield path, f"concurrent-{token}"
    shutil.rmtree(folder, ignore_errors=True)


def _at_once(plane: RunningPlane, commands: list[list[str]]) -> list[tuple[int, str, str]]:
    processes = [
        subprocess.Popen(
            [str(ADS), *args],
            cwd=REPO_ROOT,
            env=user_env(plane.home),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in commands
    ]
    results = []
    for process in processes:
        try:
            out, err = process.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
        results.append((process.returncode, out, err))
    return results


def _labs_named(plane: RunningPlane, prefix: str) -> dict[str, str]:
    listed = plane.ads("list", "--json", "--all-pages")
    assert listed.returncode == 0, listed.explain()
    labs = listed.json()["labs"]
    return {lab["lab_id"]: lab["status"] for lab in labs if lab["lab_id"].startswith(prefix)}


def test_given_twelve_deploys_at_once_when_they_finish_then_each_exits_0_with_its_own_lab_and_all_are_destroyed(
    local_plane: RunningPlane, labspec_file: tuple[Path, str]
):
    path, prefix = labspec_file
    deploys = _at_once(local_plane, [["deploy", str(path), "--wait", "--json"]] * CONCURRENT)

    lab_ids: list[str] = []
    try:
        for code, out, _err in deploys:
            if code == 0:
                lab_ids.append(json.loads(out)["lab_id"])
        failures = [(code, err[-800:]) for code, _, err in deploys if code != 0]
        assert failures == [], failures
        assert len(set(lab_ids)) == CONCURRENT
        labs = _labs_named(local_plane, prefix)
        # Exactly one lab per run: a retried POST did not make a second one.
        assert sorted(labs) == sorted(lab_ids), labs
        assert set(labs.values()) == {"READY"}
    finally:
        known = sorted(set(lab_ids) | set(_labs_named(local_plane, prefix)))
        destroys = _at_once(local_plane, [["destroy", lab_id, "--wait"] for lab_id in known])

    assert [code for code, _, _ in destroys] == [0] * len(known), destroys
    assert set(_labs_named(local_plane, prefix).values()) <= {"DESTROYED"}
