"""A command in a local lab's sandbox, as the lab's user, in the lab's namespaces.

What ``ads connect`` opens for a local lab (a shell, or one command with ``--command``)
and what :mod:`ads.providers.local_logs` runs to read the agent's logs: the same
wrapping as every command of the lab (:func:`ads.providers.local_isolation.wrap_command`),
so a shell sees what the lab sees, no more: its own sandbox writable, the other labs'
sandboxes and ADS's state hidden.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ads.processes import remember_child
from ads.providers.base import VmNotRunning
from ads.providers.local_runtime_env import lab_environment
from ads.providers.local_vm_book import layout_of, run_as_of

if TYPE_CHECKING:
    from ads.providers.local import LocalProvider

# The book's states in which the sandbox is there to run a command in.
SANDBOX_STATES = ("running", "stopped")


@dataclass
class SandboxCommand:
    """``argv`` wrapped for the lab, with the environment and privileges to run it."""

    argv: list[str]
    cwd: str
    env: dict[str, str]
    privileges: dict[str, Any] = field(default_factory=dict)

    def run(self, *, interactive: bool = False, timeout_s: float | None = None) -> int:
        """Run to its end with this process's terminal (``interactive``) or none."""
        process = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=self.env,
            stdin=None if interactive else subprocess.DEVNULL,
            close_fds=True,
            **self.privileges,
        )
        remember_child(process)
        try:
            return process.wait(timeout=timeout_s)
        except BaseException:
            process.kill()
            process.wait()
            raise

    def capture(self, timeout_s: float) -> subprocess.CompletedProcess[bytes]:
        """Run to its end (at most ``timeout_s``), its output captured."""
        return subprocess.run(
            self.argv,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout_s,
            close_fds=True,
            check=False,
            **self.privileges,
        )


def sandbox_command(
    provider: LocalProvider, lab_id: str, argv: list[str], *, terminal: bool = False
) -> SandboxCommand:
    """``argv`` as lab ``lab_id`` runs it; VmNotRunning when the lab has no sandbox."""
    data = provider.book.load(lab_id)
    if data is None or data.get("state") not in SANDBOX_STATES:
        found = "none" if data is None else str(data.get("state"))
        raise VmNotRunning(f"lab {lab_id} has no local sandbox to run a command in (found {found})")
    run_as = run_as_of(data)
    layout = layout_of(data)
    env = lab_environment(layout, run_as)
    if terminal:
        env["TERM"] = "xterm"
        env["PS1"] = f"{run_as.name}@{lab_id}:\\w\\$ "
    wrapped, privileges = provider.wrap_for_lab(argv, data)
    return SandboxCommand(argv=wrapped, cwd=str(layout.vm), env=env, privileges=privileges)
