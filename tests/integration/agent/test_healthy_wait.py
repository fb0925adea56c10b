"""install.sh's last part: after a deploy that succeeded, it ends once the lab answers its
health probe (``install_support wait-healthy``), so that ADS's Check Health passes at once
after the install's end; a lab that never does is left to Check Health after the wait."""

from __future__ import annotations

import http.server
import socketserver
import sys
import threading
import time

import pytest

from ads_agent.install_support import wait_until_healthy
from tests.integration.agent.conftest import INSTALL_SH, free_port

PROBE = {"path": "/", "port": None, "expect_status": 200, "timeout_s": 1}


class _Quiet(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"up")

    def log_message(self, *_args: object) -> None:
        pass


def _serve_later(
    port: int, delay_s: float
) -> tuple[threading.Thread, list[socketserver.TCPServer]]:
    """What a start step that launches a server in the background leaves: the port opens
    a moment after the step has ended."""
    started: list[socketserver.TCPServer] = []

    def run() -> None:
        time.sleep(delay_s)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Quiet)
        started.append(server)
        server.serve_forever(poll_interval=0.05)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, started


def _deployed(sandbox, port: int, steps=None) -> None:
    sandbox.write_plan(steps=steps or [("start", ["true"])], health_probe=PROBE)
    sandbox.write_lab(lab_port=port)
    sandbox.lab_commands("deploy")


def test_given_the_labs_server_listens_a_moment_after_its_start_step_when_waited_then_healthy_once_it_answers(
    sandbox,
):
    port = free_port()
    _deployed(sandbox, port)
    thread, started = _serve_later(port, 0.6)
    try:
        healthy, waited, detail = wait_until_healthy(sandbox.state_dir, 10)
    finally:
        thread.join(5)
        for server in started:
            server.shutdown()
            server.server_close()

    assert (healthy, detail) == (True, "")
    assert 0.5 <= waited < 5


def test_given_a_probe_that_never_passes_when_waited_then_it_gives_up_after_the_wait_naming_the_check(
    sandbox,
):
    port = free_port()
    _deployed(sandbox, port)

    healthy, waited, detail = wait_until_healthy(sandbox.state_dir, 0.5)

    assert healthy is False
    assert 0.5 <= waited < 3
    assert f"127.0.0.1:{port}" in detail and "failed" in detail


def test_given_a_failed_deploy_when_waited_then_it_answers_at_once(sandbox):
    _deployed(sandbox, free_port(), steps=[("start", ["exit 4"])])

    healthy, waited, detail = wait_until_healthy(sandbox.state_dir, 30)

    assert healthy is False and waited < 2
    assert "deploy sequence failed" in detail


@pytest.mark.parametrize("value", ["soon", "-1", "1.2.3", ""])
def test_given_a_bad_healthy_wait_when_installed_then_usage_names_the_option(sandbox, value):
    import subprocess

    result = subprocess.run(
        ["sh", str(INSTALL_SH), "--prefix", str(sandbox.root / "p"), "--lab-id", "wait-lab-1",
         "--plan", str(sandbox.root / "plan.json"), "--python", sys.executable,
         "--healthy-wait", value],
        env=sandbox.env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip

    assert result.returncode == 2
    assert f"--healthy-wait: found '{value}'; allowed: seconds (0 or more)" in result.stderr
