"""Sample inputs live once: a test fixture never repeats a file of events/ byte for byte."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _copies(*folders: Path) -> dict[str, list[str]]:
    by_digest: dict[str, list[str]] = defaultdict(list)
    for folder in folders:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            by_digest[digest].append(str(path.relative_to(ROOT)))
    return {digest: paths for digest, paths in by_digest.items() if len(paths) > 1}


def test_given_the_test_fixtures_when_compared_with_the_sample_events_then_none_is_a_copy():
    fixtures = ROOT / "tests" / "fixtures"
    copies = _copies(fixtures, ROOT / "events")

    with_a_fixture = [paths for paths in copies.values() if any("tests/" in p for p in paths)]

    assert with_a_fixture == [], "keep one of each (events/ is read by tests, docs and the demo)"


def test_given_the_sample_labspecs_when_compared_then_each_is_there_once():
    assert _copies(ROOT / "events" / "labspecs") == {}
