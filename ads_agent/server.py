"""The agent's HTTP server: read-only endpoints about the lab and its VM.

Nothing here runs a command. The original agent's ``execute/<command>`` ran any shell
command as root for anyone who could reach the port; lab actions now go through the
ADS control plane (SSM Run Command or the local provider calling the agent's CLI), so
that path answers 410 Gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from ads_agent import AGENT_VERSION, health, metrics, state
from ads_agent.history import HistoryStore
from ads_agent.logs import JsonLog

MAX_REQUEST_LINE = 8 * 1024
MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 64 * 1024
SOCKET_TIMEOUT_S = 10.0
# Each connection holds a thread while it lasts; past this many, new connections get a
# quick 503 instead of a thread, so idle or slow clients cannot exhaust the VM.
MAX_CONNECTIONS = 64
DEFAULT_ACTIONS_LIMIT = 50
MAX_ACTIONS_LIMIT = 1000
OPENAPI_PATH = Path(__file__).with_name("openapi.json")
EXECUTE_PREFIX = "/api/1.0/execute"
GONE_MESSAGE = (
    "the agent does not run commands over HTTP; lab actions go through the ADS control "
    "plane (SSM Run Command on EC2, the local provider on this machine), which runs "
    "'python3 -m ads_agent action NAME' on the VM"
)


@dataclass
class AgentContext:
    state_dir: Path
    lab_dir: Path
    log: JsonLog
    started_monotonic: float
    started: str
    openapi: bytes


Response = tuple[int, str, bytes]


def _json(status: int, body: Any) -> Response:
    return status, "application/json", (json.dumps(body, indent=2) + "\n").encode()


def _text(status: int, body: str) -> Response:
    return status, "text/plain; charset=utf-8", body.encode()


def _error(status: int, code: str, message: str) -> Response:
    return _json(status, {"error": code, "message": message})


class AgentRequestHandler(BaseHTTPRequestHandler):
    server_version = "ads-agent/" + AGENT_VERSION
    timeout = SOCKET_TIMEOUT_S
    server: AgentHttpServer

    # --- plumbing -------------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        # The class-wide timeout is the default; each server may set its own.
        self.connection.settimeout(self.server.request_timeout_s)

    def version_string(self) -> str:
        return self.server_version  # no Python version: nothing to help an attacker

    def __getattr__(self, name: str) -> Any:
        # http.server answers 501 to a method it finds no do_<METHOD> for; routing every
        # method instead lets execute/... answer 410 and the rest 405, whatever is sent.
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)

    def _handle(self) -> None:
        began = time.monotonic()
        response = self._bounds_problem()
        if response is None:
            try:
                response = self._route()
            except Exception as exc:
                self.server.context.log.error(
                    "request_failed", path=self.path, error=f"{type(exc).__name__}: {exc}"
                )
                response = _error(500, "internal_error", "the agent could not answer; see its log")
        status, content_type, body = response
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if status == 405:
            self.send_header("Allow", "GET")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.server.context.log.info(
            "request",
            method=self.command,
            path=self.path[:200],
            status=status,
            bytes=len(body),
            duration_ms=round((time.monotonic() - began) * 1000, 1),
            client=self.client_address[0] if self.client_address else None,
        )

    def _bounds_problem(self) -> Response | None:
        if len(self.requestline) > MAX_REQUEST_LINE:
            self.close_connection = True
            return _error(414, "uri_too_long", f"request line: at most {MAX_REQUEST_LINE} bytes")
        header_bytes = sum(len(k) + len(v) for k, v in self.headers.items())
        if header_bytes > MAX_HEADER_BYTES:
            self.close_connection = True
            return _error(431, "headers_too_large", f"headers: at most {MAX_HEADER_BYTES} bytes")
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            return _error(411, "length_required", "request bodies must declare Content-Length")
        length_text = self.headers.get("Content-Length", "0").strip() or "0"
        if not length_text.isdigit():
            self.close_connection = True
            return _error(
                400, "bad_request", f"Content-Length: found {length_text!r}, allowed digits"
            )
        length = int(length_text)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            return _error(413, "body_too_large", f"request body: at most {MAX_BODY_BYTES} bytes")
        if length:
            # No endpoint takes a body; read it so the answer is not lost to a reset.
            self.rfile.read(length)
        return None

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        pass  # every answer is logged once, as JSON, by _handle

    def log_message(self, format: str, *args: Any) -> None:
        self.server.context.log.warning("http_protocol", message=format % args)

    # --- routes ---------------------------------------------------------------------

    def _route(self) -> Response:
        # "//api/..." would otherwise be read as a host name followed by a path.
        target = "/" + self.path.lstrip("/") if self.path.startswith("//") else self.path
        parts = urlsplit(target)
        path = parts.path.rstrip("/") or "/"
        if path == EXECUTE_PREFIX or path.startswith(EXECUTE_PREFIX + "/"):
            return _error(410, "gone", GONE_MESSAGE)
        route = ROUTES.get(path)
        if route is None:
            return _error(404, "not_found", f"path {path!r}: no such endpoint; see /openapi.json")
        if self.command not in ("GET", "HEAD"):
            return _error(405, "method_not_allowed", f"method {self.command}: allowed GET")
        return route(self, parse_qs(parts.query))

    @property
    def context(self) -> AgentContext:
        return self.server.context

    def health(self, _query: dict[str, list[str]]) -> Response:
        status, checks = health.evaluate(self.context.state_dir)
        lab = _lab(self.context)
        body = {
            "status": status,
            "lab_id": lab.get("lab_id"),
            "agent_version": AGENT_VERSION,
            # The commit the lab's checkout is at (the install's, or the last update's).
            "source_revision": lab.get("source_revision"),
            "uptime_s": self._uptime(),
            "checks": checks,
        }
        return _json(200 if status == health.OK else 503, body)

    def info(self, _query: dict[str, list[str]]) -> Response:
        lab = _lab(self.context)
        source = lab.get("source") if isinstance(lab.get("source"), dict) else None
        return _json(
            200,
            {
                "lab_id": lab.get("lab_id"),
                "lab_name": lab.get("lab_name"),
                "agent_version": AGENT_VERSION,
                "source_revision": lab.get("source_revision"),
                "source": source,
                "lab_port": lab.get("lab_port"),
                "lab_dir": str(self.context.lab_dir),
                "agent_started": self.context.started,
                "os": metrics.os_info(),
            },
        )

    def metrics(self, _query: dict[str, list[str]]) -> Response:
        body = metrics.snapshot()
        body["agent_uptime_s"] = self._uptime()
        return _json(200, body)

    def actions(self, query: dict[str, list[str]]) -> Response:
        limit_text = (query.get("limit") or [str(DEFAULT_ACTIONS_LIMIT)])[-1]
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_ACTIONS_LIMIT:
            return _error(
                400, "bad_request", f"limit: found {limit_text!r}, allowed 1-{MAX_ACTIONS_LIMIT}"
            )
        actions = query.get("action")
        action = actions[-1] if actions else None
        store = HistoryStore(self.context.state_dir / state.HISTORY_FILE)
        records = store.read(limit=int(limit_text), action=action)
        records.reverse()  # newest first, the order an operator looks for
        return _json(200, {"lab_id": _lab(self.context).get("lab_id"), "actions": records})

    def openapi(self, _query: dict[str, list[str]]) -> Response:
        return 200, "application/json", self.context.openapi

    # The original agent's endpoints answer plain text, as before, so scripts that
    # scraped them keep working.

    def test_lab(self, _query: dict[str, list[str]]) -> Response:
        status, checks = health.evaluate(self.context.state_dir)
        lines = [status] + [f"{c['name']}: {c['status']} - {c['detail']}" for c in checks]
        return _text(200 if status == health.OK else 503, "\n".join(lines) + "\n")

    def disk_usage(self, _query: dict[str, list[str]]) -> Response:
        disk = metrics.disk_usage("/")
        if disk is None:
            return _text(503, "disk usage unavailable: statvfs('/') failed\n")
        return _text(
            200,
            "Filesystem      Size  Used Avail Use% Mounted on\n"
            f"{'rootfs':<14}{_human(disk['total_bytes']):>6}{_human(disk['used_bytes']):>6}"
            f"{_human(disk['free_bytes']):>6}{round(disk['used_percent']):>4}% /\n",
        )

    def mem_usage(self, _query: dict[str, list[str]]) -> Response:
        memory = metrics.memory_usage()
        if memory is None:
            return _text(503, "memory usage unavailable: /proc/meminfo not readable\n")
        mib = 1024 * 1024
        swap_total = memory["swap_total_bytes"] or 0
        swap_free = memory["swap_free_bytes"] or 0
        return _text(
            200,
            "           total       used  available   (MiB)\n"
            f"Mem:  {memory['total_bytes'] // mib:>10} {memory['used_bytes'] // mib:>10} "
            f"{memory['available_bytes'] // mib:>10}\n"
            f"Swap: {swap_total // mib:>10} {(swap_total - swap_free) // mib:>10} "
            f"{swap_free // mib:>10}\n",
        )

    def running_time(self, _query: dict[str, list[str]]) -> Response:
        uptime = metrics.system_uptime_s()
        if uptime is None:
            return _text(503, "running time unavailable: /proc/uptime not readable\n")
        days, rest = divmod(int(uptime), 86400)
        hours, rest = divmod(rest, 3600)
        minutes, seconds = divmod(rest, 60)
        return _text(200, f"up {days} days, {hours:02d}:{minutes:02d}:{seconds:02d}\n")

    def cpu_load(self, _query: dict[str, list[str]]) -> Response:
        load = metrics.load_average()
        if load is None:
            return _text(503, "cpu load unavailable: /proc/loadavg not readable\n")
        return _text(200, f"load average: {load['1m']:.2f}, {load['5m']:.2f}, {load['15m']:.2f}\n")

    def running_processes(self, _query: dict[str, list[str]]) -> Response:
        processes = metrics.process_names()
        if not processes:
            return _text(503, "process list unavailable: /proc not readable\n")
        lines = ["  PID COMMAND"] + [f"{p['pid']:>5} {p['name']}" for p in processes]
        return _text(200, "\n".join(lines) + "\n")

    def _uptime(self) -> float:
        return round(time.monotonic() - self.context.started_monotonic, 3)


ROUTES: dict[str, Callable[[AgentRequestHandler, dict[str, list[str]]], Response]] = {
    "/health": AgentRequestHandler.health,
    "/openapi.json": AgentRequestHandler.openapi,
    "/api/1.0/info": AgentRequestHandler.info,
    "/api/1.0/metrics": AgentRequestHandler.metrics,
    "/api/1.0/actions": AgentRequestHandler.actions,
    "/api/1.0/test-lab": AgentRequestHandler.test_lab,
    "/api/1.0/disk-usage": AgentRequestHandler.disk_usage,
    "/api/1.0/mem-usage": AgentRequestHandler.mem_usage,
    "/api/1.0/running-time": AgentRequestHandler.running_time,
    "/api/1.0/cpu-load": AgentRequestHandler.cpu_load,
    "/api/1.0/running-processes": AgentRequestHandler.running_processes,
}


def _lab(context: AgentContext) -> dict[str, Any]:
    lab = state.read_json_quietly(context.state_dir / state.LAB_FILE)
    return lab if isinstance(lab, dict) else {}


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "K", "M", "G", "T"):
        if value < 1024 or unit == "T":
            return f"{value:.0f}{unit}" if unit == "B" or value >= 10 else f"{value:.1f}{unit}"
        value /= 1024
    return str(size)


class AgentHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        context: AgentContext,
        *,
        request_timeout_s: float = SOCKET_TIMEOUT_S,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.context = context
        self.request_timeout_s = request_timeout_s
        self._slots = threading.BoundedSemaphore(max_connections)
        self._max_connections = max_connections
        super().__init__(address, AgentRequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self._refuse_busy(request, client_address)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def _refuse_busy(self, request: socket.socket, client_address: Any) -> None:
        body = json.dumps(
            {
                "error": "busy",
                "message": f"the agent is serving {self._max_connections} connections "
                "already; try again shortly",
            }
        ).encode()
        head = (
            "HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
        ).encode()
        with contextlib.suppress(OSError):
            request.settimeout(1.0)
            request.sendall(head + body)
        self.shutdown_request(request)
        self.context.log.warning(
            "connection_refused",
            reason="too many connections",
            limit=self._max_connections,
            client=client_address[0] if client_address else None,
        )


def serve(
    host: str,
    port: int,
    state_dir: Path,
    lab_dir: Path,
    log: JsonLog,
    request_timeout_s: float = SOCKET_TIMEOUT_S,
) -> int:
    """Serve until SIGTERM or SIGINT; returns the process exit status."""
    state_dir.mkdir(parents=True, exist_ok=True)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    context = AgentContext(
        state_dir=state_dir,
        lab_dir=lab_dir,
        log=log,
        started_monotonic=time.monotonic(),
        started=started,
        openapi=OPENAPI_PATH.read_bytes(),
    )
    try:
        server = AgentHttpServer((host, port), context, request_timeout_s=request_timeout_s)
    except OSError as exc:
        log.error("bind_failed", host=host, port=port, error=exc.strerror or str(exc))
        return 1
    bound_port = server.server_address[1]
    pid = os.getpid()
    state.write_json_atomic(
        state_dir / state.AGENT_FILE,
        {
            "pid": pid,
            "host": host,
            "port": bound_port,
            "started": started,
            "version": AGENT_VERSION,
        },
    )
    (state_dir / state.AGENT_PID_FILE).write_text(f"{pid}\n")

    def stop(signum: int, _frame: Any) -> None:
        log.info("stopping", signal=signum)
        # shutdown() waits for serve_forever to return, so it cannot run on this thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info(
        "listening", host=host, port=bound_port, state_dir=str(state_dir), version=AGENT_VERSION
    )
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
        _forget_self(state_dir, pid)
        log.info("stopped")
    return 0


def _forget_self(state_dir: Path, pid: int) -> None:
    """Remove the files naming this process, unless a newer agent already replaced them."""
    agent = state.read_json_quietly(state_dir / state.AGENT_FILE)
    if isinstance(agent, dict) and agent.get("pid") == pid:
        for name in (state.AGENT_FILE, state.AGENT_PID_FILE):
            with contextlib.suppress(OSError):
                (state_dir / name).unlink()
