"""Power for the ``local`` provider: stop, start and restart a sandbox's processes.

A stopped local VM keeps its sandbox (sources, build, the agent's state) and runs
nothing: every process carrying the sandbox is ended, as a stopped instance keeps its
volume and runs no CPU. Starting it runs the agent's supervisor again and, as a
separate command the workflow follows like an init, the lab's own ``start`` action
(the lab's application is a process of the sandbox, so it went with the stop).

The agent's port is kept when it is still free; another process may have taken it
while the VM was stopped, in which case the agent gets a new one and the workflow
stores the new endpoint. The lab's port is the lab's own configuration (``lab.json``
in its state) and is kept.
"""

from __future__ import annotations

import errno
import json
import socket
import time
from typing import TYPE_CHECKING, Any

from ads.providers.base import VmNotRunning, VmState
from ads.providers.local_init import EXIT_WRAPPER
from ads.providers.local_processes import sandbox_processes, stop_lab_processes
from ads.providers.local_runtime_env import free_port
from ads.providers.local_sandbox import write_file
from ads.providers.local_vm_book import lab_id_of, layout_of, run_as_of

if TYPE_CHECKING:
    from ads.providers.local import LocalProvider

START_ACTION = "start"


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the agent binds: a port held only by closed connections (TIME_WAIT) is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def _agent_argv(data: dict[str, Any], *arguments: str) -> list[str]:
    layout = layout_of(data)
    return [
        "/usr/bin/env",
        f"PYTHONPATH={layout.vm / 'agent'}",
        data["python"],
        "-m",
        "ads_agent",
        *arguments,
        "--state-dir",
        str(layout.vm / "state"),
        "--lab-dir",
        str(layout.vm / "lab"),
    ]


def stop_vm(provider: LocalProvider, vm_id: str) -> VmState:
    lab_id = lab_id_of(vm_id)
    data = provider.book.load(lab_id)
    if data is None or data.get("state") == "terminated":
        return VmState(vm_id=vm_id, state="absent")
    survivors = stop_lab_processes(
        layout_of(data).top, data.get("process_groups", []), run_as_of(data).uid
    )
    if survivors:
        # Reported as still stopping: the step retries, and the stop with it.
        return VmState(vm_id=vm_id, state="stopping", private_ip="127.0.0.1")
    data["state"] = "stopped"
    data["process_groups"] = []
    provider.book.save(lab_id, data)
    return provider.describe_vm(vm_id)


def start_vm(provider: LocalProvider, vm_id: str) -> VmState:
    """Run the agent's supervisor again in an initialised sandbox (idempotent)."""
    lab_id = lab_id_of(vm_id)
    data = provider.book.load(lab_id)
    if data is None or data.get("state") == "terminated":
        return VmState(vm_id=vm_id, state="absent")
    if data.get("state") == "running" and sandbox_processes(data["sandbox"]):
        return provider.describe_vm(vm_id)
    layout = layout_of(data)
    if not port_is_free(int(data["agent_port"])):
        data["agent_port"] = free_port()
        vm = {k: data.get(k) for k in ("lab_id", "vm_name", "vm_id", "agent_port", "lab_port")}
        write_file(layout.ads, "vm.json", json.dumps(vm).encode(), gid=run_as_of(data).gid)
    argv = _agent_argv(data, "supervise", "--host", "127.0.0.1", "--port", str(data["agent_port"]))
    process = provider.spawn(argv, data, layout.logs / "agent-start.log")
    data["state"] = "running"
    data["process_groups"].append(process.pid)
    provider.book.save(lab_id, data)
    return provider.describe_vm(vm_id)


def restart_vm(provider: LocalProvider, vm_id: str) -> VmState:
    state = stop_vm(provider, vm_id)
    if state.state != "stopped":
        return state
    return start_vm(provider, vm_id)


def start_lab(provider: LocalProvider, lab_id: str, plan: dict[str, Any]) -> str | None:
    """Run the lab's ``start`` action; the command id is followed like an init's
    (``get_init_status``). None when the lab defines no start commands."""
    if not (plan.get("actions") or {}).get(START_ACTION):
        return None
    data = provider.book.load(lab_id)
    if data is None or data.get("state") != "running":
        raise VmNotRunning(f"lab {lab_id} has no running local VM to start its lab on")
    layout = layout_of(data)
    command_id = f"start-{len(data['inits']) + 1}-{int(time.time())}"
    log_path = layout.logs / f"{command_id}.log"
    argv = [
        "/bin/sh",
        "-c",
        EXIT_WRAPPER,
        "ads-start",
        str(layout.exits / f"{command_id}.exit"),
        *_agent_argv(data, "action", START_ACTION),
    ]
    process = provider.spawn(argv, data, log_path)
    data["inits"][command_id] = {"pid": process.pid, "started": _now(), "log": str(log_path)}
    data["process_groups"].append(process.pid)
    provider.book.save(lab_id, data)
    return command_id


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="seconds")
