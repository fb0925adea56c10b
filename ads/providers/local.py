"""The ``local`` provider: a lab VM is a sandbox directory plus processes on this machine.

It maps the original ADS adapter interface onto :class:`ComputeProvider`: create_vm
(a sandbox, a uid and two ports), init_vm / start_vm_manager (``start_init``: the same
install script as on EC2), is_running_vm (``describe_vm``), start_vm / stop_vm /
restart_vm (:mod:`ads.providers.local_power`), destroy_vm.

Layout under ``config.local_root`` (``0711``, so a lab can pass but not list):

- ``<lab_id>`` the sandbox (layout in :mod:`ads.providers.local_sandbox`), or, when the
  lab's uid cannot reach ``local_root`` (ADS runs as root under a private home), a
  symlink to the sandbox in ``<tmp>/ads-sandboxes/``.
- ``.vms/<lab_id>.json`` the provider's bookkeeping (:mod:`ads.providers.local_vm_book`).
- a lab of several VMs: the same per VM, ``<lab_id>.<vm_name>`` (``local_cluster``).

Privileges: as root, each lab runs as its own uid, in its own namespaces where the host
allows (:mod:`ads.providers.local_isolation`); otherwise as the ADS user itself. Every
lab process carries ``ADS_SANDBOX=<sandbox>``; destroying the VM ends every process
that carries it or runs as the lab's uid (:mod:`ads.providers.local_processes`),
removes the sandbox and frees the uid. What a VM runs with (interpreter, ports, agent
bundle, environment) is :mod:`ads.providers.local_runtime_env`; its install command,
sources and outcome are :mod:`ads.providers.local_init`.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import subprocess
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ads.config import AdsConfig
from ads.processes import alive, remember_child
from ads.providers import (
    local_actions,
    local_cluster,
    local_command_events,
    local_destroy,
    local_images,
    local_logs,
    local_power,
    local_update,
)
from ads.providers.base import (
    InitFailed,
    InitRequest,
    InitStatus,
    VmCreateFailed,
    VmInfo,
    VmState,
)
from ads.providers.images import ImageState
from ads.providers.local_init import SourceStager, init_status, install_command
from ads.providers.local_isolation import Isolation, detect_isolation, wrap_command
from ads.providers.local_runtime_env import (
    find_python,
    install_agent_bundle,
    lab_environment,
    reachable_by,
    two_free_ports,
)
from ads.providers.local_sandbox import RunAs, UidPool, machine_dir, make_sandbox, write_file
from ads.providers.local_vm_book import (
    VmBook,
    lab_id_of,
    layout_of,
    owner_of,
    remove_path,
    run_as_of,
    vm_id_of,
    vm_key,
    vm_name_of,
)
from ads.providers.vm_logs import LogsRequest
from ads.providers.vm_update import UpdateStatus, VmUpdateRequest

if TYPE_CHECKING:
    from ads.lab.plan import DeploymentPlan

__all__ = ["LocalProvider"]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class LocalProvider:
    """Sandboxed processes on this machine, running the real agent on 127.0.0.1."""

    name = "local"

    def __init__(self, config: AdsConfig, *, agent_dir: Path | None = None, s3: Any = None):
        self._config = config
        self._agent_dir = agent_dir
        self._sources = SourceStager(config, s3)
        self.uids = UidPool(config.local_uid_base, config.local_uid_count)

    # -- paths and bookkeeping ------------------------------------------------------

    @property
    def root(self) -> Path:
        if not self._config.local_root:
            raise VmCreateFailed(
                "ADS_LOCAL_ROOT is empty; the local provider needs a directory for its sandboxes"
            )
        return Path(self._config.local_root).absolute()

    @property
    def book(self) -> VmBook:
        return VmBook(self.root)

    lab_id_of = staticmethod(lab_id_of)

    def _info(self, data: dict[str, Any]) -> VmInfo:
        details = {
            "sandbox": data["sandbox"],
            "agent_port": data["agent_port"],
            "lab_port": data["lab_port"],
            "run_as": data["run_as"]["name"],
            "isolation": data.get("isolation", ""),
            "app_url": f"http://127.0.0.1:{data['lab_port']}/",
        }
        if data.get("vm_name"):
            # A cluster's VMs share loopback: the facts name each VM's actual port.
            details |= {"vm_name": data["vm_name"], "lab_ports": [data["lab_port"]]}
        return VmInfo(
            vm_id=data["vm_id"],
            provider=self.name,
            private_ip="127.0.0.1",
            agent_port=data["agent_port"],
            details=details,
        )

    def _isolation_of(self, data: dict[str, Any]) -> Isolation:
        current = detect_isolation(self._config)
        if data.get("isolation") == current.mode:
            return current
        # The host changed since the VM was made: never run a lab with less than it had.
        raise InitFailed(
            f"lab VM was made with isolation {data.get('isolation')!r}; the host now "
            f"offers {current.mode!r} ({current.reason})"
        )

    def _hidden_paths(self, python: str) -> list[Path]:
        """What a lab must not see: every sandbox, ADS's bookkeeping, the control
        plane's state directory (the labs root's parent) and configured private paths."""
        candidates = [self.root, self.root.parent, machine_dir()]
        candidates += [Path(p) for p in self._config.local_private_paths]
        interpreter = Path(python)
        return [
            path for path in candidates if path != Path("/") and path not in interpreter.parents
        ]

    # -- create ---------------------------------------------------------------------

    def create_vm(
        self,
        lab_id: str,
        plan: DeploymentPlan | Mapping[str, Any],
        *,
        vm_name: str | None = None,
    ) -> VmInfo:
        key = vm_key(lab_id, vm_name)
        existing = self.book.load(key)
        if existing and existing.get("state") != "terminated":
            if existing.get("restoring"):
                # A create that died while unpacking its image: a half tree is no VM.
                raise VmCreateFailed(f"restoring {key}'s image was interrupted")
            return self._info(existing)
        isolation = detect_isolation(self._config)
        run_as = self._run_as_for(key, isolation)
        source = plan.get("from_image") if isinstance(plan, Mapping) else None
        try:
            return self._create(key, isolation, run_as, source)
        except BaseException:
            if run_as.uid is not None:
                self.uids.release(run_as.uid, key)
            raise

    def _run_as_for(self, lab_id: str, isolation: Isolation) -> RunAs:
        if not isolation.own_uid:
            return RunAs(name=pwd.getpwuid(os.geteuid()).pw_name)
        uid = self.uids.allocate(lab_id, self.book.path(lab_id))
        return RunAs(name=f"ads-lab-{uid}", uid=uid, gid=uid)

    def _create(
        self,
        lab_id: str,
        isolation: Isolation,
        run_as: RunAs,
        source: Mapping[str, Any] | None = None,
    ) -> VmInfo:
        python = find_python(run_as, self._config.local_python)
        root = self._prepare_root()
        link = root / lab_id
        remove_path(link)
        if reachable_by(root, run_as):
            top = link
        else:
            top = machine_dir() / f"{lab_id[:40]}-{secrets.token_hex(6)}"
        layout = make_sandbox(top, run_as)
        if top != link:
            link.symlink_to(top)
        agent_port, lab_port = two_free_ports()
        data: dict[str, Any] = {
            "lab_id": owner_of(lab_id),
            "vm_name": vm_name_of(lab_id),
            "vm_id": vm_id_of(lab_id),
            "state": "running",
            "sandbox": str(top),
            "agent_port": agent_port,
            "lab_port": lab_port,
            "python": python,
            "run_as": {"name": run_as.name, "uid": run_as.uid, "gid": run_as.gid},
            "isolation": isolation.mode,
            "created_at": _now(),
            "inits": {},
            "process_groups": [],
        }
        if source:
            # Kept first, so a destroy finds the sandbox; cleared once the tree is whole.
            self.book.save(lab_id, {**data, "restoring": True})
            local_images.restore_image(self, data, str(source["provider_image_id"]))
            data["from_image"] = str(source.get("image_id") or "")
        self.book.save(lab_id, data)
        vm = {k: data[k] for k in ("lab_id", "vm_name", "vm_id", "agent_port", "lab_port")}
        write_file(layout.ads, "vm.json", json.dumps(vm).encode(), gid=run_as.gid)
        return self._info(data)

    def _prepare_root(self) -> Path:
        root = self.root
        root.mkdir(parents=True, exist_ok=True)
        if root.stat().st_uid == os.geteuid():
            # Labs may pass through to their sandbox but not list the labs.
            root.chmod(0o711)
        self.book.directory.mkdir(mode=0o700, exist_ok=True)
        return root

    # -- describe -------------------------------------------------------------------

    def describe_vm(self, vm_id: str) -> VmState:
        data = self.book.load(lab_id_of(vm_id))
        if data is None or not Path(data["sandbox"]).is_dir():
            return VmState(vm_id=vm_id, state="absent")
        return VmState(vm_id=vm_id, state=data.get("state", "running"), private_ip="127.0.0.1")

    def health_url(self, vm: VmInfo) -> str:
        return f"http://127.0.0.1:{vm.agent_port}/health"

    # -- init -----------------------------------------------------------------------

    def start_init(self, lab_id: str, vm: VmInfo, request: InitRequest) -> str:
        cluster = request.cluster
        key = local_cluster.key_for(lab_id, vm, cluster.vm_name if cluster else None)
        data = self.book.load(key)
        if data is None or data.get("state") == "terminated":
            raise InitFailed(f"lab {key} has no local VM to initialise (create_vm first)")
        run_as = run_as_of(data)
        layout = layout_of(data)
        # Everything ADS hands the lab goes into ads/, which the lab cannot write.
        bundle = install_agent_bundle(layout, self._agent_dir)
        write_file(
            layout.ads, "plan.json", json.dumps(request.plan, indent=2).encode(), gid=run_as.gid
        )
        source_args = self._sources.arguments(request, layout, run_as)
        command_id = f"init-{len(data['inits']) + 1}-{int(time.time())}"
        log_path = layout.logs / f"{command_id}.log"
        argv = install_command(
            bundle=bundle,
            layout=layout,
            lab_id=lab_id,
            vm=data,
            exit_path=layout.exits / f"{command_id}.exit",
            source_args=source_args,
            command_timeout_s=self._config.command_timeout_s,
            healthy_wait_s=self._config.healthy_wait_s,
            cluster_args=cluster.install_arguments(str(local_cluster.facts_file(layout)))
            if cluster
            else None,
        )
        process = self._spawn(argv, data, log_path)
        data["inits"][command_id] = {"pid": process.pid, "started": _now(), "log": str(log_path)}
        data["process_groups"].append(process.pid)
        self.book.save(key, data)
        # The plane's Run Command event once it ends (saved first: the event's reader
        # asks the book about this command).
        local_command_events.watch(
            lab_id, data["vm_id"], command_id, lambda: self._command_ended(key, command_id)
        )
        return command_id

    def _command_ended(self, key: str, command_id: str) -> str | None:
        """SSM's terminal status of init ``command_id`` (None while it runs)."""
        vm = VmInfo(vm_id=vm_id_of(key), provider=self.name, agent_port=0)
        state = self.get_init_status(vm, command_id).state
        return None if state == "in_progress" else ("Success" if state == "success" else "Failed")

    def wrap_for_lab(
        self, argv: list[str], data: dict[str, Any]
    ) -> tuple[list[str], dict[str, Any]]:
        """``argv`` wrapped in the lab's namespaces, and the Popen privileges (the lab's
        uid) it runs with; unchanged, and no privileges, when labs run as ADS's user."""
        run_as = run_as_of(data)
        if not run_as.drops_privileges:
            return argv, {}
        privileges: dict[str, Any] = {"user": run_as.uid, "group": run_as.gid, "extra_groups": []}
        wrapped = wrap_command(
            argv,
            self._isolation_of(data),
            layout_of(data),
            int(run_as.uid or 0),
            int(run_as.gid or 0),
            # A path the lab's uid cannot reach is hidden already; bwrap, which runs as
            # that uid, could not even mount over it (ADS_HOME under a 0700 /root).
            [p for p in self._hidden_paths(data["python"]) if reachable_by(p, run_as)],
        )
        return wrapped, privileges

    def _spawn(self, argv: list[str], data: dict[str, Any], log_path: Path) -> subprocess.Popen:
        run_as = run_as_of(data)
        layout = layout_of(data)
        argv, privileges = self.wrap_for_lab(argv, data)
        # ads/init is ours and out of the lab's reach; O_NOFOLLOW all the same.
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW
        fd = os.open(log_path, flags, 0o640)
        try:
            if run_as.drops_privileges:
                os.fchown(fd, -1, int(run_as.gid or 0))
            process = subprocess.Popen(
                argv,
                cwd=str(layout.vm),
                env=lab_environment(layout, run_as),
                stdin=subprocess.DEVNULL,
                stdout=fd,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
                **privileges,
            )
        finally:
            os.close(fd)
        remember_child(process)
        return process

    def get_init_status(self, vm: VmInfo, command_id: str) -> InitStatus:
        lab_id = lab_id_of(vm.vm_id)
        data = self.book.load(lab_id)
        if data is None or command_id not in data.get("inits", {}):
            return InitStatus(
                state="failed", detail=f"init command {command_id} is unknown for {lab_id}"
            )
        return init_status(layout_of(data), command_id, data["inits"][command_id], alive)

    # -- destroy and power ------------------------------------------------------------

    def destroy_vm(self, lab_id: str, vm_id: str | None, *, vm_name: str | None = None) -> VmState:
        """Destroy the VM named ``vm_name`` (or whose id is ``vm_id``) of the lab; with
        neither, every VM of the lab (:mod:`ads.providers.local_destroy`)."""
        return local_destroy.destroy_vm(self, lab_id, vm_id, vm_name)

    def destroy_all(self) -> list[str]:
        """Destroy every VM under ``local_root`` (a stopping control plane calls this)."""
        if not self._config.local_root or not self.root.is_dir():
            return []
        lab_ids = self.book.lab_ids()
        for key in lab_ids:
            local_destroy.destroy_key(self, key, None)
        return lab_ids

    # Power (ads.providers.local_power): a stopped VM keeps its sandbox and runs nothing.

    def stop_vm(self, vm_id: str) -> VmState:
        return local_power.stop_vm(self, vm_id)

    def start_vm(self, vm_id: str) -> VmState:
        return local_power.start_vm(self, vm_id)

    def restart_vm(self, vm_id: str) -> VmState:
        return local_power.restart_vm(self, vm_id)

    def start_lab(self, lab_id: str, vm: VmInfo, plan: Mapping[str, Any]) -> str | None:
        return local_power.start_lab(self, local_cluster.key_for(lab_id, vm), dict(plan))

    # Lab actions (ads.providers.local_actions): the agent's action in the sandbox.

    def run_action(self, lab_id: str, vm: VmInfo, name: str) -> str:
        return local_actions.run_action(self, local_cluster.key_for(lab_id, vm), name)

    def action_status(self, vm: VmInfo, command_id: str) -> InitStatus:
        return local_actions.action_status(self, vm, command_id)

    # Logs (ads.providers.local_logs): the agent's logs command in the sandbox.

    def read_logs(self, _lab_id: str, vm: VmInfo, request: LogsRequest) -> dict[str, Any]:
        return local_logs.read_logs(self, vm.vm_id, request)

    # Update in place (ads.providers.local_update): the agent's update in the sandbox.

    def start_update(self, lab_id: str, vm: VmInfo, request: VmUpdateRequest) -> str:
        return local_update.start_update(self, local_cluster.key_for(lab_id, vm), request)

    def update_status(self, vm: VmInfo, command_id: str) -> UpdateStatus:
        return local_update.update_status(self, vm, command_id)

    # Lab images (ads.providers.local_images): a snapshot of the sandbox's vm/ tree.

    def create_image(
        self, lab_id: str, vm: VmInfo, image_id: str, _tags: dict[str, str]
    ) -> ImageState:
        return local_images.create_image(self, lab_id, vm, image_id)

    def image_state(self, provider_image_id: str) -> ImageState:
        return local_images.image_state(self, provider_image_id)

    def delete_image(self, provider_image_id: str, _snapshot_ids: list[str]) -> None:
        local_images.delete_image(self, provider_image_id)

    # A lab of several VMs (ads.providers.local_cluster; base.ClusterHooks).

    def share_cluster_facts(self, lab_id: str, vms: list[VmInfo], facts: dict[str, Any]) -> None:
        local_cluster.share_cluster_facts(self, lab_id, vms, facts)

    def cluster_facts_status(self, vms: list[VmInfo], command_id: str) -> InitStatus:
        return local_cluster.cluster_facts_status(self, vms, command_id)

    def facts_path(self, vm: VmInfo) -> str:
        return local_cluster.facts_path(vm)

    def release_cluster(self, lab_id: str) -> None:
        """Nothing to release: a local cluster's VMs share the host's loopback."""
        del lab_id

    @property
    def sources(self) -> SourceStager:
        return self._sources

    def vm_info(self, vm_id: str) -> VmInfo | None:
        """The VM as it is now (after a start its agent port may have changed)."""
        data = self.book.load(lab_id_of(vm_id))
        return self._info(data) if data and data.get("state") != "terminated" else None

    def spawn(self, argv: list[str], data: dict[str, Any], log_path: Path) -> subprocess.Popen:
        return self._spawn(argv, data, log_path)
