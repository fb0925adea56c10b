"""`ads connect` for a local lab: a shell in its sandbox, or the address of its port.

The shell runs as the lab's uid in the lab's namespaces (what every command of the lab
runs in), so it needs the rights the local plane has: root, which gives labs their
uids. The lab's VM bookkeeping is read from the plane's labs root
(``$ADS_HOME/local/labs``), which only the plane's user may read.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from ads.cli import exit_codes
from ads.cli.exit_codes import CommandError


def labs_root(home: Path | None = None) -> Path:
    from ads.local.daemon import ads_home, local_dir

    return local_dir(home or ads_home()) / "labs"


def local_port_address(record: dict[str, Any], port: int) -> str:
    """``127.0.0.1:<port>`` where the lab's port ``port`` answers on this machine."""
    app_url = str(record.get("app_url") or "")
    local_port = app_url.rsplit(":", 1)[-1].strip("/") if app_url.count(":") >= 2 else ""
    declared = [int(p) for p in record.get("lab_ports") or []]
    if local_port.isdigit() and (port == int(local_port) or port in declared[:1]):
        return f"127.0.0.1:{local_port}"
    allowed = ", ".join(str(p) for p in dict.fromkeys([*declared[:1], *[local_port][:1]]) if p)
    raise CommandError(
        f"--port: found {port}; lab {record['lab_id']} serves one port on this machine "
        f"(allowed: {allowed or 'none'})",
        exit_code=exit_codes.INVALID_INPUT,
    )


def open_local_shell(record: dict[str, Any], command: str | None) -> int:
    """Run ``command`` (or an interactive shell) in the lab's sandbox; its exit status."""
    from ads.config import get_config
    from ads.providers.base import VmNotRunning
    from ads.providers.local import LocalProvider
    from ads.providers.local_shell import sandbox_command
    from ads.providers.local_vm_book import lab_id_of

    lab_id = str(record["lab_id"])
    root = labs_root()
    if os.geteuid() != 0:
        raise CommandError(
            f"ads connect {lab_id}: a local lab's shell runs as the lab's own user, which "
            "only root (the user the local plane runs as) can switch to; run it with sudo",
            exit_code=exit_codes.FAILED,
        )
    config = get_config().model_copy(update={"provider": "local", "local_root": str(root)})
    provider = LocalProvider(config)
    argv = ["/bin/sh", "-c", command] if command else ["/bin/sh", "-i"]
    try:
        # The VM the record names (a lab of several VMs: its entry VM, booked apart).
        key = lab_id_of(str(record.get("vm_id") or "")) or lab_id
        prepared = sandbox_command(provider, key, argv, terminal=command is None)
    except VmNotRunning as exc:
        raise CommandError(
            f"{exc}; is this the plane of $ADS_HOME ({root.parent.parent})?",
            exit_code=exit_codes.CONFLICT,
        ) from None
    if command is None:
        print(f"ads: a shell in lab {lab_id}'s sandbox; exit to leave", file=sys.stderr)
    try:
        return prepared.run(interactive=True)
    except KeyboardInterrupt:
        return exit_codes.INTERRUPTED
