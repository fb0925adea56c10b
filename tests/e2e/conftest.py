"""The end-to-end tier's fixtures.

One local control plane (``ads local up``) serves the whole session under a temporary
ADS_HOME; a finalizer always takes it down and kills whatever it left, by pid.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from ads.local.daemon import state_file
from ads.processes import alive
from tests.e2e.harness import ADS, RunningPlane, kill_leftovers, leftover_processes, run_ads


@pytest.fixture(scope="session")
def local_plane(tmp_path_factory) -> RunningPlane:
    if not ADS.exists():
        pytest.fail(f"the ads console script is not installed next to {sys.executable}")
    home = tmp_path_factory.mktemp("ads-home")
    plane: RunningPlane | None = None
    try:
        started = run_ads(home, "local", "up", "--port", "0", "--timeout", "180")
        assert started.returncode == 0, started.explain()
        state = json.loads(state_file(home).read_text())
        plane = RunningPlane(home=home, endpoint=state["endpoint"], pid=int(state["pid"]))
        yield plane
    finally:
        stopped = run_ads(home, "local", "down", timeout=120)
        deadline = time.monotonic() + 10
        while leftover_processes(home) and time.monotonic() < deadline:
            time.sleep(0.2)
        kill_leftovers(home)
        if plane is not None and alive(plane.pid):
            os.kill(plane.pid, signal.SIGKILL)
        assert stopped.returncode == 0, stopped.explain()


def pytest_collection_modifyitems(config, items):
    # Everything in this folder belongs to the e2e tier (`-m "not e2e"` skips all of it).
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)
    # A test that stops the shared plane runs after all the others, whatever its file's
    # name: a file sorting after it would otherwise find no plane (no credentials).
    items.sort(key=lambda item: item.get_closest_marker("takes_plane_down") is not None)
