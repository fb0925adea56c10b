"""The agent's state directory: the files it shares with the install script and the CLI.

Layout (see docs/design.md): ``plan.json`` (the deployment plan), ``lab.json`` (lab id,
source revision, lab port), ``history.jsonl`` (one record per action run),
``deploy.json`` (the state of the last deploy sequence), ``agent.json`` / ``agent.pid``
(the running server), ``supervisor.pid``, ``logs/`` and ``runs/`` (the newest run of
each name, by step: :mod:`ads_agent.run_logs`).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

AGENT_FILE = "agent.json"
AGENT_PID_FILE = "agent.pid"
DEPLOY_FILE = "deploy.json"
HISTORY_FILE = "history.jsonl"
LAB_FILE = "lab.json"
PLAN_FILE = "plan.json"
SUPERVISOR_PID_FILE = "supervisor.pid"
LOGS_DIR = "logs"


class StateError(Exception):
    """A state file is missing or unreadable; the message says which and why."""


def write_json_atomic(path: Path, data: Any) -> None:
    """Replace ``path`` in one step, so a reader never sees half a document."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, str(path))
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_json(path: Path, default: Any = None) -> Any:
    """The document at ``path``, or ``default`` when the file does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return default
    except OSError as exc:
        raise StateError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise StateError(f"{path}: is not valid JSON ({exc})") from None


def read_json_quietly(path: Path) -> Any:
    """Like :func:`read_json` but ``None`` for any problem: used by the HTTP server,
    which must keep answering whatever state the install left behind."""
    try:
        return read_json(path)
    except StateError:
        return None


def load_plan(state_dir: Path) -> dict[str, Any]:
    """The deployment plan, checked for the parts the agent uses."""
    path = state_dir / PLAN_FILE
    plan = read_json(path)
    if plan is None:
        raise StateError(f"{path}: not found; the install script writes it from --plan")
    problems = plan_problems(plan)
    if problems:
        raise StateError(f"{path}: " + "; ".join(problems))
    return plan


def plan_problems(plan: Any) -> list[str]:
    """What is wrong with a plan document, as 'field: found ..., allowed ...' lines."""
    if not isinstance(plan, dict):
        return [f"the plan: found {type(plan).__name__}, allowed a JSON object"]
    problems: list[str] = []
    steps = plan.get("steps", [])
    if not isinstance(steps, list):
        problems.append(
            f"steps: found {type(steps).__name__}, allowed a list of {{name, commands}}"
        )
    else:
        for index, step in enumerate(steps):
            where = f"steps[{index}]"
            if not isinstance(step, dict) or not isinstance(step.get("name"), str):
                problems.append(f"{where}: found {step!r:.60}, allowed {{name, commands}}")
                continue
            problems.extend(_command_list_problems(f"{where}.commands", step.get("commands", [])))
    actions = plan.get("actions", {})
    if not isinstance(actions, dict):
        problems.append(f"actions: found {type(actions).__name__}, allowed an object of lists")
    else:
        for name, commands in actions.items():
            problems.extend(_command_list_problems(f"actions.{name}", commands))
    probe = plan.get("health_probe")
    if probe is not None:
        problems.extend(_probe_problems(probe))
    return problems


def _command_list_problems(where: str, commands: Any) -> list[str]:
    if not isinstance(commands, list):
        return [f"{where}: found {type(commands).__name__}, allowed a list of strings"]
    return [
        f"{where}[{i}]: found {c!r:.60}, allowed a non-empty string"
        for i, c in enumerate(commands)
        if not isinstance(c, str) or not c.strip()
    ]


def _probe_problems(probe: Any) -> list[str]:
    if not isinstance(probe, dict):
        return [f"health_probe: found {type(probe).__name__}, allowed null or an object"]
    problems = []
    path = probe.get("path", "/")
    if not isinstance(path, str) or not path.startswith("/"):
        problems.append(f"health_probe.path: found {path!r}, allowed a path starting with /")
    port = probe.get("port")
    if port is not None and (not isinstance(port, int) or not 0 < port < 65536):
        problems.append(f"health_probe.port: found {port!r}, allowed null or 1-65535")
    status = probe.get("expect_status", 200)
    if not isinstance(status, int) or not 100 <= status <= 599:
        problems.append(f"health_probe.expect_status: found {status!r}, allowed 100-599")
    timeout = probe.get("timeout_s", 3)
    if not isinstance(timeout, (int, float)) or not 0 < timeout <= 60:
        problems.append(f"health_probe.timeout_s: found {timeout!r}, allowed 0-60 seconds")
    return problems


def pid_is_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state letter follows the parenthesised command name, which may hold spaces.
    return stat[stat.rfind(")") + 2 : stat.rfind(")") + 3] == "Z"
