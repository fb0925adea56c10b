"""System metrics read from /proc and statvfs. Every reading degrades to ``None`` when
its source is missing (a container, a non-Linux test machine), never to an error."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

PROC = Path("/proc")


def disk_usage(path: str = "/") -> dict[str, Any] | None:
    try:
        stats = os.statvfs(path)
    except OSError:
        return None
    total = stats.f_blocks * stats.f_frsize
    free = stats.f_bavail * stats.f_frsize
    used = (stats.f_blocks - stats.f_bfree) * stats.f_frsize
    # Like df: the share of the space an ordinary user can fill.
    usable = used + free
    return {
        "path": path,
        "total_bytes": total,
        "used_bytes": used,
        "free_bytes": free,
        "used_percent": round(100.0 * used / usable, 1) if usable else 0.0,
    }


def memory_usage(proc: Path = PROC) -> dict[str, Any] | None:
    values = _meminfo(proc)
    if "MemTotal" not in values:
        return None
    total = values["MemTotal"]
    available = values.get("MemAvailable")
    if available is None:  # kernels before 3.14
        available = values.get("MemFree", 0) + values.get("Buffers", 0) + values.get("Cached", 0)
    used = max(0, total - available)
    return {
        "total_bytes": total,
        "available_bytes": available,
        "used_bytes": used,
        "used_percent": round(100.0 * used / total, 1) if total else 0.0,
        "swap_total_bytes": values.get("SwapTotal"),
        "swap_free_bytes": values.get("SwapFree"),
    }


def _meminfo(proc: Path) -> dict[str, int]:
    values: dict[str, int] = {}
    try:
        lines = (proc / "meminfo").read_text().splitlines()
    except OSError:
        return values
    for line in lines:
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            factor = 1024 if len(parts) > 1 and parts[1].lower() == "kb" else 1
            values[name.strip()] = int(parts[0]) * factor
    return values


def load_average(proc: Path = PROC) -> dict[str, Any] | None:
    try:
        fields = (proc / "loadavg").read_text().split()
        one, five, fifteen = (float(x) for x in fields[:3])
    except (OSError, ValueError):
        return None
    return {"1m": one, "5m": five, "15m": fifteen, "cpu_count": os.cpu_count()}


def system_uptime_s(proc: Path = PROC) -> float | None:
    try:
        return float((proc / "uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def process_ids(proc: Path = PROC) -> list[int]:
    try:
        return sorted(int(entry) for entry in os.listdir(str(proc)) if entry.isdigit())
    except OSError:
        return []


def process_count(proc: Path = PROC) -> int | None:
    pids = process_ids(proc)
    return len(pids) if pids else None


def process_names(proc: Path = PROC) -> list[dict[str, Any]]:
    """Pid and executable name of each process. Only names: full command lines can hold
    passwords and tokens, and this is readable by anyone who reaches the agent."""
    result = []
    for pid in process_ids(proc):
        try:
            name = (proc / str(pid) / "comm").read_text().strip()
        except OSError:
            continue
        result.append({"pid": pid, "name": name})
    return result


def os_release(path: Path = Path("/etc/os-release")) -> dict[str, str]:
    values: dict[str, str] = {}
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return values
    for line in lines:
        key, sep, value = line.partition("=")
        if sep and key.strip() and not key.startswith("#"):
            values[key.strip()] = value.strip().strip('"').strip("'")
    return values


def os_info() -> dict[str, Any]:
    release = os_release()
    return {
        "id": release.get("ID"),
        "version": release.get("VERSION_ID"),
        "name": release.get("PRETTY_NAME") or release.get("NAME") or platform.system(),
        "kernel": platform.release(),
        "arch": platform.machine(),
        "python": platform.python_version(),
    }


def snapshot(disk_path: str = "/") -> dict[str, Any]:
    return {
        "disk": disk_usage(disk_path),
        "memory": memory_usage(),
        "load": load_average(),
        "uptime_s": system_uptime_s(),
        "process_count": process_count(),
    }
