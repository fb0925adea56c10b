"""Benchmark: how long importing each Lambda handler takes, against a bare ``import boto3``.

    python benchmarks/bench_cold_start.py [--runs 9] [--goal 1.5] [--json] [--check]

Each measurement is a fresh interpreter running ``python -c "import <module>"``, timed
from outside (wall time, interpreter start included, as a Lambda init pays it). Runs are
paired: a baseline ``import boto3`` and a handler import one after the other, the order
alternating from pair to pair, so that a machine getting busier or quieter weighs on both
sides alike. The figure per handler is the median over its pairs of handler / baseline.

The environment is what the Lambda runtime gives the function, as the CDK app deploys
it: the ``POWERTOOLS_*`` variables, region, function name, the X-Ray daemon address of
active tracing and ``LAMBDA_TASK_ROOT`` (with it the X-Ray SDK takes its Lambda path and
builds no botocore session for a sampler). Tracing stays on: ``POWERTOOLS_TRACE_DISABLED``
is unset. One unmeasured import of each side first writes the ``.pyc`` files and warms
the file cache, so that compiling sources is not what is measured. Run it on a quiet
machine and compare only runs made on the same one.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "boto3"
GOAL = 1.5


def handler_modules() -> list[str]:
    return [
        f"functions.{path.parent.name}.handler"
        for path in sorted((ROOT / "functions").glob("*/handler.py"))
    ]


def lambda_environment(module: str) -> dict[str, str]:
    name = module.split(".")[1].replace("_", "-")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": f"ads-{name}",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "LAMBDA_TASK_ROOT": str(ROOT),
        "_HANDLER": f"{module}.handler",
        "POWERTOOLS_SERVICE_NAME": "ads",
        "POWERTOOLS_METRICS_NAMESPACE": "ADS",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "ADS_PROVIDER": "ec2",
        "ADS_TABLE_NAME": "ads-labs",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    return env


def import_wall_s(module: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def measure(module: str, runs: int) -> dict[str, Any]:
    env = lambda_environment(module)
    # Unmeasured: writes the .pyc files and warms the file cache for both sides.
    import_wall_s(BASELINE, env)
    import_wall_s(module, env)
    baseline: list[float] = []
    handler: list[float] = []
    for pair in range(runs):
        if pair % 2 == 0:
            baseline.append(import_wall_s(BASELINE, env))
            handler.append(import_wall_s(module, env))
        else:
            handler.append(import_wall_s(module, env))
            baseline.append(import_wall_s(BASELINE, env))
    ratios = [h / b for h, b in zip(handler, baseline, strict=True)]
    return {
        "module": module,
        "handler_ms": round(statistics.median(handler) * 1000, 1),
        "baseline_ms": round(statistics.median(baseline) * 1000, 1),
        "ratio": round(statistics.median(ratios), 2),
        "runs": runs,
    }


def print_table(rows: list[dict[str, Any]], goal: float) -> None:
    print(f"Import time in a fresh interpreter (median of paired runs), goal <= {goal}x:")
    print()
    print(f"| handler | import ms | `import {BASELINE}` ms | ratio | within goal |")
    print("|---|---:|---:|---:|---|")
    for row in rows:
        within = "yes" if row["ratio"] <= goal else "no"
        print(
            f"| `{row['module']}` | {row['handler_ms']} | {row['baseline_ms']} "
            f"| {row['ratio']:.2f} | {within} |"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="paired runs per handler")
    parser.add_argument("--goal", type=float, default=GOAL, help="largest acceptable ratio")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when a handler is over the goal"
    )
    parser.add_argument("modules", nargs="*", help="handler modules (default: all)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error(f"--runs: found {args.runs}; allowed: 1 or more")
    rows = [measure(module, args.runs) for module in args.modules or handler_modules()]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print_table(rows, args.goal)
    over = [row["module"] for row in rows if row["ratio"] > args.goal]
    if over and args.check:
        print(f"over the goal: {', '.join(over)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
