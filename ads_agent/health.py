"""The lab's health: the agent itself, the last deploy sequence, the lab's own probe."""

from __future__ import annotations

import http.client
from pathlib import Path
from typing import Any

from ads_agent import state

# Overall statuses; only "ok" answers 200.
OK = "ok"
NOT_DEPLOYED = "not-deployed"
DEPLOYING = "deploying"
FAILED = "failed"
UNHEALTHY = "unhealthy"

_MAX_PROBE_TIMEOUT_S = 10.0


def _check(name: str, passed: bool, detail: str) -> dict[str, Any]:
    return {"name": name, "status": "pass" if passed else "fail", "detail": detail}


def evaluate(state_dir: Path) -> tuple[str, list[dict[str, Any]]]:
    """The overall status and the checks behind it."""
    checks = [_check("agent", True, "the agent is answering")]
    deploy = state.read_json_quietly(state_dir / state.DEPLOY_FILE)
    status, deploy_check = _deploy_check(deploy)
    checks.append(deploy_check)
    if status != OK:
        return status, checks
    plan = state.read_json_quietly(state_dir / state.PLAN_FILE) or {}
    probe = plan.get("health_probe") if isinstance(plan, dict) else None
    if isinstance(probe, dict):
        lab = state.read_json_quietly(state_dir / state.LAB_FILE) or {}
        probe_check = run_probe(probe, lab.get("lab_port") if isinstance(lab, dict) else None)
        checks.append(probe_check)
        if probe_check["status"] == "fail":
            return UNHEALTHY, checks
    return OK, checks


def _deploy_check(deploy: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(deploy, dict):
        return NOT_DEPLOYED, _check("deploy", False, "no deploy sequence has run yet")
    status = deploy.get("status")
    if status == "succeeded":
        return OK, _check("deploy", True, f"deploy sequence succeeded at {deploy.get('ended')}")
    if status == "deploying":
        if state.pid_is_alive(deploy.get("pid")):
            return DEPLOYING, _check(
                "deploy", False, f"deploy sequence running since {deploy.get('started')}"
            )
        return FAILED, _check(
            "deploy",
            False,
            f"deploy sequence started at {deploy.get('started')} stopped before finishing "
            f"(process {deploy.get('pid')} is gone)",
        )
    if deploy.get("timed_out"):
        how = "timed out"
    elif deploy.get("error"):
        how = f"could not run: {deploy.get('error')}"
    else:
        how = f"exited {deploy.get('exit_code')}"
    step = deploy.get("failed_step")
    where = f" in step {step!r}" if step else ""
    return FAILED, _check(
        "deploy", False, f"deploy sequence failed{where}: {deploy.get('failed_command')!r} {how}"
    )


def run_probe(probe: dict[str, Any], lab_port: Any) -> dict[str, Any]:
    port = probe.get("port") or lab_port
    path = probe.get("path") or "/"
    expect = probe.get("expect_status", 200)
    if not isinstance(port, int):
        return _check("probe", False, "the probe has no port and the lab port is unknown")
    timeout = min(float(probe.get("timeout_s") or 3), _MAX_PROBE_TIMEOUT_S)
    target = f"http://127.0.0.1:{port}{path}"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"User-Agent": "ads-agent-probe"})
        response = connection.getresponse()
        response.read(65536)
        found = response.status
    except (OSError, http.client.HTTPException) as exc:
        return _check("probe", False, f"GET {target} failed: {exc or type(exc).__name__}")
    finally:
        connection.close()
    if found != expect:
        return _check("probe", False, f"GET {target} answered {found}, expected {expect}")
    return _check("probe", True, f"GET {target} answered {found}")
