"""Running the `ads` console script as a user would, each command in its own process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ads import processes
from ads.local.api_auth import credentials_file, read_credentials
from ads.local.daemon import control_plane_pids, local_dir, sandbox_processes

REPO_ROOT = Path(__file__).resolve().parents[2]
ADS = Path(sys.executable).parent / "ads"
COMMAND_TIMEOUT_S = 300
HELLO_WEB = REPO_ROOT / "events" / "labs" / "hello-web"
# Who commits a test's lab repository (no user configuration is read).
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@ads.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@ads.invalid",
    "PATH": "/usr/bin:/bin",
}


def hello_web_repository(
    lab: Path, edit_labspec: Callable[[dict[str, Any]], None], message: str
) -> Path:
    """hello-web copied to ``lab``, its labspec changed by ``edit_labspec``, committed as
    the one commit of a git repository on branch main."""
    shutil.copytree(HELLO_WEB, lab)
    labspec_path = lab / "scripts" / "labspec.json"
    labspec = json.loads(labspec_path.read_text())
    edit_labspec(labspec)
    labspec_path.write_text(json.dumps(labspec))
    for command in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "-A"],
        ["git", "commit", "-q", "-m", message],
    ):
        subprocess.run(command, cwd=lab, env=GIT_ENV, check=True)
    return lab


@dataclass
class CommandResult:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def json(self):
        return json.loads(self.stdout)

    def explain(self) -> str:
        return (
            f"ads {' '.join(self.args)} -> {self.returncode}\n"
            f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"
        )


def user_env(home: Path) -> dict[str, str]:
    """The environment of a user with this ADS_HOME and no other ADS configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADS_")}
    env["ADS_HOME"] = str(home)
    env["ADS_CONFIG"] = str(home / "no-config.json")
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env.pop("PYTEST_CURRENT_TEST", None)
    return env


def run_ads(
    home: Path,
    *args: str,
    timeout: float = COMMAND_TIMEOUT_S,
    cwd: Path = REPO_ROOT,
    extra_env: dict[str, str] | None = None,
) -> CommandResult:
    completed = subprocess.run(
        [str(ADS), *args],
        cwd=cwd,
        # extra_env: ADS_* settings of a plane of its own (a quota, say) on top of a user's.
        env={**user_env(home), **(extra_env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return CommandResult(list(args), completed.returncode, completed.stdout, completed.stderr)


def auth_headers(home: Path, *, admin: bool = False) -> dict[str, str]:
    """The Authorization header a caller holding the plane's (user or admin) credential sends."""
    credentials = read_credentials(credentials_file(local_dir(home)))
    assert credentials is not None, f"no API credentials under {local_dir(home)}"
    credential = credentials.admin if admin else credentials.user
    return {"Authorization": f"Bearer {credential.bearer_token}"}


def leftover_processes(home: Path) -> list[int]:
    """Control plane daemons of ``home`` and every process of its plane's lab VMs, wherever
    their sandboxes live (under ``home``, or in ``<tmp>/ads-sandboxes/`` linked from its
    labs root, or running as a uid leased for one of its labs)."""
    return sorted({*control_plane_pids(home), *sandbox_processes(home)})


def kill_leftovers(home: Path) -> None:
    processes.stop(lambda: leftover_processes(home), grace_s=0)


@dataclass
class RunningPlane:
    home: Path
    endpoint: str
    pid: int

    def ads(self, *args: str, timeout: float = COMMAND_TIMEOUT_S) -> CommandResult:
        return run_ads(self.home, *args, timeout=timeout)
