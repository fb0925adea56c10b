"""Initialising a local lab VM: the install command, the lab's sources, and its outcome.

The command is the same ``install.sh`` that runs on EC2 through SSM, started by a small
wrapper that leaves its exit status in a file: the step that polls is a later
invocation, maybe in another process, which cannot wait() for it. Sources reach the
lab as files in ``ads/`` (a git bundle of a local source, made with the requester's
rights; an S3 archive), never as paths of the host.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ads.config import AdsConfig
from ads.providers.base import InitFailed, InitRequest, InitStatus
from ads.providers.failure_output import failure_tail, find_failing_command
from ads.providers.local_sandbox import RunAs, SandboxLayout, read_lab_file, write_file
from ads.providers.local_sources import (
    LocalSourceRefused,
    SourceReader,
    export_bundle,
    local_path,
    reader_for,
    requester_from_uid,
)

LOG_TAIL_BYTES = 256 * 1024
EXIT_WRAPPER = (
    'exit_file=$1; shift; "$@"; code=$?; '
    'printf "%s\\n" "$code" > "$exit_file.tmp" && mv -f "$exit_file.tmp" "$exit_file"; '
    'exit "$code"'
)


def install_command(
    *,
    bundle: Path,
    layout: SandboxLayout,
    lab_id: str,
    vm: dict[str, Any],
    exit_path: Path,
    source_args: list[str],
    command_timeout_s: int | None = None,
    cluster_args: list[str] | None = None,
    healthy_wait_s: int | None = None,
) -> list[str]:
    """The wrapped ``install.sh`` run for the VM whose bookkeeping is ``vm``
    (``cluster_args``: a VM of a lab of several VMs, see ``ClusterInit``)."""
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
        str(vm["agent_port"]),
        "--lab-port",
        str(vm["lab_port"]),
        # A local lab shares the host: its application answers on loopback only.
        "--lab-bind",
        "127.0.0.1",
        *(["--timeout", str(command_timeout_s)] if command_timeout_s else []),
        *(["--healthy-wait", str(healthy_wait_s)] if healthy_wait_s is not None else []),
        "--service",
        "background",
        "--python",
        vm["python"],
        *(cluster_args or []),
        *source_args,
    ]
    return ["/bin/sh", "-c", EXIT_WRAPPER, "ads-init", str(exit_path), *install]


class SourceStager:
    """Puts a lab's sources where its install command can read them."""

    def __init__(self, config: AdsConfig, s3: Any = None) -> None:
        self._config = config
        self._s3 = s3

    def arguments(self, request: InitRequest, layout: SandboxLayout, run_as: RunAs) -> list[str]:
        """The install script's source arguments, after staging what they name."""
        if request.source_git:
            url = request.source_git
            path = local_path(url)
            if path is not None:
                requester = requester_from_uid(request.requester_uid)
                url = str(self.export_local_source(url, path, layout, run_as, requester))
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

    def export_local_source(
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


def init_status(
    layout: SandboxLayout, command_id: str, init: dict[str, Any], running: Callable[[int], bool]
) -> InitStatus:
    """The outcome of init ``command_id`` (``running(pid)``: whether its wrapper still runs)."""
    exit_file = f"vm/.ads-init/{command_id}.exit"
    log_text = read_tail(Path(init["log"]))
    code = _exit_code(read_lab_file(layout.top, exit_file, 64))
    if code is None:
        if running(init["pid"]):
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


def read_tail(path: Path, limit: int = LOG_TAIL_BYTES) -> str:
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
