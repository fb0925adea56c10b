"""The agent's HTTP API, served by the real agent process on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from tests.integration.agent.conftest import REPO_ROOT, free_port, http_call, wait_until
from tests.integration.agent.openapi_check import response_problems


def _deployed(sandbox, probe=None):
    sandbox.write_plan(
        steps=[("start", ["echo started"])], actions={"stop": []}, health_probe=probe
    )
    sandbox.write_lab()
    result = sandbox.lab_commands("deploy")
    assert result.returncode == 0, result.stderr


def _conforms(document, path, method, answer):
    body = answer.json() if answer.content_type == "application/json" else answer.body.decode()
    return response_problems(document, path, method, answer.status, answer.content_type, body)


def test_given_a_deployed_lab_when_every_documented_endpoint_is_called_then_each_answer_matches_the_openapi_document(
    sandbox, openapi_document
):
    _deployed(sandbox)
    agent = sandbox.start_agent()
    called = []
    for path, item in openapi_document["paths"].items():
        concrete = path.replace("{command}", "uptime")
        for method in item:
            if method == "parameters":
                continue
            answer = agent.get(concrete, method=method.upper())
            assert _conforms(openapi_document, path, method, answer) == [], (method, path)
            called.append((method, path, answer.status))
    statuses = {path: status for _, path, status in called}
    assert statuses["/health"] == 200
    assert statuses["/api/1.0/execute/{command}"] == 410
    assert all(
        status == 200
        for path, status in statuses.items()
        if path not in ("/api/1.0/execute/{command}",)
    )


def test_given_a_deployed_lab_when_health_is_asked_then_200_names_the_lab_and_its_passing_checks(
    sandbox,
):
    _deployed(sandbox)
    agent = sandbox.start_agent()
    body = agent.get("/health").json()
    assert body["status"] == "ok"
    assert body["lab_id"] == "test-lab-1"
    assert {c["name"]: c["status"] for c in body["checks"]} == {"agent": "pass", "deploy": "pass"}


def test_given_no_deploy_has_run_when_health_is_asked_then_503_says_not_deployed(
    sandbox, openapi_document
):
    sandbox.write_plan()
    sandbox.write_lab()
    agent = sandbox.start_agent()
    answer = agent.get("/health")
    assert answer.status == 503
    assert answer.json()["status"] == "not-deployed"
    assert _conforms(openapi_document, "/health", "get", answer) == []


def test_given_a_deploy_still_running_when_health_is_asked_then_503_says_deploying(sandbox):
    sandbox.write_lab()
    (sandbox.state_dir / "deploy.json").write_text(
        json.dumps({"status": "deploying", "pid": os.getpid(), "started": "2026-01-01T00:00:00Z"})
    )
    agent = sandbox.start_agent()
    answer = agent.get("/health")
    assert (answer.status, answer.json()["status"]) == (503, "deploying")


def test_given_a_deploy_whose_process_vanished_when_health_is_asked_then_503_says_failed(sandbox):
    sandbox.write_lab()
    (sandbox.state_dir / "deploy.json").write_text(
        json.dumps({"status": "deploying", "pid": 2**22 + 12345, "started": "2026-01-01T00:00:00Z"})
    )
    agent = sandbox.start_agent()
    answer = agent.get("/health")
    assert (answer.status, answer.json()["status"]) == (503, "failed")
    assert "stopped before finishing" in answer.json()["checks"][1]["detail"]


def test_given_a_failed_deploy_when_health_and_test_lab_are_asked_then_both_answer_503_with_the_failing_command(
    sandbox,
):
    sandbox.write_plan(steps=[("build", ["exit 3"])])
    sandbox.write_lab()
    assert sandbox.lab_commands("deploy").returncode == 3
    agent = sandbox.start_agent()
    health = agent.get("/health")
    assert (health.status, health.json()["status"]) == (503, "failed")
    assert "'exit 3' exited 3" in health.json()["checks"][1]["detail"]
    legacy = agent.get("/api/1.0/test-lab")
    assert legacy.status == 503
    assert legacy.body.decode().splitlines()[0] == "failed"


class _LabApp(BaseHTTPRequestHandler):
    answer = 200

    def do_GET(self):
        self.send_response(self.answer)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def lab_app():
    server = HTTPServer(("127.0.0.1", 0), _LabApp)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("app_answers", "expected_http", "expected_status"),
    [(200, 200, "ok"), (500, 503, "unhealthy")],
)
def test_given_a_lab_health_probe_when_the_lab_app_answers_then_health_follows_the_probe(
    sandbox, lab_app, app_answers, expected_http, expected_status
):
    lab_app.RequestHandlerClass.answer = app_answers
    sandbox.write_plan(
        steps=[("start", ["true"])],
        health_probe={"path": "/ready", "port": None, "expect_status": 200, "timeout_s": 2},
    )
    sandbox.write_lab(lab_port=lab_app.server_address[1])
    assert sandbox.lab_commands("deploy").returncode == 0
    agent = sandbox.start_agent()
    answer = agent.get("/health")
    assert (answer.status, answer.json()["status"]) == (expected_http, expected_status)
    probe = next(c for c in answer.json()["checks"] if c["name"] == "probe")
    assert "/ready" in probe["detail"]


def test_given_a_probe_on_a_closed_port_when_health_is_asked_then_503_unhealthy(sandbox):
    sandbox.write_plan(
        steps=[("start", ["true"])],
        health_probe={"path": "/", "port": free_port(), "expect_status": 200, "timeout_s": 1},
    )
    sandbox.write_lab()
    sandbox.lab_commands("deploy")
    answer = sandbox.start_agent().get("/health")
    assert (answer.status, answer.json()["status"]) == (503, "unhealthy")


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
@pytest.mark.parametrize(
    "path", ["/api/1.0/execute", "/api/1.0/execute/ls", "/api/1.0/execute/rm%20-rf%20/"]
)
def test_given_the_old_execute_endpoint_when_called_with_any_method_then_410_points_to_the_control_plane(
    sandbox, method, path
):
    sandbox.write_lab()
    marker = sandbox.root / "ran"
    agent = sandbox.start_agent()
    answer = agent.get(path.replace("ls", f"touch%20{marker}"), method=method)
    assert answer.status == 410
    assert "control plane" in answer.json()["message"]
    assert not marker.exists()


def test_given_an_unknown_path_when_called_then_404_json(sandbox):
    answer = sandbox.start_agent().get("/api/1.0/nothing-here")
    assert answer.status == 404
    assert answer.json()["error"] == "not_found"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_given_a_read_only_endpoint_when_called_with_another_method_then_405_allows_get(
    sandbox, method
):
    answer = sandbox.start_agent().get("/health", method=method, body=b"{}")
    assert answer.status == 405
    assert answer.headers["allow"] == "GET"


def test_given_a_body_over_the_limit_when_sent_then_413(sandbox):
    answer = sandbox.start_agent().get("/health", method="POST", body=b"x" * (64 * 1024 + 1))
    assert answer.status == 413


def test_given_a_request_line_over_the_limit_when_sent_then_414(sandbox):
    answer = sandbox.start_agent().get("/health?" + "a" * 9000)
    assert answer.status == 414


def test_given_headers_over_the_limit_when_sent_then_431(sandbox):
    headers = {f"X-Filler-{i}": "v" * 1000 for i in range(20)}
    answer = sandbox.start_agent().get("/health", headers=headers)
    assert answer.status == 431


@pytest.mark.parametrize("limit", ["0", "abc", "5000"])
def test_given_an_out_of_range_limit_when_actions_are_listed_then_400_names_the_parameter(
    sandbox, limit
):
    answer = sandbox.start_agent().get(f"/api/1.0/actions?limit={limit}")
    assert answer.status == 400
    assert answer.json()["message"].startswith("limit: found")


def test_given_port_zero_when_the_agent_serves_then_agent_json_records_the_bound_port(sandbox):
    agent = sandbox.start_agent(port=0)
    info = json.loads((sandbox.state_dir / "agent.json").read_text())
    assert info["port"] == agent.port and info["port"] > 0
    assert info["host"] == "127.0.0.1" and info["pid"] == agent.process.pid
    assert agent.get("/health").status == 503


def test_given_a_running_agent_when_it_gets_sigterm_then_it_exits_cleanly_and_forgets_its_pid(
    sandbox,
):
    agent = sandbox.start_agent()
    agent.stop()
    assert agent.process.returncode == 0
    assert not (sandbox.state_dir / "agent.json").exists()


def test_given_the_legacy_endpoints_when_called_then_they_answer_plain_text_as_before(sandbox):
    agent = sandbox.start_agent()
    expected_start = {
        "/api/1.0/disk-usage": "Filesystem",
        "/api/1.0/mem-usage": "           total",
        "/api/1.0/running-time": "up ",
        "/api/1.0/cpu-load": "load average: ",
        "/api/1.0/running-processes": "  PID COMMAND",
    }
    for path, start in expected_start.items():
        answer = agent.get(path)
        assert (answer.status, answer.content_type) == (200, "text/plain"), path
        assert answer.body.decode().startswith(start), path


def test_given_a_request_when_served_then_the_log_has_one_json_object_per_line(sandbox):
    log_file = sandbox.state_dir / "logs" / "agent.log"
    agent = sandbox.start_agent(log_file=log_file)
    agent.get("/health")
    agent.get("/nope")

    def logged_requests():
        lines = log_file.read_text().splitlines()
        return [e for e in map(json.loads, lines) if e["event"] == "request"]

    assert wait_until(lambda: len(logged_requests()) == 2)
    assert [(e["path"], e["status"]) for e in logged_requests()] == [
        ("/health", 503),
        ("/nope", 404),
    ]


def test_given_a_client_that_sends_garbage_when_served_then_the_agent_keeps_answering(sandbox):
    agent = sandbox.start_agent()
    with socket.create_connection(("127.0.0.1", agent.port), timeout=5) as raw:
        raw.sendall(b"\x00\x01 not http at all\r\n\r\n")
        raw.recv(1024)
    assert http_call(agent.port, "/api/1.0/info").status == 200


def test_given_the_info_endpoint_when_called_then_it_reports_lab_revision_and_os(sandbox):
    sandbox.write_lab(lab_id="info-lab")
    body = sandbox.start_agent().get("/api/1.0/info").json()
    assert body["lab_id"] == "info-lab"
    assert body["source_revision"] == "none"
    assert body["os"]["kernel"]
    assert body["agent_version"]


def test_given_a_deploy_in_progress_when_health_is_polled_then_it_goes_from_deploying_to_ok(
    sandbox,
):
    release = sandbox.root / "release"
    sandbox.write_plan(steps=[("build", [f"while [ ! -e {release} ]; do sleep 0.05; done"])])
    sandbox.write_lab()
    agent = sandbox.start_agent()
    deploy = subprocess.Popen(
        [sys.executable, "-m", "ads_agent", "deploy", "--state-dir", str(sandbox.state_dir),
         "--lab-dir", str(sandbox.lab_dir)],
        cwd=str(REPO_ROOT), env=sandbox.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert wait_until(lambda: agent.get("/health").json()["status"] == "deploying")
        assert agent.get("/health").status == 503
        release.touch()
        assert deploy.wait(timeout=30) == 0
        assert agent.get("/health").json()["status"] == "ok"
    finally:
        release.touch()
        deploy.wait(timeout=30)
