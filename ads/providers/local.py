"""The ``local`` provider: a lab VM is a sandbox directory plus processes on this machine.

Layout under ``config.local_root``:

- ``<lab_id>/`` the sandbox: the install prefix (agent, lab, state), ``HOME`` and
  ``TMPDIR`` of every lab command, owned by the user the lab runs as. When that user
  cannot reach ``local_root`` (ADS runs as root under a private home directory), the
  sandbox lives in ``<tmp>/ads-sandboxes/`` and ``<lab_id>`` is a symlink to it.
- ``.vms/<lab_id>.json`` the provider's bookkeeping (ports, process groups, init
  commands), owned by the ADS user and out of the lab's reach, so a lab cannot make the
  provider signal processes that are not its own.

Every lab process carries ``ADS_SANDBOX=<sandbox>`` in its environment; destroying the
VM ends every process that carries it, then removes the sandbox.

Privileges: when ADS runs as root, lab commands run as ``nobody`` (setuid/setgid, no
supplementary groups) with a clean environment; without such a user they are refused.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
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

if TYPE_CHECKING:
    from ads.lab.plan import DeploymentPlan

UNPRIVILEGED_USER = "nobody"
SANDBOX_ENV = "ADS_SANDBOX"
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
VM_ID_PREFIX = "local-"
BOOKKEEPING_DIR = ".vms"
INIT_DIR = ".ads-init"
EXTERNAL_SANDBOXES = "ads-sandboxes"
TERM_GRACE_S = 5.0
KILL_GRACE_S = 3.0
# Runs the install script and leaves its exit status in a file: the step that polls
# is a later invocation, maybe in another process, which cannot wait() for it.
_EXIT_WRAPPER = (
    'exit_file=$1; shift; "$@"; code=$?; '
    'printf "%s\\n" "$code" > "$exit_file.tmp" && mv "$exit_file.tmp" "$exit_file"; '
    'exit "$code"'
)
_PYTHON_PROBE = "import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)"

# Children started by this process, kept so they can be reaped (no zombies, no
# "still running" warnings) by whichever later call looks at them.
_CHILDREN: dict[int, subprocess.Popen] = {}
_CHILDREN_LOCK = threading.Lock()


@dataclass(frozen=True)
class RunAs:
    """Whom lab commands run as. ``uid`` None: as the ADS user itself (not root)."""

    name: str
    uid: int | None = None
    gid: int | None = None

    @property
    def drops_privileges(self) -> bool:
        return self.uid is not None


def resolve_run_as() -> RunAs:
    if os.geteuid() != 0:
        return RunAs(name=pwd.getpwuid(os.geteuid()).pw_name)
    try:
        entry = pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError:
        raise VmCreateFailed(
            f"ADS runs as root and the unprivileged user {UNPRIVILEGED_USER!r} does not exist: "
            "the local provider refuses to run lab commands as root. Run ADS as an ordinary "
            f"user, or create the {UNPRIVILEGED_USER!r} user."
        ) from None
    if entry.pw_uid == 0:
        raise VmCreateFailed(f"user {UNPRIVILEGED_USER!r} has uid 0; refusing to run labs as root")
    return RunAs(name=entry.pw_name, uid=entry.pw_uid, gid=entry.pw_gid)


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


def _process_sandboxes() -> Iterator[tuple[int, str]]:
    """(pid, ADS_SANDBOX) of every other process that has the variable."""
    me = os.getpid()
    prefix = f"{SANDBOX_ENV}=".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        for item in environ.split(b"\0"):
            if item.startswith(prefix):
                yield int(entry), item[len(prefix) :].decode(errors="replace")
                break


def sandbox_processes(sandbox: str) -> list[int]:
    """Pids of live processes whose environment says they belong to ``sandbox``."""
    return [pid for pid, value in _process_sandboxes() if value == sandbox and _alive(pid)]


def processes_under(root: str | Path) -> list[int]:
    """Pids of live processes of every sandbox that is ``root`` or lies below it."""
    root = Path(root).resolve()
    found = []
    for pid, value in _process_sandboxes():
        sandbox = Path(value)
        with contextlib.suppress(OSError):
            sandbox = sandbox.resolve()
        if (sandbox == root or root in sandbox.parents) and _alive(pid):
            found.append(pid)
    return found


def _alive(pid: int) -> bool:
    _reap()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return False
    return fields[0] not in ("Z", "X")


def _reap() -> None:
    with _CHILDREN_LOCK:
        for pid, process in list(_CHILDREN.items()):
            if process.poll() is not None:
                del _CHILDREN[pid]


def _signal(pid: int, sig: int, *, group: bool = False) -> None:
    try:
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class LocalProvider:
    """Sandboxed processes on this machine, running the real agent on 127.0.0.1."""

    name = "local"

    def __init__(self, config: AdsConfig, *, agent_dir: Path | None = None, s3: Any = None):
        self._config = config
        self._agent_dir = agent_dir
        self._s3 = s3

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
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=2))
        tmp.replace(path)

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
                "app_url": f"http://127.0.0.1:{data['lab_port']}/",
            },
        )

    @staticmethod
    def _run_as_of(data: dict[str, Any]) -> RunAs:
        return RunAs(**data["run_as"])

    # -- create ---------------------------------------------------------------------

    def create_vm(self, lab_id: str, plan: DeploymentPlan | Mapping[str, Any]) -> VmInfo:
        existing = self._load(lab_id)
        if existing and existing.get("state") != "terminated":
            return self._info(existing)
        run_as = resolve_run_as()
        python = self._python_for(run_as)
        root = self.root
        if not root.exists():
            root.mkdir(parents=True)
            # Others may pass through to their sandbox but not list the labs.
            root.chmod(0o711)
        link = root / lab_id
        self._remove_path(link)
        if reachable_by(root, run_as):
            sandbox = link
            sandbox.mkdir(mode=0o700)
        else:
            sandbox = self._external_sandbox(lab_id, run_as)
            link.symlink_to(sandbox)
        (sandbox / "tmp").mkdir(mode=0o700, exist_ok=True)
        self._hand_over(sandbox, run_as)
        agent_port = free_port()
        lab_port = free_port()
        while lab_port == agent_port:
            lab_port = free_port()
        data = {
            "lab_id": lab_id,
            "vm_id": f"{VM_ID_PREFIX}{lab_id}",
            "state": "running",
            "sandbox": str(sandbox),
            "agent_port": agent_port,
            "lab_port": lab_port,
            "python": python,
            "run_as": {"name": run_as.name, "uid": run_as.uid, "gid": run_as.gid},
            "created_at": _now(),
            "inits": {},
            "process_groups": [],
        }
        self._save(lab_id, data)
        (sandbox / "vm.json").write_text(
            json.dumps({k: data[k] for k in ("lab_id", "vm_id", "agent_port", "lab_port")})
        )
        return self._info(data)

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

    def _external_sandbox(self, lab_id: str, run_as: RunAs) -> Path:
        base = Path(tempfile.gettempdir()) / EXTERNAL_SANDBOXES
        with contextlib.suppress(FileExistsError):
            base.mkdir(mode=0o711)
        st = base.lstat()
        if (
            not stat.S_ISDIR(st.st_mode)
            or st.st_uid != os.geteuid()
            or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        ):
            raise VmCreateFailed(
                f"{base} must be a directory owned by uid {os.geteuid()} and writable only by it; "
                f"found mode {oct(st.st_mode & 0o7777)} owned by uid {st.st_uid}"
            )
        base.chmod(0o711)
        if not reachable_by(base, run_as):
            raise VmCreateFailed(
                f"user {run_as.name!r} can reach neither {self.root} nor {base}; "
                "set ADS_LOCAL_ROOT to a directory it can traverse"
            )
        return Path(tempfile.mkdtemp(prefix=f"{lab_id[:40]}-", dir=base))

    @staticmethod
    def _hand_over(path: Path, run_as: RunAs) -> None:
        if not run_as.drops_privileges:
            return
        os.lchown(path, run_as.uid, run_as.gid)
        for directory, dirs, files in os.walk(path):
            for name in [*dirs, *files]:
                os.lchown(os.path.join(directory, name), run_as.uid, run_as.gid)

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
        sandbox = Path(data["sandbox"])
        agent_dir = self._agent_dir or default_agent_dir()
        bundle = sandbox / "bundle" / "ads_agent"
        if bundle.exists():
            shutil.rmtree(bundle)
        shutil.copytree(agent_dir, bundle, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        (sandbox / "plan.json").write_text(json.dumps(request.plan, indent=2))
        source_args = self._source_arguments(request, sandbox, run_as)
        init_dir = sandbox / INIT_DIR
        init_dir.mkdir(exist_ok=True)
        self._hand_over(sandbox, run_as)

        command_id = f"init-{len(data['inits']) + 1}-{int(time.time())}"
        log_path = init_dir / f"{command_id}.log"
        exit_path = init_dir / f"{command_id}.exit"
        install = [
            "sh",
            str(bundle / "install.sh"),
            "--prefix",
            str(sandbox),
            "--lab-id",
            lab_id,
            "--plan",
            str(sandbox / "plan.json"),
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
            ["/bin/sh", "-c", _EXIT_WRAPPER, "ads-init", str(exit_path), *install],
            sandbox,
            run_as,
            log_path,
        )
        data["inits"][command_id] = {"pid": process.pid, "started": _now(), "log": str(log_path)}
        data["process_groups"].append(process.pid)
        self._save(lab_id, data)
        return command_id

    def _environment(self, sandbox: Path, run_as: RunAs) -> dict[str, str]:
        return {
            "PATH": SAFE_PATH,
            "HOME": str(sandbox),
            "TMPDIR": str(sandbox / "tmp"),
            "USER": run_as.name,
            "LOGNAME": run_as.name,
            "LANG": "C.UTF-8",
            SANDBOX_ENV: str(sandbox),
        }

    def _spawn(
        self, argv: list[str], sandbox: Path, run_as: RunAs, log_path: Path
    ) -> subprocess.Popen:
        privileges: dict[str, Any] = {}
        if run_as.drops_privileges:
            privileges = {"user": run_as.uid, "group": run_as.gid, "extra_groups": []}
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                argv,
                cwd=str(sandbox),
                env=self._environment(sandbox, run_as),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
                **privileges,
            )
        if run_as.drops_privileges:
            os.lchown(log_path, run_as.uid, run_as.gid)
        with _CHILDREN_LOCK:
            _CHILDREN[process.pid] = process
        return process

    def _source_arguments(self, request: InitRequest, sandbox: Path, run_as: RunAs) -> list[str]:
        if request.source_git:
            url = request.source_git
            local = _local_path(url)
            if local is not None and run_as.drops_privileges:
                url = str(self._copy_local_source(local, sandbox))
            args = ["--source-git", url]
            if request.source_ref:
                args += ["--source-ref", request.source_ref]
            return args
        if request.source_archive:
            archive = request.source_archive
            if archive.startswith("s3://"):
                archive = str(self._download_archive(archive, sandbox))
            elif run_as.drops_privileges and Path(archive).is_file():
                target = sandbox / "source" / Path(archive).name
                target.parent.mkdir(exist_ok=True)
                shutil.copy2(archive, target)
                archive = str(target)
            return ["--source-archive", archive]
        return []

    @staticmethod
    def _copy_local_source(path: Path, sandbox: Path) -> Path:
        """Give the unprivileged lab user its own copy of a local source (it may not read
        the original, and git refuses repositories owned by someone else)."""
        if not path.exists():
            raise InitFailed(f"source.git: {path} does not exist on this machine")
        target = sandbox / "source"
        if target.exists():
            shutil.rmtree(target)
        if (path / ".git").exists() or (path / "HEAD").is_file():
            # A mirror carries every branch and tag, so any --source-ref still resolves.
            result = subprocess.run(
                ["git", "clone", "--quiet", "--mirror", str(path), str(target) + ".git"],
                capture_output=True,
                text=True,
                env={"PATH": SAFE_PATH, "HOME": str(sandbox), "GIT_TERMINAL_PROMPT": "0"},
            )
            if result.returncode != 0:
                raise InitFailed(f"source.git: cannot clone {path}: {result.stderr.strip()}")
            return Path(str(target) + ".git")
        shutil.copytree(path, target, symlinks=True)
        return target

    def _download_archive(self, uri: str, sandbox: Path) -> Path:
        if self._s3 is None:
            raise InitFailed(f"source.s3: {uri} cannot be fetched (no S3 client configured)")
        bucket, _, key = uri[len("s3://") :].partition("/")
        target = sandbox / "source" / (Path(key).name or "source.tar.gz")
        target.parent.mkdir(exist_ok=True)
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
        sandbox = Path(data["sandbox"])
        exit_path = sandbox / INIT_DIR / f"{command_id}.exit"
        log_text = _read_text(Path(init["log"]))
        code = _read_exit_code(exit_path)
        if code is None:
            if _alive(init["pid"]):
                return InitStatus(state="in_progress", detail=f"pid {init['pid']} running")
            # The wrapper writes the status just before it exits: read once more.
            code = _read_exit_code(exit_path)
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
        self._stop_processes(sandbox, (data or {}).get("process_groups", []))
        try:
            self._remove_path(sandbox)
            if link is not None:
                self._remove_path(link)
        except OSError as exc:
            raise DestroyFailed(f"cannot remove the sandbox {sandbox}: {exc}") from exc
        survivors = sandbox_processes(str(sandbox))
        if survivors:
            raise DestroyFailed(
                f"processes of sandbox {sandbox} survive SIGKILL: {', '.join(map(str, survivors))}"
            )
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

    @staticmethod
    def _stop_processes(sandbox: Path, process_groups: list[int]) -> None:
        # Process groups first (the install script and whatever it started), then every
        # process that says it belongs to the sandbox, including re-parented daemons.
        for sig, grace in ((signal.SIGTERM, TERM_GRACE_S), (signal.SIGKILL, KILL_GRACE_S)):
            for pgid in process_groups:
                if pgid and _group_belongs_to(pgid, sandbox):
                    _signal(pgid, sig, group=True)
            deadline = time.monotonic() + grace
            while True:
                pids = sandbox_processes(str(sandbox))
                if not pids:
                    return
                for pid in pids:
                    _signal(pid, sig)
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)

    @staticmethod
    def _remove_path(path: Path) -> None:
        if path.is_symlink() or path.is_file():
            path.unlink(missing_ok=True)
        elif path.is_dir():
            shutil.rmtree(path)

    def stop_vm(self, vm_id: str) -> VmState:
        lab_id = self.lab_id_of(vm_id)
        data = self._load(lab_id)
        if data is None:
            return VmState(vm_id=vm_id, state="absent")
        self._stop_processes(Path(data["sandbox"]), data.get("process_groups", []))
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
        sandbox = Path(data["sandbox"])
        run_as = self._run_as_of(data)
        argv = [
            "/usr/bin/env",
            f"PYTHONPATH={sandbox / 'agent'}",
            data["python"],
            "-m",
            "ads_agent",
            "supervise",
            "--host",
            "127.0.0.1",
            "--port",
            str(data["agent_port"]),
            "--state-dir",
            str(sandbox / "state"),
            "--lab-dir",
            str(sandbox / "lab"),
        ]
        process = self._spawn(argv, sandbox, run_as, sandbox / INIT_DIR / "agent-start.log")
        data["state"] = "running"
        data["process_groups"].append(process.pid)
        self._save(lab_id, data)
        return self.describe_vm(vm_id)

    def restart_vm(self, vm_id: str) -> VmState:
        self.stop_vm(vm_id)
        return self.start_vm(vm_id)


def _group_belongs_to(pgid: int, sandbox: Path) -> bool:
    """Only signal a recorded process group while its leader is still one of ours: a
    reused pid must not make the provider kill a stranger's group."""
    try:
        environ = Path(f"/proc/{pgid}/environ").read_bytes()
    except OSError:
        return False
    return f"{SANDBOX_ENV}={sandbox}".encode() in environ.split(b"\0")


def _local_path(url: str) -> Path | None:
    if url.startswith("file://"):
        return Path(url[len("file://") :])
    if url.startswith("/"):
        return Path(url)
    return None


def _read_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _read_exit_code(path: Path) -> int | None:
    text = _read_text(path).strip()
    return int(text) if re.fullmatch(r"-?\d+", text) else None


def iter_sandboxes(root: Path) -> Iterator[Path]:
    """Sandboxes under a local root (resolving symlinked, external ones)."""
    if not root.is_dir():
        return
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        yield entry.resolve() if entry.is_symlink() else entry
