"""Benchmark: what one lab deployment costs, measured on the local control plane.

    python benchmarks/bench_workflow.py [--n 5] [--time-scale 1.0] [--json]

Runs N deployments of the hello-web sample lab through the real DeployLab workflow (to
READY, with a real agent health check) and destroys each through DestroyLab. For every
deployment it reports the state transitions Step Functions Standard would bill, the
Lambda invocations by function, the AWS API calls the handlers made (by service and
operation), and what AWS would charge at list prices (us-east-1):

* Step Functions Standard: $0.000025 per state transition (a retry is a transition);
* Lambda arm64: $0.0000133334 per GB-second at the memory the CDK app gives the step
  functions (256 MB, ``FunctionSpec.memory_mib`` in cdk_app/compute_construct.py),
  using the measured in-process handler durations rounded up to the millisecond, plus
  $0.20 per million requests.

It also measures each handler module's cold import time in a fresh interpreter.

Retries depend on timing: with ``--time-scale 1.0`` the retry waits are those AWS
would use, so the number of "not ready yet" retries is the one AWS would bill.
Handler durations are measured in-process against moto: they leave out network round
trips to DynamoDB and EventBridge but include moto's own emulation work (serialising a
full lab record takes it a few hundred milliseconds), so they are an estimate, not a
bound. The Lambda figure is small next to the Step Functions figure either way.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from ads.local.runtime import (  # noqa: E402
    FRONT_DOOR_FUNCTIONS,
    LAMBDA_MEMORY_MB,
    WORKFLOW_FUNCTIONS,
    LocalControlPlane,
)

SFN_PER_TRANSITION = 0.000025
LAMBDA_ARM_PER_GB_S = 0.0000133334
LAMBDA_PER_REQUEST = 0.20 / 1_000_000
HELLO_WEB = REPO / "events" / "labs" / "hello-web"
CALLER = "arn:aws:iam::123456789012:user/local"


def lambda_cost(durations_ms: list[float], memory_mb: int = LAMBDA_MEMORY_MB) -> float:
    gb_s = sum(math.ceil(d) for d in durations_ms) / 1000 * (memory_mb / 1024)
    return gb_s * LAMBDA_ARM_PER_GB_S + len(durations_ms) * LAMBDA_PER_REQUEST


def _git_source(workdir: Path) -> Path:
    path = workdir / "hello-web"
    shutil.copytree(HELLO_WEB, path)
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(workdir),
        "GIT_AUTHOR_NAME": "ADS benchmark",
        "GIT_AUTHOR_EMAIL": "bench@ads.invalid",
        "GIT_COMMITTER_NAME": "ADS benchmark",
        "GIT_COMMITTER_EMAIL": "bench@ads.invalid",
    }
    for command in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "-A"],
        ["git", "commit", "-q", "-m", "hello-web"],
    ):
        subprocess.run(command, cwd=path, env=env, check=True)
    return path


def run_deployments(n: int, time_scale: float, workdir: Path) -> list[dict[str, Any]]:
    from ads.api_models import DeploymentRequest, LabSource
    from ads.deployments import request_deployment, request_destroy

    source = _git_source(workdir)
    labspec = json.loads((HELLO_WEB / "scripts" / "labspec.json").read_text())
    rows: list[dict[str, Any]] = []
    with LocalControlPlane(workdir / "plane", time_scale=time_scale) as plane:
        ctx = plane.deployment_context()
        for i in range(n):
            started = time.perf_counter()
            accepted = request_deployment(
                ctx,
                DeploymentRequest(labspec=labspec, source=LabSource(git=str(source))),
                caller=CALLER,
            )
            lab_id = accepted["lab_id"]
            deployed = plane.wait_for_execution(accepted["execution_arn"], 3600)
            ready_s = time.perf_counter() - started
            if deployed["status"] != "SUCCEEDED":
                raise SystemExit(f"deployment {i + 1} ended {deployed['status']}: {deployed}")
            destroy = request_destroy(ctx, lab_id, caller=CALLER)
            destroyed = plane.wait_for_execution(destroy["execution_arn"], 600)
            if destroyed["status"] != "SUCCEEDED":
                raise SystemExit(f"destroy {i + 1} ended {destroyed['status']}: {destroyed}")
            deploy_t = plane.state_transitions(accepted["execution_arn"])
            destroy_t = plane.state_transitions(destroy["execution_arn"])
            usage = plane.ledger.for_lab(lab_id)
            durations = [inv.duration_ms for inv in usage.invocations]
            transitions = deploy_t.billed + destroy_t.billed
            sfn_cost = transitions * SFN_PER_TRANSITION
            fn_cost = lambda_cost(durations)
            rows.append(
                {
                    "deployment": i + 1,
                    "lab_id": lab_id,
                    "seconds_to_ready": round(ready_s, 2),
                    "state_transitions": {
                        "deploy": deploy_t.billed,
                        "deploy_retries": deploy_t.retries,
                        "destroy": destroy_t.billed,
                        "total": transitions,
                    },
                    "lambda_invocations": dict(sorted(usage.invocations_by_function.items())),
                    "lambda_ms": round(sum(durations), 1),
                    "cold_invocations": sum(1 for inv in usage.invocations if inv.cold),
                    "aws_api_calls": {
                        f"{service}:{operation}": count
                        for (service, operation), count in sorted(usage.api_calls.items())
                    },
                    "cost_usd": {
                        "step_functions": round(sfn_cost, 6),
                        "lambda": round(fn_cost, 8),
                        "total": round(sfn_cost + fn_cost, 6),
                    },
                }
            )
    return rows


def import_times(repeat: int = 5) -> dict[str, float]:
    """Each handler module's import time in ms in a fresh interpreter (best of ``repeat``)."""
    env = dict(
        os.environ,
        ADS_PROVIDER="local",
        ADS_LOCAL_ROOT=tempfile.gettempdir(),
        AWS_DEFAULT_REGION="us-east-1",
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_METRICS_DISABLED="true",
    )
    code = (
        "import sys, time; t = time.perf_counter(); "
        "__import__(sys.argv[1]); print((time.perf_counter() - t) * 1000)"
    )
    results: dict[str, float] = {}
    for name in (*WORKFLOW_FUNCTIONS, *FRONT_DOOR_FUNCTIONS):
        module = f"functions.{name}.handler"
        samples = []
        for _ in range(repeat):
            done = subprocess.run(
                [sys.executable, "-c", code, module],
                cwd=REPO,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                break
            samples.append(float(done.stdout.strip().splitlines()[-1]))
        if samples:
            results[name] = round(min(samples), 1)
    return results


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def median(key: str, sub: str | None = None) -> float:
        values = [r[key][sub] if sub else r[key] for r in rows]
        return statistics.median(values)

    invocations: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    for row in rows:
        invocations.update(row["lambda_invocations"])
        calls.update(row["aws_api_calls"])
    return {
        "deployments": len(rows),
        "median_seconds_to_ready": median("seconds_to_ready"),
        "median_state_transitions": median("state_transitions", "total"),
        "median_lambda_invocations": statistics.median(
            sum(r["lambda_invocations"].values()) for r in rows
        ),
        "median_aws_api_calls": statistics.median(sum(r["aws_api_calls"].values()) for r in rows),
        "median_cost_usd": median("cost_usd", "total"),
        "mean_lambda_invocations": {k: v / len(rows) for k, v in sorted(invocations.items())},
        "mean_aws_api_calls": {k: v / len(rows) for k, v in sorted(calls.items())},
    }


def print_table(rows: list[dict[str, Any]], imports: dict[str, float], time_scale: float) -> None:
    print(
        f"ADS workflow benchmark: {len(rows)} deployment(s) of hello-web, time scale {time_scale}"
    )
    print(f"(Lambda priced at {LAMBDA_MEMORY_MB} MB arm64; Step Functions Standard)\n")
    header = (
        f"{'#':>2}  {'to READY s':>10}  {'transitions':>11}  {'retries':>7}  "
        f"{'invocations':>11}  {'API calls':>9}  {'lambda ms':>9}  {'SFN $':>9}  "
        f"{'Lambda $':>10}  {'total $':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['deployment']:>2}  {r['seconds_to_ready']:>10.2f}  "
            f"{r['state_transitions']['total']:>11}  {r['state_transitions']['deploy_retries']:>7}  "
            f"{sum(r['lambda_invocations'].values()):>11}  {sum(r['aws_api_calls'].values()):>9}  "
            f"{r['lambda_ms']:>9.1f}  {r['cost_usd']['step_functions']:>9.6f}  "
            f"{r['cost_usd']['lambda']:>10.8f}  {r['cost_usd']['total']:>9.6f}"
        )
    s = summary(rows)
    print("\nLambda invocations per deployment (mean):")
    for name, count in s["mean_lambda_invocations"].items():
        print(f"  {name:<16} {count:6.1f}")
    print("\nAWS API calls by the handlers per deployment (mean):")
    for name, count in s["mean_aws_api_calls"].items():
        print(f"  {name:<28} {count:6.1f}")
    print("\nCold import time of each handler module (ms, best of 5 fresh interpreters):")
    for name, ms in imports.items():
        print(f"  functions.{name}.handler{'':<{16 - len(name)}} {ms:8.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5, help="number of deployments (default 5)")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="multiplier of the retry waits (1.0: the waits AWS would use)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--skip-imports", action="store_true", help="do not measure handler import times"
    )
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error(f"--n: found {args.n}; allowed: 1 or more")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    import logging

    # moto logs every Fail state at ERROR; nothing here fails on purpose.
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    workdir = Path(tempfile.mkdtemp(prefix="ads-bench-"))
    # The unprivileged lab user must be able to reach its sandbox under this directory.
    workdir.chmod(0o711)
    try:
        rows = run_deployments(args.n, args.time_scale, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    imports = {} if args.skip_imports else import_times()
    if args.json:
        print(
            json.dumps(
                {
                    "time_scale": args.time_scale,
                    "lambda_memory_mb": LAMBDA_MEMORY_MB,
                    "deployments": rows,
                    "summary": summary(rows),
                    "handler_import_ms": imports,
                },
                indent=2,
            )
        )
    else:
        print_table(rows, imports, args.time_scale)
    return 0


if __name__ == "__main__":
    sys.exit(main())
