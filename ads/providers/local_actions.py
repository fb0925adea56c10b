"""Lab actions for the ``local`` provider: the agent's ``action NAME`` in the sandbox.

The action runs as the lab's user, in the lab's namespaces, like its ``start`` action
after a power start (:mod:`ads.providers.local_power`): a separate command whose exit
status the wrapper writes to a file, followed like an init (``get_init_status``). Its
log holds what the agent printed, the commands' output tail included, for success too.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ads.providers.base import InitStatus, VmInfo, VmNotRunning, output_tail
from ads.providers.local_init import EXIT_WRAPPER, read_tail
from ads.providers.local_power import _agent_argv
from ads.providers.local_vm_book import lab_id_of, layout_of

if TYPE_CHECKING:
    from ads.providers.local import LocalProvider

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def run_action(provider: LocalProvider, lab_id: str, name: str) -> str:
    """Start the lab's action ``name``; the command id to follow."""
    data = provider.book.load(lab_id)
    if data is None or data.get("state") != "running":
        raise VmNotRunning(f"lab {lab_id} has no running local VM to run action {name!r} on")
    layout = layout_of(data)
    label = _UNSAFE.sub("_", name)[:40] or "action"
    command_id = f"action-{label}-{len(data['inits']) + 1}-{int(time.time())}"
    log_path = layout.logs / f"{command_id}.log"
    argv = [
        "/bin/sh",
        "-c",
        EXIT_WRAPPER,
        "ads-action",
        str(layout.exits / f"{command_id}.exit"),
        *_agent_argv(data, "action", name),
    ]
    process = provider.spawn(argv, data, log_path)
    data["inits"][command_id] = {"pid": process.pid, "started": _now(), "log": str(log_path)}
    data["process_groups"].append(process.pid)
    provider.book.save(lab_id, data)
    return command_id


def action_status(provider: LocalProvider, vm: VmInfo, command_id: str) -> InitStatus:
    """As ``get_init_status``, with the action's output tail whatever its exit."""
    status = provider.get_init_status(vm, command_id)
    if status.state == "in_progress":
        return status
    data = provider.book.load(lab_id_of(vm.vm_id)) or {}
    log = (data.get("inits") or {}).get(command_id, {}).get("log")
    text = read_tail(Path(log)) if log else ""
    return status.model_copy(update={"output_tail": output_tail(text) or status.output_tail})


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="seconds")
