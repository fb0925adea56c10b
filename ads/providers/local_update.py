"""Updating a local lab in place: the agent's ``update`` in the lab's sandbox.

The lab's processes are ended from the host first (a lab command's processes live in
the PID namespace of the command that started them, which the update cannot see into),
the agent's supervisor runs again, and the update runs as the lab's user in its
namespaces with ``--already-stopped``. The new sources reach the lab as a git bundle
made with the requester's rights, like the first deploy's (:mod:`ads.providers.local_init`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ads.providers import local_power
from ads.providers.base import InitFailed, InitRequest, VmInfo, VmNotRunning, output_tail
from ads.providers.local_init import EXIT_WRAPPER, read_tail
from ads.providers.local_processes import stop_lab_processes
from ads.providers.local_sandbox import write_file
from ads.providers.local_vm_book import lab_id_of, layout_of, run_as_of
from ads.providers.vm_update import UpdateStatus, VmUpdateRequest, parse_update_result

if TYPE_CHECKING:
    from ads.providers.local import LocalProvider


def start_update(provider: LocalProvider, lab_id: str, request: VmUpdateRequest) -> str:
    """Stop the lab, start its agent again and run the update; the command id to follow."""
    data = provider.book.load(lab_id)
    if data is None or data.get("state") != "running":
        raise VmNotRunning(f"lab {lab_id} has no running local VM to update")
    layout, run_as = layout_of(data), run_as_of(data)
    init = InitRequest(
        plan={},
        source_git=request.source_git,
        source_ref=request.source_ref,
        requester_uid=request.requester_uid,
    )
    arguments = provider.sources.arguments(init, layout, run_as)
    if request.plan is not None:
        plan_path = write_file(
            layout.ads, "update-plan.json", json.dumps(request.plan).encode(), gid=run_as.gid
        )
        arguments += ["--plan", str(plan_path)]
    survivors = stop_lab_processes(layout.top, data.get("process_groups", []), run_as.uid)
    if survivors:
        raise InitFailed(f"processes of lab {lab_id} survive SIGKILL: {survivors}")
    data.update({"state": "stopped", "process_groups": []})
    provider.book.save(lab_id, data)
    local_power.start_vm(provider, data["vm_id"])
    data = provider.book.load(lab_id) or data
    command_id = f"update-{len(data['inits']) + 1}-{int(time.time())}"
    log_path = layout.logs / f"{command_id}.log"
    argv = [
        "/bin/sh",
        "-c",
        EXIT_WRAPPER,
        "ads-update",
        str(layout.exits / f"{command_id}.exit"),
        *local_power._agent_argv(data, "update", *arguments, "--already-stopped"),
    ]
    process = provider.spawn(argv, data, log_path)
    data["inits"][command_id] = {"pid": process.pid, "started": _now(), "log": str(log_path)}
    data["process_groups"].append(process.pid)
    provider.book.save(lab_id, data)
    return command_id


def update_status(provider: LocalProvider, vm: VmInfo, command_id: str) -> UpdateStatus:
    status = provider.get_init_status(vm, command_id)
    if status.state == "in_progress":
        return UpdateStatus(state="in_progress", detail=status.detail)
    data = provider.book.load(lab_id_of(vm.vm_id)) or {}
    log = (data.get("inits") or {}).get(command_id, {}).get("log")
    text = read_tail(Path(log)) if log else ""
    return UpdateStatus(
        state=status.state,
        exit_code=status.exit_code,
        output_tail=output_tail(text) or status.output_tail,
        detail=status.detail,
        result=parse_update_result(text),
    )


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="seconds")
