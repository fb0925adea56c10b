"""Logs for the ``local`` provider: the agent's ``logs`` command run in the sandbox.

It runs as the lab's uid in the lab's namespaces (:mod:`ads.providers.local_shell`):
the run logs are files the lab can write, so root never opens them; the lab's own user
reads them and hands back a bounded JSON document.
"""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING, Any

from ads.providers.local_power import _agent_argv
from ads.providers.local_shell import sandbox_command
from ads.providers.local_vm_book import lab_id_of
from ads.providers.vm_logs import LogsNotReady, LogsRequest, parse_agent_answer

if TYPE_CHECKING:
    from ads.providers.local import LocalProvider

READ_TIMEOUT_S = 30.0


def read_logs(provider: LocalProvider, vm_id: str, request: LogsRequest) -> dict[str, Any]:
    lab_id = lab_id_of(vm_id)
    data = provider.book.load(lab_id) or {}
    argv = _agent_argv(data, *request.agent_arguments()) if data else ["/bin/false"]
    command = sandbox_command(provider, lab_id, argv)
    try:
        done = command.capture(READ_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise LogsNotReady(
            f"lab {lab_id}: the agent's logs command took over {READ_TIMEOUT_S:g} s"
        ) from None
    return parse_agent_answer(
        done.returncode, done.stdout.decode("utf-8", "replace"), f"lab {lab_id}"
    )
