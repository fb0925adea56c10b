"""Benchmark: time to READY of a lab built from scratch versus the same lab started from
its lab image, side by side on the local control plane.

    python benchmarks/bench_lab_image.py [--build-s 20] [--rounds 2] [--time-scale 1.0] [--json]

Each round generates a labspec of its own (so its image key is new) whose build step
sleeps ``--build-s`` seconds and writes a file, and deploys it twice with ``reuse_image``
through the real DeployLab workflow: the first deploy builds and, once READY, is kept as
an image (a snapshot of its sandbox); the second starts from that image and runs only
the init and start steps. Time to READY is the record's READY transition minus its
request time, so the polling of this script adds nothing. Both labs are destroyed.

With ``--time-scale 1.0`` the workflow's waits and retries are those AWS would use. The
local plane's image is a tar of the sandbox, made and restored in well under a second
for a lab of this size; on EC2 an AMI is made asynchronously (minutes) and a VM from it
boots like any other, so the saving there is the build and installers, not the boot.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
# Before the handlers' logger exists: their INFO lines would bury the figures.
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

from ads.local.runtime import LocalControlPlane  # noqa: E402

CALLER = "arn:aws:iam::123456789012:user/local"
BUILT_ONCE = REPO / "events" / "labspecs" / "built-once.labspec.json"


def labspec(build_s: float) -> dict[str, Any]:
    """The built-once sample with a build that takes ``build_s`` seconds, under a new id."""
    spec = json.loads(BUILT_ONCE.read_text())
    lab = spec["lab"]
    lab["description"]["id"] = f"slow-build-{secrets.token_hex(4)}"
    lab["description"]["name"] = "Slow Build"
    lab["build_requirements"]["platform"]["build_steps"]["build"] = [
        f'sleep {build_s:g}; echo "build $ADS_LAB_ID" >> "$ADS_LAB_DIR/build.log"'
    ]
    return spec


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def time_to_ready(plane: LocalControlPlane, lab_id: str) -> float:
    record = plane.repository().require(lab_id)
    ready = [c for c in record.status_history if c.status == "READY"]
    if not ready:
        raise SystemExit(f"lab {lab_id} is {record.status}: {record.cause}")
    return (_at(ready[0].at) - _at(record.created_at)).total_seconds()


def deploy(plane: LocalControlPlane, spec: dict[str, Any]) -> tuple[str, float]:
    from ads.api_models import DeploymentRequest
    from ads.deployments import request_deployment

    ctx = plane.deployment_context()
    accepted = request_deployment(
        ctx, DeploymentRequest(labspec=spec, reuse_image=True), caller=CALLER
    )
    execution = plane.wait_for_execution(accepted["execution_arn"], 3600)
    if execution["status"] != "SUCCEEDED":
        raise SystemExit(f"deploy of {accepted['lab_id']} ended {execution['status']}")
    return accepted["lab_id"], time_to_ready(plane, accepted["lab_id"])


def run(build_s: float, rounds: int, time_scale: float, workdir: Path) -> list[dict[str, Any]]:
    from ads.deployments import request_destroy

    rows = []
    with LocalControlPlane(workdir / "plane", time_scale=time_scale) as plane:
        for round_ in range(1, rounds + 1):
            spec = labspec(build_s)
            first_id, first_s = deploy(plane, spec)
            images = [i for i in plane.repository().images.list() if i.source_lab_id == first_id]
            if not images or images[0].image_state != "available":
                raise SystemExit(f"round {round_}: no image was kept of {first_id}")
            second_id, second_s = deploy(plane, spec)
            record = plane.repository().require(second_id)
            if record.vm_details.get("from_image") != images[0].image_id:
                raise SystemExit(f"round {round_}: {second_id} did not start from the image")
            rows.append(
                {
                    "round": round_,
                    "first_build_s": round(first_s, 2),
                    "from_image_s": round(second_s, 2),
                    "ratio": round(first_s / second_s, 2),
                    "image_bytes": images[0].size_bytes,
                }
            )
            ctx = plane.deployment_context()
            for lab_id in (first_id, second_id):
                destroyed = request_destroy(ctx, lab_id, caller=CALLER)
                plane.wait_for_execution(destroyed["execution_arn"], 600)
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-s", type=float, default=20.0, help="seconds the build takes")
    parser.add_argument("--rounds", type=int, default=2, help="labs built and restarted")
    parser.add_argument("--time-scale", type=float, default=1.0, help="1.0: AWS's waits")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="ads-bench-image-"))
    workdir.chmod(0o711)  # the labs' own uids pass through to their sandboxes
    rows = run(args.build_s, args.rounds, args.time_scale, workdir)
    summary = {
        "build_s": args.build_s,
        "time_scale": args.time_scale,
        "rounds": rows,
        "median_first_build_s": statistics.median(r["first_build_s"] for r in rows),
        "median_from_image_s": statistics.median(r["from_image_s"] for r in rows),
        "median_ratio": statistics.median(r["ratio"] for r in rows),
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"build step: {args.build_s:g} s, time scale {args.time_scale:g}")
        print(f"{'round':>5}  {'first build':>12}  {'from image':>11}  {'ratio':>6}")
        for r in rows:
            print(
                f"{r['round']:>5}  {r['first_build_s']:>10.2f} s  {r['from_image_s']:>9.2f} s"
                f"  {r['ratio']:>5.1f}x"
            )
        print(
            f"median: {summary['median_first_build_s']:.2f} s vs "
            f"{summary['median_from_image_s']:.2f} s, {summary['median_ratio']:.1f}x faster"
        )
    import shutil

    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
