"""The ``local`` provider: a lab VM is a sandbox directory plus processes on this machine.

It maps the original ADS adapter interface onto :class:`ComputeProvider`: create_vm
(a sandbox, a uid and two ports), init_vm / start_vm_manager (``start_init``: the same
install script as on EC2), is_running_vm (``describe_vm``), start_vm / stop_vm /
restart_vm (the agent's supervisor), destroy_vm.

Layout under ``config.local_root`` (``0711``, so a lab can pass but not list):

- ``<lab_id>`` the sandbox (layout in :mod:`ads.providers.local_sandbox`), or, when the
  lab's uid cannot reach ``local_root`` (ADS runs as root under a private home), a
  symlink to the sandbox in ``<tmp>/ads-sandboxes/``.
- ``.vms/<lab_id>.json`` the provider's bookkeeping (uid, ports, process groups, init
  commands), ``0700`` and owned by the ADS user, so a lab cannot make the provider
  signal processes that are not its own.

Privileges: as root, each lab runs as its own uid, in its own namespaces where the host
allows (:mod:`ads.providers.local_isolation`); otherwise as the ADS user itself. Every
lab process carries ``ADS_SANDBOX=<sandbox>``; destroying the VM ends every process
that carries it or runs as the lab's uid, removes the sandbox and frees the uid.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pwd
import re
import secrets
import shutil
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ads.config import AdsConfig
from ads.providers.base import (
    DestroyFailed,
    InitFailed,
    InitRequest,
    InitStatus,
    VmCreateFailed,
    VmInfo,
    VmState,
)
from ads.providers.failure_output import failure_tail, find_failing_command
from ads.providers.local_isolation import Isolation, detect_isolation, wrap_command
from ads.providers.local_processes import (
    SANDBOX_ENV,
    alive,
    lab_processes,
    processes_under,
    remember_child,
    sandbox_processes,
    stop_processes,
)
from ads.providers.local_sandbox import (
    RunAs,
    SandboxLayout,
    UidPool,
    machine_dir,
    make_sandbox,
    read_lab_file,
    write_file,
)
from ads.providers.local_sources import (
    LocalSourceRefused,
    SourceReader,
    export_bundle,
    local_path,
    reader_for,
)

if TYPE_CHECKING:
    from ads.lab.plan import DeploymentPlan

__all__ = ["LocalProvider", "RunAs", "iter_sandboxes", "processes_under", "sandbox_processes"]

SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
VM_ID_PREFIX = "local-"
BOOKKEEPING_DIR = ".vms"
LOG_TAIL_BYTES = 256 * 1024
# Runs the install script and leaves its exit status in a file: the step that polls
# is a later invocation, maybe in another process, which cannot wait() for it.
_EXIT_WRAPPER = (
    'exit_file=$1; shift; "$@"; code=$?; '
    'printf "%s\\n" "$code" > "$exit_file.tmp" && mv -f "$exit_file.tmp" "$exit_file"; '
    'exit "$code"'
)
_PYTHON_PROBE = "import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)"


def default_agent_dir() -> Path:
    spec = importlib.util.find_spec("ads_agent")
    if spec is None or not spec.submodule_search_locations:
        raise VmCreateFailed("the ads_agent package (the agent and install.sh) is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def reachable_by(path: Path, run_as: RunAs) -> bool:
    """Whether ``run_as`` may traverse every directory down to ``path`` (inclusive)."""
    if not run_as.drops_privileges:
        return True
    groups = {run_as.gid, *(g.gr_gid for g in _groups_of(run_as.name))}
    for part in [path, *path.parents]:
        try:
            st = part.stat()
        except FileNotFoundError:
            continue
        if st.st_uid == run_as.uid:
            bit = stat.S_IXUSR
        elif st.st_gid in groups:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return False
    return True


def _groups_of(user: str) -> list[Any]:
    import grp

    return [g for g in grp.getgrall() if user in g.gr_mem]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class LocalProvider:
    """Sandboxed processes on this machine, running the real agent on 127.0.0.1."""

    name = "local"

    def __init__(self, config: AdsConfig, *, agent_dir: Path | None = None, s3: Any = None):
        self._config = config
        self._agent_dir = agent_dir
        self._s3 = s3
        self._uids = UidPool(config.local_uid_base, config.local_uid_count)

    # -- paths and bookkeeping ------------------------------------------------------

    @property
    def root(self) -> Path:
        if not self._config.local_root:
            raise VmCreateFailed(
                "ADS_LOCAL_ROOT is empty; the local provider needs a directory for its sandboxes"
            )
        return Path(self._config.local_root).absolute()

    def _bookkeeping_path(self, lab_id: str) -> Path:
        return self.root / BOOKKEEPING_DIR / f"{lab_id}.json"

    def _load(self, lab_id: str) -> dict[str, Any] | None:
        try:
            return json.loads(self._bookkeeping_path(lab_id).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def _save(self, lab_id: str, data: dict[str, Any]) -> None:
        path = self._bookkeeping_path(lab_id)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_file(path.parent, path.name, json.dumps(data, indent=2).encode())

    @staticmethod
    def lab_id_of(vm_id: str) -> str:
        return vm_id[len(VM_ID_PREFIX) :] if vm_id.startswith(VM_ID_PREFIX) else vm_id

    def _info(self, data: dict[str, Any]) -> VmInfo:
        return VmInfo(
            vm_id=data["vm_id"],
            provider=self.name,
            private_ip="127.0.0.1",
            agent_port=data["agent_port"],
            details={
                "sandbox": data["sandbox"],
                "agent_port": data["agent_port"],
                "lab_port": data["lab_port"],
                "run_as": data["run_as"]["name"],
                "isolation": data.get("isolation", ""),
                "app_url": f"http://127.0.0.1:{data['lab_port']}/",
            },
        )

    @staticmethod
    def _run_as_of(data: dict[str, Any]) -> RunAs:
        return RunAs(**data["run_as"])

    @staticmethod
    def _layout_of(data: dict[str, Any]) -> SandboxLayout:
        return SandboxLayout(Path(data["sandbox"]))

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

    def create_vm(self, lab_id: str, plan: DeploymentPlan | Mapping[str, Any]) -> VmInfo:
        existing = self._load(lab_id)
        if existing and existing.get("state") != "terminated":
            return self._info(existing)
        isolation = detect_isolation(self._config)
        run_as = self._run_as_for(lab_id, isolation)
        try:
            return self._create(lab_id, isolation, run_as)
        except BaseException:
            if run_as.uid is not None:
                self._uids.release(run_as.uid, lab_id)
            raise

    def _run_as_for(self, lab_id: str, isolation: Isolation) -> RunAs:
        if not isolation.own_uid:
            return RunAs(name=pwd.getpwuid(os.geteuid()).pw_name)
        uid = self._uids.allocate(lab_id, self._bookkeeping_path(lab_id))
        return RunAs(name=f"ads-lab-{uid}", uid=uid, gid=uid)

    def _create(self, lab_id: str, isolation: Isolation, run_as: RunAs) -> VmInfo:
        python = self._python_for(run_as)
        root = self._prepare_root()
        link = root / lab_id
        _remove_path(link)
        if reachable_by(root, run_as):
            top = link
        else:
            top = machine_dir() / f"{lab_id[:40]}-{secrets.token_hex(6)}"
        layout = make_sandbox(top, run_as)
        if top != link:
            link.symlink_to(top)
        agent_port = free_port()
        lab_port = free_port()
        while lab_port == agent_port:
            lab_port = free_port()
        data = {
            "lab_id": lab_id,
            "vm_id": f"{VM_ID_PREFIX}{lab_id}",
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
        self._save(lab_id, data)
        vm = {k: data[k] for k in ("lab_id", "vm_id", "agent_port", "lab_port")}
        write_file(layout.ads, "vm.json", json.dumps(vm).encode(), gid=run_as.gid)
        return self._info(data)

    def _prepare_root(self) -> Path:
        root = self.root
        root.mkdir(parents=True, exist_ok=True)
        if root.stat().st_uid == os.geteuid():
            # Labs may pass through to their sandbox but not list the labs.
            root.chmod(0o711)
        (root / BOOKKEEPING_DIR).mkdir(mode=0o700, exist_ok=True)
        return root

    def _python_for(self, run_as: RunAs) -> str:
        """An interpreter the lab user can execute (the ADS venv may sit in a private home)."""
        candidates = [
            self._config.local_python,
            "/usr/bin/python3",
            "/usr/local/bin/python3",
            sys.executable,
        ]
        for candidate in dict.fromkeys(c for c in candidates if c):
            if not os.path.isfile(candidate):
                continue
            if not run_as.drops_privileges:
                if os.access(candidate, os.X_OK):
                    return candidate
                continue
            try:
                probe = subprocess.run(
                    [candidate, "-c", _PYTHON_PROBE],
                    user=run_as.uid,
                    group=run_as.gid,
                    extra_groups=[],
                    env={"PATH": SAFE_PATH},
                    cwd="/",
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    timeout=20,
                )
            except (OSError, subprocess.SubprocessError):
                continue
            if probe.returncode == 0:
                return candidate
        raise VmCreateFailed(
            f"no Python 3.9+ interpreter that user {run_as.name!r} may execute "
            f"(tried {', '.join(c for c in candidates if c)}); set ADS_LOCAL_PYTHON"
        )

    # -- describe -------------------------------------------------------------------

    def describe_vm(self, vm_id: str) -> VmState:
        data = self._load(self.lab_id_of(vm_id))
        if data is None or not Path(data["sandbox"]).is_dir():
            return VmState(vm_id=vm_id, state="absent")
        return VmState(vm_id=vm_id, state=data.get("state", "running"), private_ip="127.0.0.1")

    def health_url(self, vm: VmInfo) -> str:
        return f"http://127.0.0.1:{vm.agent_port}/health"

    # -- init -----------------------------------------------------------------------

    def start_init(self, lab_id: str, vm: VmInfo, request: InitRequest) -> str:
        data = self._load(lab_id)
        if data is None or data.get("state") == "terminated":
            raise InitFailed(f"lab {lab_id} has no local VM to initialise (create_vm first)")
        run_as = self._run_as_of(data)
        layout = self._layout_of(data)
        # Everything ADS hands the lab goes into ads/, which the lab cannot write.
        bundle = layout.ads / "bundle"
        shutil.rmtree(bundle, ignore_errors=True)
        shutil.copytree(
            self._agent_dir or default_agent_dir(),
            bundle / "ads_agent",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
        _readable_tree(bundle)
        write_file(
            layout.ads, "plan.json", json.dumps(request.plan, indent=2).encode(), gid=run_as.gid
        )
        source_args = self._source_arguments(request, layout, run_as)

        command_id = f"init-{len(data['inits']) + 1}-{int(time.time())}"
        log_path = layout.logs / f"{command_id}.log"
        exit_path = layout.exits / f"{command_id}.exit"
        install = [
            "sh",
            str(bundle / "ads_agent" / "install.sh"),
            "--prefix",
            str(layout.vm),
            "--lab-id",
            lab_id,
            "--plan",
            str(layout.ads / "plan.json"),
            "--host",
            "127.0.0.1",
            "--port",
            str(data["agent_port"]),
            "--lab-port",
            str(data["lab_port"]),
            "--service",
            "background",
            "--python",
            data["python"],
            *source_args,
        ]
        process = self._spawn(
            ["/bin/sh", "-c", _EXIT_WRAPPER, "ads-init", str(exit_path), *install], data, log_path
        )
        data["inits"][command_id] = {"pid": process.pid, "started": _now(), "log": str(log_path)}
        data["process_groups"].append(process.pid)
        self._save(lab_id, data)
        return command_id

    def _environment(self, layout: SandboxLayout, run_as: RunAs) -> dict[str, str]:
        return {
            "PATH": SAFE_PATH,
            "HOME": str(layout.vm),
            "TMPDIR": str(layout.vm / "tmp"),
            "USER": run_as.name,
            "LOGNAME": run_as.name,
            "LANG": "C.UTF-8",
            SANDBOX_ENV: str(layout.top),
        }

    def _spawn(self, argv: list[str], data: dict[str, Any], log_path: Path) -> subprocess.Popen:
        run_as = self._run_as_of(data)
        layout = self._layout_of(data)
        privileges: dict[str, Any] = {}
        if run_as.drops_privileges:
            privileges = {"user": run_as.uid, "group": run_as.gid, "extra_groups": []}
            argv = wrap_command(
                argv,
                self._isolation_of(data),
                layout,
                int(run_as.uid or 0),
                int(run_as.gid or 0),
                # A path the lab's uid cannot reach is hidden already; bwrap, which runs as
                # that uid, could not even mount over it (ADS_HOME under a 0700 /root).
                [p for p in self._hidden_paths(data["python"]) if reachable_by(p, run_as)],
            )
        # ads/init is ours and out of the lab's reach; O_NOFOLLOW all the same.
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW
        fd = os.open(log_path, flags, 0o640)
        try:
            if run_as.drops_privileges:
                os.fchown(fd, -1, int(run_as.gid or 0))
            process = subprocess.Popen(
                argv,
                cwd=str(layout.vm),
                env=self._environment(layout, run_as),
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

    def _source_arguments(
        self, request: InitRequest, layout: SandboxLayout, run_as: RunAs
    ) -> list[str]:
        if request.source_git:
            url = request.source_git
            path = local_path(url)
            if path is not None:
                url = str(self._export_local_source(url, path, layout, run_as))
            args = ["--source-git", url]
            if request.source_ref:
                args += ["--source-ref", request.source_ref]
            return args
        if request.source_archive:
            archive = request.source_archive
            if not archive.startswith("s3://"):
                raise InitFailed(
                    f"source archive {archive!r}: allowed: an s3:// URI (a local archive is a "
                    "file the requester's rights may not cover)"
                )
            return ["--source-archive", str(self._download_archive(archive, layout, run_as))]
        return []

    def _export_local_source(
        self,
        url: str,
        path: Path,
        layout: SandboxLayout,
        run_as: RunAs,
        requester: SourceReader | None = None,
    ) -> Path:
        """The lab gets a git bundle of a local source, made by a process with the
        requester's rights (see :mod:`ads.providers.local_sources`)."""
        try:
            reader = reader_for(path, requester, self._config)
            target = write_file(layout.ads, "source.bundle", b"", gid=run_as.gid)
            export_bundle(url, target, reader)
        except LocalSourceRefused as exc:
            raise InitFailed(str(exc)) from None
        return target

    def _download_archive(self, uri: str, layout: SandboxLayout, run_as: RunAs) -> Path:
        if self._s3 is None:
            raise InitFailed(f"source.s3: {uri} cannot be fetched (no S3 client configured)")
        bucket, _, key = uri[len("s3://") :].partition("/")
        name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(key).name) or "source.tar.gz"
        target = write_file(layout.ads, name, b"", gid=run_as.gid)
        self._s3.download_file(bucket, key, str(target))
        return target

    def get_init_status(self, vm: VmInfo, command_id: str) -> InitStatus:
        lab_id = self.lab_id_of(vm.vm_id)
        data = self._load(lab_id)
        if data is None or command_id not in data.get("inits", {}):
            return InitStatus(
                state="failed", detail=f"init command {command_id} is unknown for {lab_id}"
            )
        init = data["inits"][command_id]
        layout = self._layout_of(data)
        exit_file = f"vm/.ads-init/{command_id}.exit"
        log_text = _read_tail(Path(init["log"]))
        code = _exit_code(read_lab_file(layout.top, exit_file, 64))
        if code is None:
            if alive(init["pid"]):
                return InitStatus(state="in_progress", detail=f"pid {init['pid']} running")
            # The wrapper writes the status just before it exits: read once more.
            code = _exit_code(read_lab_file(layout.top, exit_file, 64))
            if code is None:
                return InitStatus(
                    state="failed",
                    failing_command=find_failing_command(log_text),
                    output_tail=failure_tail(log_text),
                    detail="the install script was killed before it reported an exit status",
                )
        if code == 0:
            return InitStatus(state="success", exit_code=0)
        return InitStatus(
            state="failed",
            exit_code=code,
            failing_command=find_failing_command(log_text),
            output_tail=failure_tail(log_text),
            detail=f"install.sh exited with status {code}",
        )

    # -- destroy and power ------------------------------------------------------------

    def destroy_vm(self, lab_id: str, vm_id: str | None) -> VmState:
        data = self._load(lab_id)
        link = self.root / lab_id if self._config.local_root else None
        sandbox: Path | None = Path(data["sandbox"]) if data else None
        if sandbox is None and link is not None and link.is_symlink():
            sandbox = Path(os.readlink(link))
        elif sandbox is None and link is not None and link.is_dir():
            sandbox = link
        if sandbox is None:
            return VmState(vm_id=vm_id, state="absent")
        uid = self._run_as_of(data).uid if data else None
        stop_processes(sandbox, (data or {}).get("process_groups", []), uid)
        try:
            # rmtree works through directory descriptors: a lab's symlinks are not followed.
            _remove_path(sandbox)
            if link is not None:
                _remove_path(link)
        except OSError as exc:
            raise DestroyFailed(f"cannot remove the sandbox {sandbox}: {exc}") from exc
        survivors = lab_processes(sandbox, uid)
        if survivors:
            raise DestroyFailed(
                f"processes of sandbox {sandbox} survive SIGKILL: {', '.join(map(str, survivors))}"
            )
        if uid is not None:
            self._uids.release(uid, lab_id)
        self._bookkeeping_path(lab_id).unlink(missing_ok=True)
        return VmState(vm_id=vm_id or f"{VM_ID_PREFIX}{lab_id}", state="terminated")

    def destroy_all(self) -> list[str]:
        """Destroy every VM under ``local_root`` (a stopping control plane calls this)."""
        if not self._config.local_root or not self.root.is_dir():
            return []
        lab_ids = {p.stem for p in (self.root / BOOKKEEPING_DIR).glob("*.json")}
        lab_ids |= {p.name for p in self.root.iterdir() if not p.name.startswith(".")}
        for lab_id in sorted(lab_ids):
            self.destroy_vm(lab_id, None)
        return sorted(lab_ids)

    def stop_vm(self, vm_id: str) -> VmState:
        lab_id = self.lab_id_of(vm_id)
        data = self._load(lab_id)
        if data is None:
            return VmState(vm_id=vm_id, state="absent")
        stop_processes(
            Path(data["sandbox"]), data.get("process_groups", []), self._run_as_of(data).uid
        )
        data["state"] = "stopped"
        data["process_groups"] = []
        self._save(lab_id, data)
        return self.describe_vm(vm_id)

    def start_vm(self, vm_id: str) -> VmState:
        """Start the agent's supervisor again in an initialised sandbox."""
        lab_id = self.lab_id_of(vm_id)
        data = self._load(lab_id)
        if data is None:
            return VmState(vm_id=vm_id, state="absent")
        if data.get("state") == "running" and sandbox_processes(data["sandbox"]):
            return self.describe_vm(vm_id)
        layout = self._layout_of(data)
        argv = [
            "/usr/bin/env",
            f"PYTHONPATH={layout.vm / 'agent'}",
            data["python"],
            "-m",
            "ads_agent",
            "supervise",
            "--host",
            "127.0.0.1",
            "--port",
            str(data["agent_port"]),
            "--state-dir",
            str(layout.vm / "state"),
            "--lab-dir",
            str(layout.vm / "lab"),
        ]
        process = self._spawn(argv, data, layout.logs / "agent-start.log")
        data["state"] = "running"
        data["process_groups"].append(process.pid)
        self._save(lab_id, data)
        return self.describe_vm(vm_id)

    def restart_vm(self, vm_id: str) -> VmState:
        self.stop_vm(vm_id)
        return self.start_vm(vm_id)


def _remove_path(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.is_dir():
        shutil.rmtree(path)


def _readable_tree(path: Path) -> None:
    """The agent bundle as the lab will read it: directories 0755, files 0644 or 0755."""
    for directory, _dirs, files in os.walk(path):
        os.chmod(directory, 0o755)
        for name in files:
            file = os.path.join(directory, name)
            executable = os.stat(file).st_mode & stat.S_IXUSR
            os.chmod(file, 0o755 if executable else 0o644)


def _read_tail(path: Path, limit: int = LOG_TAIL_BYTES) -> str:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return ""
    try:
        size = os.fstat(fd).st_size
        os.lseek(fd, max(0, size - limit), os.SEEK_SET)
        return os.read(fd, limit).decode(errors="replace")
    finally:
        os.close(fd)


def _exit_code(text: str) -> int | None:
    text = text.strip()
    return int(text) if re.fullmatch(r"-?\d+", text) else None


def iter_sandboxes(root: Path) -> Iterator[Path]:
    """Sandboxes under a local root (resolving symlinked, external ones)."""
    if not root.is_dir():
        return
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        yield entry.resolve() if entry.is_symlink() else entry
