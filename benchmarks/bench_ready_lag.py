"""Benchmark: how long after a lab's install ends ADS notices it is READY, and what the
waits cost, for the polling DeployLab and the event-driven one, side by side.

    python benchmarks/bench_ready_lag.py [--n 5] [--old-ref 581ca55] [--json]

Local (measured): N deployments of the hello-web sample lab per workflow on the local
plane with AWS retry timings (time scale 1.0), each destroyed after. The lag is the READY
transition's time in the lab record minus the moment the install script ended (the mtime
of the exit status file its wrapper writes once install.sh exits, which it does once the
agent reported the deploy sequence done and healthy). The polling workflow is the
DeployLab definition at ``--old-ref`` (git show), run by the same handlers.

AWS (computed from the ASL's Retry and deadlines): the state transitions and Lambda
invocations of one lab, deploy + destroy, for a given boot (Create VM's end to SSM
online) and init (the install command's run), and the lag, under these assumptions:

* SSM publishes the command's status-change event and EventBridge invokes the callback
  within ``EVENT_S`` (0.5 s; SSM's delivery is "best effort", no figure is published);
* a warm Lambda invocation takes ``LAMBDA_S`` (0.15 s, DynamoDB and SSM calls included)
  and a Step Functions transition ``TRANSITION_S`` (0.05 s);
* the lag ends once the step that records READY has run (:func:`records_ready`: Check
  Health with ``mark_ready``; Mark Ready in the polling definition), each step from the
  event to it counted as one invocation and one transition;
* Wait Until Running's first attempt comes right after Create VM; the VM is destroyed
  at once (``--shutdown-s`` adds Destroy VM's DestroyInProgress retries while EC2 says
  shutting-down);
* the success path's Choice and Succeed states count as transitions, as AWS bills them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

sys.path.insert(0, str(REPO / "benchmarks"))

from bench_workflow import CALLER, HELLO_WEB, _git_source  # noqa: E402

from ads.config import DEFAULT_INIT_POLL_S  # noqa: E402

DEPLOY_ASL = REPO / "statemachine" / "deploy_lab.asl.json"
DESTROY_ASL = REPO / "statemachine" / "destroy_lab.asl.json"
# The last DeployLab that polled Initialise VM (InitInProgress retries).
OLD_REF = "581ca55"
EVENT_S = 0.5
LAMBDA_S = 0.15
TRANSITION_S = 0.05


# -- the AWS model --------------------------------------------------------------------------


def attempts_until(retrier: dict[str, Any], ready_s: float) -> tuple[int, float]:
    """Attempts a Retry makes until one comes at or after ``ready_s`` (the first at 0),
    and when that one comes."""
    at, interval, attempts = 0.0, float(retrier["IntervalSeconds"]), 1
    while at < ready_s and attempts <= retrier["MaxAttempts"]:
        at += min(interval, retrier.get("MaxDelaySeconds", interval))
        interval *= retrier["BackoffRate"]
        attempts += 1
    return attempts, at


def _retrier(state: dict[str, Any], error: str) -> dict[str, Any] | None:
    for retrier in state.get("Retry", []):
        if error in retrier["ErrorEquals"]:
            return retrier
    return None


def success_path(definition: dict[str, Any]) -> list[str]:
    """The states a deployment that succeeds enters (a Choice takes its Default)."""
    states, name, path = definition["States"], definition["StartAt"], []
    while name:
        path.append(name)
        state = states[name]
        name = state.get("Next") or state.get("Default")
        if state["Type"] in ("Succeed", "Fail"):
            break
    return path


def records_ready(state: dict[str, Any]) -> bool:
    """Whether this Task writes READY: Check Health with ``mark_ready`` (a lab of one VM),
    or Mark Ready (the polling definition, and a lab of several VMs)."""
    payload = (state.get("Parameters") or {}).get("Payload") or {}
    return payload.get("mark_ready") is True or payload.get("status") == "READY"


def model(
    deploy: dict[str, Any], destroy: dict[str, Any], boot_s: float, init_s: float, shutdown_s: float
) -> dict[str, Any]:
    states = deploy["States"]
    transitions = invocations = 0
    lag = 0.0
    # The lag runs from the install's end until the step that records READY has run.
    noticed_init = ready = False
    for name in success_path(deploy):
        state = states[name]
        transitions += 1
        if state["Type"] != "Task":
            continue
        invocations += 1
        retries = 0
        if name == "Wait Until Running":
            attempts, _ = attempts_until(_retrier(state, "VmNotReady") or {}, boot_s)
            retries = attempts - 1
        elif name == "Initialise VM" and _retrier(state, "InitInProgress"):
            attempts, noticed = attempts_until(_retrier(state, "InitInProgress") or {}, init_s)
            retries = attempts - 1
            lag += noticed - init_s + LAMBDA_S + TRANSITION_S
            noticed_init = True
        elif state["Resource"].endswith(".waitForTaskToken"):
            # One attempt per init_poll_s while the install runs; the event ends the last.
            retries = int(init_s // DEFAULT_INIT_POLL_S)
            invocations += 1  # functions/step_callback
            lag += EVENT_S + LAMBDA_S + TRANSITION_S
            noticed_init = True
        elif noticed_init and not ready:
            lag += LAMBDA_S + TRANSITION_S
        ready = ready or (noticed_init and records_ready(state))
        transitions += retries
        invocations += retries
    for name in success_path(destroy):
        state = destroy["States"][name]
        transitions += 1
        if state["Type"] == "Task":
            invocations += 1
            if name == "Destroy VM" and shutdown_s:
                attempts, _ = attempts_until(_retrier(state, "DestroyInProgress") or {}, shutdown_s)
                transitions += attempts - 1
                invocations += attempts - 1
    return {"transitions": transitions, "invocations": invocations, "lag_s": round(lag, 2)}


def aws_figures(old: dict[str, Any], new: dict[str, Any], shutdown_s: float) -> dict[str, Any]:
    destroy = json.loads(DESTROY_ASL.read_text())
    cases = {"30 s boot, 90 s init": (30, 90), "worst: 5 min boot, 15 min init": (300, 900)}
    figures: dict[str, Any] = {}
    for label, (boot, init) in cases.items():
        figures[label] = {
            "polling": model(old, destroy, boot, init, shutdown_s),
            "event": model(new, destroy, boot, init, shutdown_s),
        }
    inits = range(60, 121)
    figures["median lag, 30 s boot, 60-120 s init"] = {
        kind: statistics.median(model(asl, destroy, 30, i, shutdown_s)["lag_s"] for i in inits)
        for kind, asl in (("polling", old), ("event", new))
    }
    return figures


# -- the local measurement ------------------------------------------------------------------


def _install_ended_at(plane: Any, lab_id: str, command_id: str) -> float:
    from ads.providers.local_vm_book import layout_of

    data = plane.local_provider().book.load(lab_id)
    return (layout_of(data).exits / f"{command_id}.exit").stat().st_mtime


def _ready_at(record: Any) -> float:
    (ready,) = [c.at for c in record.status_history if c.status.value == "READY"]
    return datetime.fromisoformat(ready.replace("Z", "+00:00")).timestamp()


def measure(definition: str | None, n: int, workdir: Path) -> dict[str, Any]:
    from ads.api_models import DeploymentRequest, LabSource
    from ads.asl_placeholders import PARTITION_PLACEHOLDER, fill_placeholders
    from ads.deployments import request_deployment, request_destroy
    from ads.local.runtime import ACCOUNT_ID, WORKFLOW_FUNCTIONS, LocalControlPlane, function_name

    source = _git_source(workdir)
    labspec = json.loads((HELLO_WEB / "scripts" / "labspec.json").read_text())
    lags, transitions, invocations = [], [], []
    with LocalControlPlane(workdir / "plane", time_scale=1.0) as plane:
        if definition is not None:
            arns = {
                placeholder: f"arn:aws:lambda:{plane.region}:{ACCOUNT_ID}:function:"
                + function_name(handler)
                for handler, placeholder in WORKFLOW_FUNCTIONS.items()
            }
            plane.stepfunctions().update_state_machine(
                stateMachineArn=plane.deploy_state_machine_arn,
                definition=fill_placeholders(definition, {**arns, PARTITION_PLACEHOLDER: "aws"}),
            )
        ctx = plane.deployment_context()
        for _ in range(n):
            accepted = request_deployment(
                ctx,
                DeploymentRequest(labspec=labspec, source=LabSource(git=str(source))),
                caller=CALLER,
            )
            lab_id = accepted["lab_id"]
            deployed = plane.wait_for_execution(accepted["execution_arn"], 600)
            if deployed["status"] != "SUCCEEDED":
                raise SystemExit(f"deployment ended {deployed['status']}: {deployed.get('cause')}")
            record = plane.repository().require(lab_id)
            lags.append(
                _ready_at(record) - _install_ended_at(plane, lab_id, record.init_command_id)
            )
            destroy = request_destroy(ctx, lab_id, caller=CALLER)
            plane.wait_for_execution(destroy["execution_arn"], 600)
            transitions.append(
                plane.state_transitions(accepted["execution_arn"]).billed
                + plane.state_transitions(destroy["execution_arn"]).billed
            )
            invocations.append(sum(plane.ledger.for_lab(lab_id).invocations_by_function.values()))
    return {
        "lag_s": [round(x, 2) for x in lags],
        "median_lag_s": round(statistics.median(lags), 2),
        "transitions": transitions,
        "invocations": invocations,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5)
    parser.add_argument("--old-ref", default=OLD_REF)
    parser.add_argument("--shutdown-s", type=float, default=0.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    # The handlers' own log lines would bury the figures.
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    import logging

    logging.getLogger("moto").setLevel(logging.CRITICAL)
    old_text = subprocess.run(
        ["git", "show", f"{args.old_ref}:statemachine/deploy_lab.asl.json"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    new_text = DEPLOY_ASL.read_text()
    result: dict[str, Any] = {
        "aws": aws_figures(json.loads(old_text), json.loads(new_text), args.shutdown_s)
    }
    workdir = Path(tempfile.mkdtemp(prefix="ads-bench-lag-"))
    workdir.chmod(0o711)
    try:
        result["local"] = {}
        for kind, definition in (("polling", old_text), ("event", None)):
            run_dir = workdir / kind
            run_dir.mkdir()
            run_dir.chmod(0o711)
            result["local"][kind] = measure(definition, args.n, run_dir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    local = result["local"]
    print(f"local plane, time scale 1.0, {args.n} deployments each (lag: install end -> READY)")
    for kind in ("polling", "event"):
        row = local[kind]
        print(
            f"  {kind:8} median lag {row['median_lag_s']:6.2f} s  lags {row['lag_s']}  "
            f"transitions {row['transitions']}  invocations {row['invocations']}"
        )
    print("AWS, computed from the ASL (deploy + destroy)")
    for label, figures in result["aws"].items():
        if "polling" in figures and isinstance(figures["polling"], dict):
            for kind in ("polling", "event"):
                f = figures[kind]
                print(
                    f"  {label:32} {kind:8} transitions {f['transitions']:3}  "
                    f"invocations {f['invocations']:3}  lag {f['lag_s']:6.2f} s"
                )
        else:
            print(
                f"  {label:32} polling {figures['polling']:.2f} s  event {figures['event']:.2f} s"
            )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    raise SystemExit(main())
