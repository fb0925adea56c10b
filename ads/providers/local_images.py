"""Local lab images: a tar of a READY lab's ``vm/`` directory, and a sandbox restored
from it.

The snapshot lives in ``<control plane state>/images/<image_id>.tar`` (the labs root's
parent, which no lab sees; the directory 0700, each file 0600). Root never reads or
writes through a path the lab controls: ``tar`` itself runs as the lab's uid in its
namespaces (the wrapping every lab command gets), reading the lab's own tree and writing
the archive to a descriptor root opened in its own directory; a restore runs ``tar -x``
as the *new* lab's uid into its fresh ``vm/``, reading the archive from a descriptor.
So a snapshot holds only what the lab could read, and a restore writes only where the
new lab could write.

What is left out: the agent's run-time files of the old lab (pid files, its address,
the last deploy's outcome) and the old lab's temporary files. Paths inside the image are
the old sandbox's: a build that writes its own absolute path into what it builds (a
Python virtual environment, say) sees that path again after a restore only on EC2, where
every lab's prefix is the same.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ads.providers.base import VmCreateFailed, VmInfo
from ads.providers.images import ImageFailed, ImageState
from ads.providers.local_runtime_env import lab_environment
from ads.providers.local_vm_book import lab_id_of, layout_of, run_as_of

if TYPE_CHECKING:
    from ads.providers.local import LocalProvider

IMAGES_DIR = "images"
TAR_TIMEOUT_S = 600
# A lab could fill ADS's disk through its image: tar stops past this (RLIMIT_FSIZE, set
# by the shell in 512-byte blocks; a shell counting 1 KiB blocks allows twice as much).
MAX_IMAGE_BYTES = 8 * 1024**3
LIMITED = 'ulimit -f "$1"; shift; exec "$@"'
LEFT_OUT = (
    "./tmp",
    "./.ads-init",
    "./state/agent.json",
    "./state/agent.pid",
    "./state/supervisor.pid",
    "./state/deploy.json",
    "./state/run.lock",
)


def images_dir(provider: LocalProvider) -> Path:
    directory = provider.root.parent / IMAGES_DIR
    directory.mkdir(mode=0o700, exist_ok=True)
    st = directory.lstat()
    if not os.path.isdir(directory) or directory.is_symlink() or st.st_uid != os.geteuid():
        raise ImageFailed(f"{directory} must be a directory of uid {os.geteuid()}")
    directory.chmod(0o700)
    return directory


def create_image(provider: LocalProvider, lab_id: str, _vm: VmInfo, image_id: str) -> ImageState:
    """Snapshot the lab's ``vm/`` now (synchronously: a tar of one sandbox)."""
    data = provider.book.load(lab_id)
    if data is None or data.get("state") == "terminated":
        raise ImageFailed(f"lab {lab_id} has no local VM to make an image of")
    directory = images_dir(provider)
    target = directory / f"{image_id}.tar"
    partial = directory / f".{image_id}.{os.getpid()}.part"
    excludes = [f"--exclude={path}" for path in LEFT_OUT]
    tar = ["tar", "-C", str(layout_of(data).vm), *excludes, "-cf", "-", "."]
    argv = ["/bin/sh", "-c", LIMITED, "ads-image", str(MAX_IMAGE_BYTES // 512), *tar]
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        result = _run(provider, argv, data, stdin=subprocess.DEVNULL, stdout=fd)
    finally:
        os.close(fd)
    # tar exits 1 when a file changed while it was read (a running lab writes its logs).
    if result.returncode == 128 + 25 or result.returncode == -25:
        partial.unlink(missing_ok=True)
        raise ImageFailed(
            f"{lab_id}'s sandbox makes an image of more than {MAX_IMAGE_BYTES:,} bytes "
            "(the local limit); none was kept"
        )
    if result.returncode not in (0, 1):
        partial.unlink(missing_ok=True)
        raise ImageFailed(
            f"tar of {lab_id}'s sandbox exited {result.returncode}: {_tail(result.stderr)}"
        )
    os.replace(partial, target)
    return ImageState(
        provider_image_id=str(target), state="available", size_bytes=target.stat().st_size
    )


def image_state(provider: LocalProvider, provider_image_id: str) -> ImageState:
    path = _snapshot_path(provider, provider_image_id)
    if path is None or not path.is_file():
        return ImageState(provider_image_id=provider_image_id, state="absent")
    return ImageState(
        provider_image_id=provider_image_id, state="available", size_bytes=path.stat().st_size
    )


def delete_image(provider: LocalProvider, provider_image_id: str) -> None:
    path = _snapshot_path(provider, provider_image_id)
    if path is not None:
        path.unlink(missing_ok=True)


def restore_image(provider: LocalProvider, data: dict[str, Any], provider_image_id: str) -> None:
    """Unpack the snapshot into the new VM's empty ``vm/``, as the new lab's uid."""
    path = _snapshot_path(provider, provider_image_id)
    if path is None:
        raise VmCreateFailed(f"image {provider_image_id} is not one of this plane's snapshots")
    argv = ["tar", "-C", str(layout_of(data).vm), "--no-same-owner", "-xf", "-"]
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise VmCreateFailed(f"image snapshot {path} cannot be read: {exc}") from exc
    try:
        result = _run(provider, argv, data, stdin=fd, stdout=subprocess.DEVNULL)
    finally:
        os.close(fd)
    if result.returncode != 0:
        raise VmCreateFailed(
            f"restoring image {path.name} into {lab_id_of(data['vm_id'])} failed "
            f"(tar exited {result.returncode}): {_tail(result.stderr)}"
        )


def _snapshot_path(provider: LocalProvider, provider_image_id: str) -> Path | None:
    """The snapshot file an image id names, only inside this plane's images directory."""
    path = Path(provider_image_id)
    directory = provider.root.parent / IMAGES_DIR
    if path.parent != directory or not path.name.endswith(".tar") or path.is_symlink():
        return None
    return path


def _run(
    provider: LocalProvider, argv: list[str], data: dict[str, Any], *, stdin: Any, stdout: Any
) -> subprocess.CompletedProcess[bytes]:
    """``argv`` run as the lab's uid in its namespaces, as every lab command is."""
    wrapped, privileges = provider.wrap_for_lab(argv, data)
    layout = layout_of(data)
    return subprocess.run(
        wrapped,
        cwd=str(layout.vm),
        env=lab_environment(layout, run_as_of(data)),
        stdin=stdin,
        stdout=stdout,
        stderr=subprocess.PIPE,
        timeout=TAR_TIMEOUT_S,
        check=False,
        close_fds=True,
        **privileges,
    )


def _tail(stderr: bytes | None) -> str:
    return (stderr or b"").decode(errors="replace").strip()[-500:] or "no output"
