"""Benchmark: many labs requested and destroyed at once on the local control plane.

    python benchmarks/bench_local_concurrency.py [--concurrency 50 100] [--timeout 900] [--json]

Starts ``ads local up`` under a temporary ADS_HOME, then for each concurrency N:

1. N threads send ``POST /labs`` for the hello-web sample lab at the same moment (each
   with its own Idempotency-Key, as ``ads deploy`` does), one attempt each, and the
   latency of every answer is kept;
2. the labs are polled until each is READY or FAILED: "time to all READY" runs from the
   moment the requests were released;
3. N threads send ``DELETE /labs/{id}`` at once, and the labs are polled until DESTROYED;
4. leftovers are counted: lab records not DESTROYED and lab processes still running
   under the plane's sandboxes.

A failure is a POST or DELETE that did not answer 202, or a lab that did not reach
READY (or DESTROYED). The figures depend on the machine (cores, disk) far more than on
ADS: they are a benchmark, not a test. ``ads local down`` ends the plane either way.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

HELLO_WEB = REPO / "events" / "labs" / "hello-web"
POLL_INTERVAL_S = 1.0
# Statuses from which a lab will not reach the one waited for.
NEVER_AFTER = {"READY": {"FAILED", "DESTROYING", "DESTROYED"}, "DESTROYED": set()}


def percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile (``share`` 0.95 for p95); None without values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(share * len(ordered))))
    return ordered[rank - 1]


@dataclass
class Round:
    concurrency: int
    post_latency_s: list[float] = field(default_factory=list)
    post_failures: list[str] = field(default_factory=list)
    time_to_all_ready_s: float | None = None
    not_ready: dict[str, str] = field(default_factory=dict)
    delete_latency_s: list[float] = field(default_factory=list)
    delete_failures: list[str] = field(default_factory=list)
    time_to_all_destroyed_s: float | None = None
    leftover_records: dict[str, str] = field(default_factory=dict)
    leftover_processes: int = 0
    # The machine's 1-minute load average when the round started and ended: the figures
    # only compare with others taken under a similar load.
    load_before: float | None = None
    load_after: float | None = None

    @property
    def failures(self) -> int:
        return (
            len(self.post_failures)
            + len(self.not_ready)
            + len(self.delete_failures)
            + len(self.leftover_records)
        )

    def summary(self) -> dict[str, Any]:
        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 3)

        return {
            "concurrency": self.concurrency,
            "post_p50_s": rounded(percentile(self.post_latency_s, 0.50)),
            "post_p95_s": rounded(percentile(self.post_latency_s, 0.95)),
            "post_max_s": rounded(max(self.post_latency_s, default=None)),
            "time_to_all_ready_s": rounded(self.time_to_all_ready_s),
            "delete_p50_s": rounded(percentile(self.delete_latency_s, 0.50)),
            "delete_p95_s": rounded(percentile(self.delete_latency_s, 0.95)),
            "time_to_all_destroyed_s": rounded(self.time_to_all_destroyed_s),
            "failures": self.failures,
            "leftovers": len(self.leftover_records) + self.leftover_processes,
            "load_1m": f"{rounded(self.load_before)} -> {rounded(self.load_after)}",
            "details": {
                "post_failures": self.post_failures[:10],
                "not_ready": dict(list(self.not_ready.items())[:10]),
                "delete_failures": self.delete_failures[:10],
                "leftover_records": dict(list(self.leftover_records.items())[:10]),
                "leftover_processes": self.leftover_processes,
            },
        }


# -- the plane -------------------------------------------------------------------------


def ads_command() -> list[str]:
    script = Path(sys.executable).with_name("ads")
    return [str(script)] if script.exists() else [sys.executable, "-m", "ads.cli.main"]


def run_ads(home: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, ADS_HOME=str(home))
    return subprocess.run(
        [*ads_command(), *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def api_client(home: Path) -> Any:
    """A client of the plane in ``home``, each request made once (no retries)."""
    from ads.cli.client import AdsApiClient
    from ads.cli.endpoint import resolve_settings

    os.environ["ADS_HOME"] = str(home)
    return AdsApiClient(resolve_settings(env=dict(os.environ))).without_retries()


def deployment_body() -> dict[str, Any]:
    from ads.cli.lab_cmds import load_labspec

    return {"labspec": load_labspec(str(HELLO_WEB)), "options": {}}


def all_labs(client: Any) -> list[dict[str, Any]]:
    labs: list[dict[str, Any]] = []
    token = None
    while True:
        page = client.list_labs(limit=100, next_token=token)
        labs.extend(page.get("labs") or [])
        token = page.get("next_token")
        if not token:
            return labs


# -- one round ----------------------------------------------------------------------------


def _at_once(count: int, work: Any) -> list[Any]:
    """Run ``work(i)`` in ``count`` threads released together by a barrier."""
    gate = threading.Barrier(count)

    def run(index: int) -> Any:
        gate.wait()
        return work(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def _timed(call: Any) -> tuple[float, Any, str | None]:
    from ads.cli.api_error import ApiError

    started = time.monotonic()
    try:
        answer = call()
        return time.monotonic() - started, answer, None
    except ApiError as exc:
        return time.monotonic() - started, None, f"{exc.status or 'no answer'}: {exc.message}"


def _wait_all(
    client: Any, lab_ids: list[str], wanted: str, started: float, timeout_s: float
) -> tuple[float | None, dict[str, str]]:
    """Seconds from ``started`` until every lab is ``wanted`` (None if some never were),
    and the labs that ended elsewhere (or were still on their way at the deadline)."""
    from ads.cli.api_error import ApiError

    pending = set(lab_ids)
    ended: dict[str, str] = {}
    deadline = started + timeout_s
    while pending and time.monotonic() < deadline:
        for lab_id in sorted(pending):
            try:
                record = client.get_lab(lab_id)
            except ApiError:
                continue
            status = str(record.get("status"))
            if status == wanted:
                pending.discard(lab_id)
            elif status in NEVER_AFTER[wanted]:
                pending.discard(lab_id)
                step = record.get("failed_step") or "-"
                ended[lab_id] = f"{status} in {step}: {str(record.get('cause'))[:300]}"
        if pending:
            time.sleep(POLL_INTERVAL_S)
    ended.update({lab_id: "still on its way at the deadline" for lab_id in pending})
    return (None if ended else time.monotonic() - started), ended


def run_round(home: Path, concurrency: int, timeout_s: float) -> Round:
    from ads.local.daemon import sandbox_processes

    client = api_client(home)
    body = deployment_body()
    result = Round(concurrency, load_before=os.getloadavg()[0])

    def post(_: int) -> tuple[float, Any, str | None]:
        key = f"bench-{uuid.uuid4()}"
        return _timed(lambda: client.create_lab(body, key))

    started = time.monotonic()
    lab_ids: list[str] = []
    for latency, answer, error in _at_once(concurrency, post):
        result.post_latency_s.append(latency)
        if error:
            result.post_failures.append(error)
        else:
            lab_ids.append(answer["lab_id"])
    result.time_to_all_ready_s, result.not_ready = _wait_all(
        client, lab_ids, "READY", started, timeout_s
    )

    def delete(index: int) -> tuple[float, Any, str | None]:
        return _timed(lambda: client.destroy_lab(lab_ids[index]))

    started = time.monotonic()
    for latency, _, error in _at_once(len(lab_ids), delete) if lab_ids else []:
        result.delete_latency_s.append(latency)
        if error:
            result.delete_failures.append(error)
    result.time_to_all_destroyed_s, _ = _wait_all(client, lab_ids, "DESTROYED", started, timeout_s)

    # Every lab of the plane counts, also those made by a POST whose answer came too
    # late to be tracked: nobody would destroy them.
    result.leftover_records = {
        lab["lab_id"]: str(lab.get("status"))
        for lab in all_labs(client)
        if lab.get("status") != "DESTROYED"
    }
    # Destroyed VMs end their processes at once; give the last ones a moment.
    deadline = time.monotonic() + 10
    while sandbox_processes(home) and time.monotonic() < deadline:
        time.sleep(0.5)
    result.leftover_processes = len(sandbox_processes(home))
    result.load_after = os.getloadavg()[0]
    return result


# -- entry point ---------------------------------------------------------------------------


def render(rounds: list[dict[str, Any]]) -> str:
    columns = (
        ("N", "concurrency"),
        ("POST p50 s", "post_p50_s"),
        ("POST p95 s", "post_p95_s"),
        ("all READY s", "time_to_all_ready_s"),
        ("DELETE p95 s", "delete_p95_s"),
        ("all DESTROYED s", "time_to_all_destroyed_s"),
        ("failures", "failures"),
        ("leftovers", "leftovers"),
        ("load 1m", "load_1m"),
    )
    lines = [" | ".join(title for title, _ in columns)]
    for row in rounds:
        lines.append(" | ".join("-" if row[k] is None else str(row[k]) for _, k in columns))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[50, 100])
    parser.add_argument(
        "--timeout", type=float, default=900.0, help="seconds each wait (READY, DESTROYED) may take"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)

    home = Path(tempfile.mkdtemp(prefix="ads-bench-home-"))
    rounds: list[dict[str, Any]] = []
    try:
        started = run_ads(home, "local", "up", "--port", "0", "--timeout", "180")
        if started.returncode != 0:
            print(f"ads local up failed:\n{started.stdout}{started.stderr}", file=sys.stderr)
            return 1
        for concurrency in args.concurrency:
            print(f"round of {concurrency} concurrent labs...", file=sys.stderr, flush=True)
            rounds.append(run_round(home, concurrency, args.timeout).summary())
            print(render(rounds[-1:]), file=sys.stderr, flush=True)
    finally:
        run_ads(home, "local", "down", timeout=300)
        shutil.rmtree(home, ignore_errors=True)
    if args.json:
        print(json.dumps({"rounds": rounds, "cpus": os.cpu_count()}, indent=2))
    else:
        print(render(rounds))
    return 0 if all(r["failures"] == 0 and r["leftovers"] == 0 for r in rounds) else 1


if __name__ == "__main__":
    sys.exit(main())
