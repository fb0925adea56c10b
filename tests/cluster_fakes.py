"""An in-memory compute provider that hosts labs of several VMs, and a fake agent.

The workflow and integration tiers use it to run the cluster steps without sandboxes:
every VM "runs" at once, its install command ends after ``init_s`` (successfully, or as
the test says), and its end is published as SSM's command status-change event through
:mod:`ads.providers.local_command_events`, as the local provider publishes its own. Each
VM's health URL is the fake agent's (:class:`FakeAgent`, on 127.0.0.1), which answers
healthy unless told otherwise. Everything the provider is asked is kept in ``calls``
(kind, VM name, monotonic time) so a test can check the order of a cluster's bootstrap.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from ads.providers import local_command_events
from ads.providers.base import InitRequest, InitStatus, VmCreateFailed, VmInfo, VmState

if TYPE_CHECKING:
    from ads.lab.plan import DeploymentPlan

FACTS_PATH = "/etc/ads/cluster_facts.json"


@dataclass
class Call:
    kind: str
    vm_name: str | None
    at: float
    detail: Any = None


class FakeAgent(ThreadingHTTPServer):
    """Answers GET /<vm_id>/health: 200 unless the VM is in ``unhealthy``."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _AgentHandler)
        self.unhealthy: set[str] = set()
        self.checks: list[tuple[str, float]] = []

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class _AgentHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        server: FakeAgent = self.server  # type: ignore[assignment]
        vm_id = self.path.strip("/").split("/")[0]
        server.checks.append((vm_id, time.monotonic()))
        status = 503 if vm_id in server.unhealthy else 200
        body = json.dumps({"status": "ok" if status == 200 else "down", "agent_version": "fake"})
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: Any) -> None:
        return None


@contextmanager
def running_agent() -> Iterator[FakeAgent]:
    agent = FakeAgent()
    thread = threading.Thread(target=agent.serve_forever, daemon=True)
    thread.start()
    try:
        yield agent
    finally:
        agent.shutdown()
        agent.server_close()
        thread.join(timeout=5)


@dataclass
class _Command:
    vm_name: str | None
    ends_at: float | None  # None: never ends
    outcome: str  # "success" | "failed"


@dataclass
class FakeClusterProvider:
    """A provider of VMs that exist only here (``name`` "fake")."""

    agent_port: int
    init_s: float = 0.2
    # VM names whose install fails (exit 3), and whose install never ends.
    failing: set[str] = field(default_factory=set)
    hanging: set[str] = field(default_factory=set)
    # VM names whose creation is refused (VmCreateFailed, as EC2 without capacity).
    refused: set[str] = field(default_factory=set)
    name: str = "fake"
    calls: list[Call] = field(default_factory=list)
    vms: dict[str, dict[str, Any]] = field(default_factory=dict)
    facts: dict[str, Any] | None = None
    released: list[str] = field(default_factory=list)
    _commands: dict[str, _Command] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _note(self, kind: str, vm_name: str | None, detail: Any = None) -> None:
        with self._lock:
            self.calls.append(Call(kind, vm_name, time.monotonic(), detail))

    def kinds(self, kind: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.kind == kind]

    # -- ComputeProvider ------------------------------------------------------

    def create_vm(
        self, lab_id: str, plan: DeploymentPlan | Mapping[str, Any], *, vm_name: str | None = None
    ) -> VmInfo:
        if vm_name in self.refused:
            self._note("refused", vm_name)
            raise VmCreateFailed("no capacity for t3.micro in any allowed subnet")
        vm_id = f"fake-{vm_name or 'vm'}-{lab_id[-8:]}"
        with self._lock:
            index = self.vms.setdefault(vm_id, {"state": "running", "index": len(self.vms) + 1})[
                "index"
            ]
        self._note("create", vm_name, plan)
        return VmInfo(
            vm_id=vm_id,
            provider=self.name,
            private_ip=f"127.0.0.{index + 1}",
            agent_port=self.agent_port,
            details={"vm_name": vm_name, "lab_ports": [8000 + index]},
        )

    def describe_vm(self, vm_id: str) -> VmState:
        vm = self.vms.get(vm_id)
        if vm is None:
            return VmState(vm_id=vm_id, state="absent")
        index = vm["index"]
        return VmState(vm_id=vm_id, state=vm["state"], private_ip=f"127.0.0.{index + 1}")

    def start_init(self, lab_id: str, vm: VmInfo, request: InitRequest) -> str:
        vm_name = request.cluster.vm_name if request.cluster else None
        command_id = f"cmd-{vm.vm_id}"
        outcome = "failed" if vm_name in self.failing else "success"
        ends_at = None if vm_name in self.hanging else time.monotonic() + self.init_s
        with self._lock:
            self._commands[command_id] = _Command(vm_name, ends_at, outcome)
        self._note("init", vm_name, request)

        def ended() -> str | None:
            state = self._state(command_id)
            if state == "in_progress":
                return None
            return "Success" if state == "success" else "Failed"

        local_command_events.watch(lab_id, vm.vm_id, command_id, ended)
        return command_id

    def _state(self, command_id: str) -> str:
        command = self._commands[command_id]
        if command.ends_at is None or time.monotonic() < command.ends_at:
            return "in_progress"
        return command.outcome

    def get_init_status(self, vm: VmInfo, command_id: str) -> InitStatus:
        state = self._state(command_id)
        if state == "failed":
            return InitStatus(
                state="failed",
                exit_code=3,
                failing_command="make db",
                output_tail="make: *** no rule to make target 'db'",
                detail="Failed",
            )
        return InitStatus(state=state)  # type: ignore[arg-type]

    def health_url(self, vm: VmInfo) -> str:
        return f"http://127.0.0.1:{vm.agent_port}/{vm.vm_id}/health"

    def destroy_vm(self, lab_id: str, vm_id: str | None, *, vm_name: str | None = None) -> VmState:
        vm_id = vm_id or f"fake-{vm_name or 'vm'}-{lab_id[-8:]}"
        with self._lock:
            vm = self.vms.get(vm_id)
            if vm is not None:
                vm["state"] = "terminated"
        self._note("destroy", vm_name)
        return VmState(vm_id=vm_id, state="terminated" if vm is not None else "absent")

    def start_vm(self, vm_id: str) -> VmState:
        self.vms[vm_id]["state"] = "running"
        return self.describe_vm(vm_id)

    def stop_vm(self, vm_id: str) -> VmState:
        self.vms[vm_id]["state"] = "stopped"
        return self.describe_vm(vm_id)

    def restart_vm(self, vm_id: str) -> VmState:
        return self.describe_vm(vm_id)

    # -- ClusterHooks ---------------------------------------------------------

    def share_cluster_facts(
        self, lab_id: str, vms: list[VmInfo], facts: dict[str, Any]
    ) -> str | None:
        self.facts = facts
        self._note("facts", None, [vm.vm_id for vm in vms])
        return None

    def cluster_facts_status(self, vms: list[VmInfo], command_id: str) -> InitStatus:
        return InitStatus(state="success")

    def facts_path(self, vm: VmInfo) -> str:
        return FACTS_PATH

    def release_cluster(self, lab_id: str) -> None:
        self.released.append(lab_id)

    def running(self) -> list[str]:
        with self._lock:
            return [vm_id for vm_id, vm in self.vms.items() if vm["state"] == "running"]
