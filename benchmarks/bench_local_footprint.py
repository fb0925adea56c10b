"""Benchmark: what the local control plane's process spends on N concurrent labs.

    python benchmarks/bench_local_footprint.py [--labs 50] [--warmup 1] [--settle 30]
                                               [--timeout 900] [--json]

Starts ``ads local up`` under a temporary ADS_HOME (run it as root, like ``ads local
up``), then:

1. deploys and destroys ``--warmup`` labs, so that the handlers are imported and their
   clients built before the idle figure is taken (a fresh plane has imported neither);
2. takes the daemon's resident memory (RSS) at rest: "idle";
3. sends N ``POST /labs`` of hello-web at once, waits until all are READY, sends N
   ``DELETE``s at once and waits until all are DESTROYED, watching through pages of
   ``GET /labs`` every 2 s (the client's own load stays small), while it samples the
   daemon's RSS every 0.25 s ("peak") and reads its CPU time (user + system, from /proc
   through psutil) before and after: "CPU per lab" is that difference over N, deploy
   and destroy together;
4. takes RSS right after the last lab is DESTROYED ("after") and again after
   ``--settle`` seconds ("settled"), and reports settled / idle.

Only the control plane's own process is counted: the labs' sandboxes and agents are
processes of their own. The machine's load average is printed with the figures (others'
work on the same cores changes them). ``ads local down`` ends the plane either way.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from bench_local_concurrency import (  # noqa: E402
    _at_once,
    _timed,
    all_labs,
    api_client,
    deployment_body,
    run_ads,
)

MIB = 1024 * 1024
SAMPLE_INTERVAL_S = 0.25
POLL_INTERVAL_S = 2.0
# The goals of issue 17's "lean steps".
CPU_PER_LAB_GOAL_S = 0.4
SETTLED_RATIO_GOAL = 1.2


@dataclass
class RssSampler:
    """The peak RSS of a process, sampled in a thread while a round runs."""

    process: Any
    peak: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RssSampler:
        self.peak = self.process.memory_info().rss
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_INTERVAL_S):
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except Exception:
                return

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def cpu_seconds(process: Any) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def daemon_process(home: Path) -> Any:
    import psutil

    from ads.local.daemon import read_state

    state = read_state(home)
    if state is None:
        raise RuntimeError(f"no control-plane state under {home}")
    return psutil.Process(state.pid)


@dataclass
class Round:
    labs: int
    failures: list[str] = field(default_factory=list)
    time_to_all_ready_s: float | None = None
    time_to_all_destroyed_s: float | None = None
    leftovers: int = 0
    load: str = ""


def _wait_listed(client: Any, lab_ids: set[str], wanted: str, timeout_s: float) -> float | None:
    """Seconds until every lab is ``wanted``, read from pages of GET /labs (one request
    per 100 labs every POLL_INTERVAL_S, so that the client's own load stays small)."""
    from ads.cli.api_error import ApiError

    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        try:
            statuses = {lab["lab_id"]: lab.get("status") for lab in all_labs(client)}
        except ApiError:  # busy: a DELETE burst can hold a page past the client's 30 s
            continue
        waiting = [i for i in lab_ids if statuses.get(i) != wanted]
        ended = [i for i in waiting if statuses.get(i) in {"FAILED", "DESTROYED"}]
        if not waiting:
            return time.monotonic() - started
        if ended and wanted == "READY":
            return None
        time.sleep(POLL_INTERVAL_S)
    return None


def run_labs(home: Path, labs: int, timeout_s: float) -> Round:
    """N POSTs at once, all READY, N DELETEs at once, all DESTROYED."""
    from ads.local.daemon import sandbox_processes

    client = api_client(home)
    body = deployment_body()
    result = Round(labs, load=f"{os.getloadavg()[0]:.2f}")
    answers = _at_once(labs, lambda _: _timed(lambda: client.create_lab(body, str(uuid.uuid4()))))
    lab_ids = {answer["lab_id"] for _, answer, error in answers if not error}
    result.failures += [error for _, _, error in answers if error]
    result.time_to_all_ready_s = _wait_listed(client, lab_ids, "READY", timeout_s)
    if result.time_to_all_ready_s is None:
        result.failures.append("not every lab became READY")
    ordered = sorted(lab_ids)
    answers = _at_once(len(ordered), lambda i: _timed(lambda: client.destroy_lab(ordered[i])))
    # A DELETE the client gave up on may still have been served: the listing decides.
    result.time_to_all_destroyed_s = _wait_listed(client, lab_ids, "DESTROYED", timeout_s)
    if result.time_to_all_destroyed_s is None:
        result.failures += [error for _, _, error in answers if error] or ["not all DESTROYED"]
    deadline = time.monotonic() + 10
    while sandbox_processes(home) and time.monotonic() < deadline:
        time.sleep(0.5)
    result.leftovers = len(sandbox_processes(home)) + sum(
        1 for lab in all_labs(client) if lab.get("status") != "DESTROYED"
    )
    result.load += f" -> {os.getloadavg()[0]:.2f}"
    return result


def measure(home: Path, labs: int, warmup: int, settle_s: float, timeout_s: float) -> dict:
    process = daemon_process(home)
    if warmup:
        warm = run_labs(home, warmup, timeout_s)
        if warm.failures or warm.leftovers:
            raise RuntimeError(f"the warm-up round failed: {warm.failures}")
    time.sleep(2)
    idle = process.memory_info().rss
    cpu_before = cpu_seconds(process)
    with RssSampler(process) as sampler:
        result = run_labs(home, labs, timeout_s)
    cpu_after = cpu_seconds(process)
    after = process.memory_info().rss
    time.sleep(settle_s)
    settled = process.memory_info().rss
    return {
        "labs": labs,
        "warmup_labs": warmup,
        "cpu_s_total": round(cpu_after - cpu_before, 2),
        "cpu_s_per_lab": round((cpu_after - cpu_before) / labs, 3),
        "rss_idle_mib": round(idle / MIB, 1),
        "rss_peak_mib": round(sampler.peak / MIB, 1),
        "rss_after_destroy_mib": round(after / MIB, 1),
        "settle_s": settle_s,
        "rss_settled_mib": round(settled / MIB, 1),
        "settled_over_idle": round(settled / idle, 2),
        "time_to_all_ready_s": _rounded(result.time_to_all_ready_s),
        "time_to_all_destroyed_s": _rounded(result.time_to_all_destroyed_s),
        "failures": len(result.failures),
        "leftovers": result.leftovers,
        "load_1m": result.load,
        "details": result.failures[:10],
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def render(figures: dict[str, Any]) -> str:
    cpu_met = figures["cpu_s_per_lab"] <= CPU_PER_LAB_GOAL_S
    memory_met = figures["settled_over_idle"] <= SETTLED_RATIO_GOAL
    return "\n".join(
        [
            f"labs {figures['labs']} (after {figures['warmup_labs']} warm-up), "
            f"load 1m {figures['load_1m']}, failures {figures['failures']}, "
            f"leftovers {figures['leftovers']}",
            f"all READY {figures['time_to_all_ready_s']} s, "
            f"all DESTROYED {figures['time_to_all_destroyed_s']} s",
            f"CPU {figures['cpu_s_total']} s, {figures['cpu_s_per_lab']} s per lab "
            f"(goal <= {CPU_PER_LAB_GOAL_S}: {'met' if cpu_met else 'not met'})",
            f"RSS idle {figures['rss_idle_mib']} MiB, peak {figures['rss_peak_mib']} MiB, "
            f"after destroy {figures['rss_after_destroy_mib']} MiB, "
            f"after {figures['settle_s']} s {figures['rss_settled_mib']} MiB = "
            f"{figures['settled_over_idle']} x idle "
            f"(goal <= {SETTLED_RATIO_GOAL}: {'met' if memory_met else 'not met'})",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labs", type=int, default=50, help="labs deployed at once")
    parser.add_argument("--warmup", type=int, default=1, help="labs deployed before idle")
    parser.add_argument("--settle", type=float, default=30.0, help="seconds before 'settled'")
    parser.add_argument(
        "--timeout", type=float, default=900.0, help="seconds each wait (READY, DESTROYED) may take"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.labs < 1 or args.warmup < 0 or args.settle < 0:
        parser.error("--labs: at least 1; --warmup and --settle: at least 0")

    home = Path(tempfile.mkdtemp(prefix="ads-bench-home-"))
    try:
        started = run_ads(home, "local", "up", "--port", "0", "--timeout", "180")
        if started.returncode != 0:
            print(f"ads local up failed:\n{started.stdout}{started.stderr}", file=sys.stderr)
            return 1
        figures = measure(home, args.labs, args.warmup, args.settle, args.timeout)
    finally:
        run_ads(home, "local", "down", timeout=300)
        shutil.rmtree(home, ignore_errors=True)
    figures["cpus"] = os.cpu_count()
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(render(figures))
    return 0 if figures["failures"] == 0 and figures["leftovers"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
