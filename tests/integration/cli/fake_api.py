"""An in-memory stand-in for the ADS REST API, served over HTTP on 127.0.0.1.

It answers the routes and error shapes the real `api` handler answers, checks every
request's SigV4 signature with botocore (refusing bad ones with 403, as API Gateway
does) and records what it received, so CLI tests can assert on both sides. Each answer of
a route is validated against the model the real handler answers with
(:mod:`ads.api_models`); what does not fit is kept in ``invalid_answers`` and fails the
test (canned answers are sent as they are: they stand for answers the API does not give).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials
from pydantic import BaseModel, ValidationError

from ads.api_models import (
    DeploymentAccepted,
    DestroyAccepted,
    ErrorBody,
    LabHistory,
    LabPage,
    LabView,
)
from ads.lab.cost import lab_cost
from ads.lab_actions import ActionAccepted, LabActions
from ads.lab_record import ALLOWED_FROM
from ads.power import PowerAccepted
from ads.power_steps import OPERATION_STATUS

PLAN = {
    "lab_name": "Data Mining",
    "lab_slug": "data-mining",
    "os": {
        "family": "ubuntu",
        "version": "22.04",
        "requested_family": "ubuntu",
        "requested_version": "12.04",
        "substituted": True,
        "policy": "nearest-lts",
        "eol": "2027-06-01",
        "lts": True,
    },
    "arch": "x86_64",
    "requested_arch": "i386",
    "instance_type": "t3.micro",
    "memory_mib": 1024,
    "vcpus": 2,
    "root_volume_gib": 15,
    "region": "us-east-1",
    "hourly_cost_usd": 0.0104,
    "price_source": "bundled on-demand price table of 2026-11-01",
    "warnings": ["ubuntu 12.04 is past its end of life; using ubuntu 22.04"],
}


@dataclass
class ReceivedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    signature_ok: bool
    expected_authorization: str | None


@dataclass
class FakeAdsApi:
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    # Statuses a new lab walks through, one per GET of the lab.
    deploy_script: list[str] = field(
        default_factory=lambda: [
            "REQUESTED",
            "PROVISIONING",
            "INITIALIZING",
            "HEALTH_CHECKING",
            "READY",
        ]
    )
    destroy_script: list[str] = field(default_factory=lambda: ["DESTROYING", "DESTROYED"])
    # Statuses a lab walks through after a power request, one per GET of the lab.
    power_scripts: dict[str, list[str]] = field(
        default_factory=lambda: {
            "stop": ["STOPPING", "STOPPED"],
            "start": ["STARTING", "HEALTH_CHECKING", "READY"],
            "restart": ["RESTARTING", "HEALTH_CHECKING", "READY"],
        }
    )
    failure: dict[str, str] = field(default_factory=dict)
    # The actions every lab defines, and how a run of each ends (exit code, output tail);
    # a run is recorded on the second GET of the lab's actions after it was asked.
    action_names: list[str] = field(default_factory=lambda: ["backup", "start", "stop", "test"])
    action_results: dict[str, dict[str, Any]] = field(default_factory=dict)
    # (method, path) -> (status, body): canned answers that win over the routes.
    canned: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    delay_s: float = 0.0
    labs: dict[str, dict[str, Any]] = field(default_factory=dict)
    pending: dict[str, list[str]] = field(default_factory=dict)
    idempotency: dict[str, str] = field(default_factory=dict)
    received: list[ReceivedRequest] = field(default_factory=list)
    # Answers of the routes that the real API's models refuse: "METHOD path: problem".
    invalid_answers: list[str] = field(default_factory=list)
    url: str = ""
    _counter: int = 0

    # --- signature ------------------------------------------------------------------------

    def expected_authorization(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> str | None:
        authorization = headers.get("authorization", "")
        if "SignedHeaders=" not in authorization or "x-amz-date" not in headers:
            return None
        signed = authorization.split("SignedHeaders=", 1)[1].split(",", 1)[0].split(";")
        signed_values = {name: headers.get(name, "") for name in signed}
        request = AWSRequest(
            method=method, url=f"{self.url}{raw_path}", data=body, headers=signed_values
        )
        request.context["timestamp"] = headers["x-amz-date"]
        auth = SigV4Auth(
            ReadOnlyCredentials(self.access_key, self.secret_key, None), "execute-api", self.region
        )
        canonical = auth.canonical_request(request)
        signature = auth.signature(auth.string_to_sign(request, canonical), request)
        return (
            f"AWS4-HMAC-SHA256 Credential={auth.scope(request)}, "
            f"SignedHeaders={auth.signed_headers(auth.headers_to_sign(request))}, Signature={signature}"
        )

    # --- routes ----------------------------------------------------------------------------

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], raw_body: bytes
    ) -> tuple[int, Any]:
        parsed = urllib.parse.urlsplit(raw_path)
        path = urllib.parse.unquote(parsed.path)
        query = dict(urllib.parse.parse_qsl(parsed.query))
        body = json.loads(raw_body) if raw_body else None
        expected = self.expected_authorization(method, raw_path, headers, raw_body)
        ok = expected is not None and expected == headers.get("authorization")
        self.received.append(ReceivedRequest(method, path, query, headers, body, ok, expected))
        if self.delay_s:
            time.sleep(self.delay_s)
        if not ok:
            return 403, {
                "message": "The request signature we calculated does not match the signature you provided."
            }
        if (method, path) in self.canned:
            return self.canned[(method, path)]
        status, answer = self.route(method, path, query, headers, body)
        self.check_answer(method, path, status, answer)
        return status, answer

    def route(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        parts = [p for p in path.split("/") if p]
        if parts == ["labs"] and method == "POST":
            return self.create(body, headers.get("idempotency-key"))
        if parts == ["labs"] and method == "GET":
            return self.list(query)
        if len(parts) >= 2 and parts[0] == "labs":
            lab = self.labs.get(parts[1])
            if lab is None:
                return 404, {"error": "lab_not_found", "message": f"no lab with id {parts[1]!r}"}
            if len(parts) == 2 and method == "GET":
                return 200, self.advance(lab)
            if len(parts) == 2 and method == "DELETE":
                return self.destroy(lab)
            if parts[2:] == ["history"] and method == "GET":
                return 200, self.history(lab)
            if len(parts) == 3 and parts[2] in OPERATION_STATUS and method == "POST":
                return self.power(lab, parts[2])
            if parts[2:] == ["actions"] and method == "GET":
                return 200, self.actions(lab)
            if len(parts) == 4 and parts[2] == "actions" and method == "POST":
                return self.act(lab, parts[3])
        return 404, {"error": "not_found", "message": f"no route {method} {path}"}

    def check_answer(self, method: str, path: str, status: int, answer: Any) -> None:
        """Keep a problem when ``answer`` is not what the real API's model allows."""
        model = _answer_model(method, path, status)
        try:
            model.model_validate(answer)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '$'}: {e['msg']}" for e in exc.errors()
            )
            self.invalid_answers.append(f"{method} {path} {status} ({model.__name__}): {problems}")

    def add_lab(self, status: str, name: str = "Data Mining", **fields: Any) -> dict[str, Any]:
        self._counter += 1
        lab_id = f"{name.lower().replace(' ', '-')}-01jd5k3q8v2m6x9t4r7p0wz{self._counter:03d}"
        lab = {
            "lab_id": lab_id,
            "owner": "arn:aws:iam::123456789012:user/tester",
            "status": status,
            "lab_name": name,
            "created_at": f"2026-01-0{min(self._counter, 9)}T10:00:00.000Z",
            "updated_at": "2026-01-01T10:05:00.000Z",
            "plan": PLAN,
            "source": {"git": "https://example.org/labs/data-mining.git", "ref": "main"},
            "options": {"os_policy": "nearest-lts"},
            "provider": "local",
            "vm_id": "vm-1",
            "private_ip": "127.0.0.1",
            "agent_port": 9089,
            "endpoint": None,
            "app_url": None,
            "access": None,
            "lab_ports": [],
            "vms": {},
            "requested_by": "arn:aws:iam::123456789012:user/tester",
            "execution_arn": f"arn:aws:states:us-east-1:123456789012:execution:DeployLab:{lab_id}",
            "destroy_execution_arn": None,
            "failed_step": None,
            "cause": None,
            "status_history": [
                {"status": status, "at": "2026-01-01T10:00:00.000Z", "note": "requested"}
            ],
            "console_url": f"https://console.aws.amazon.com/states/home#/executions/details/{lab_id}",
            "destroy_console_url": None,
            "course": None,
            "accrued_cost": None,
            "lease": None,
            "working_hours": None,
        }
        lab.update(fields)
        lab["cost"] = _cost(lab)
        self.labs[lab_id] = lab
        return lab

    def create(self, body: Any, key: str | None) -> tuple[int, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("labspec"), dict):
            return 400, {
                "error": "invalid_input",
                "message": "invalid request: labspec: found nothing; allowed: a labspec object",
                "problems": [
                    {"path": "labspec", "found": "nothing", "allowed": "a labspec object"}
                ],
            }
        if key and key in self.idempotency:
            lab = self.labs[self.idempotency[key]]
            return 202, {**self._created(lab), "idempotent_replay": True}
        lab = self.add_lab("REQUESTED", source=body.get("source"), options=body.get("options"))
        self.pending[lab["lab_id"]] = list(self.deploy_script)
        if key:
            self.idempotency[key] = lab["lab_id"]
        return 202, self._created(lab)

    def _created(self, lab: dict[str, Any]) -> dict[str, Any]:
        return {
            "lab_id": lab["lab_id"],
            "status": lab["status"],
            "execution_arn": lab["execution_arn"],
            "console_url": lab["console_url"],
            "plan": PLAN,
            "warnings": PLAN["warnings"],
        }

    def advance(self, lab: dict[str, Any]) -> dict[str, Any]:
        script = self.pending.get(lab["lab_id"])
        if script:
            status = script.pop(0)
            if status != lab["status"]:
                lab["status"] = status
                lab["status_history"].append(
                    {"status": status, "at": "2026-01-01T10:01:00.000Z", "note": ""}
                )
            if status == "READY":
                lab["endpoint"] = "http://127.0.0.1:9089"
                lab["app_url"] = "http://127.0.0.1:8080/"
            if status == "FAILED":
                lab.update(self.failure)
            lab["cost"] = _cost(lab)
        return lab

    def list(self, query: dict[str, str]) -> tuple[int, Any]:
        labs = sorted(self.labs.values(), key=lambda lab: lab["created_at"], reverse=True)
        if query.get("status"):
            wanted = query["status"].split(",")
            labs = [lab for lab in labs if lab["status"] in wanted]
        start = int(query.get("next_token") or 0)
        limit = int(query.get("limit") or 50)
        page = labs[start : start + limit]
        token = str(start + limit) if start + limit < len(labs) else None
        summaries = [
            {
                k: lab[k]
                for k in (
                    "lab_id",
                    "lab_name",
                    "status",
                    "owner",
                    "created_at",
                    "updated_at",
                    "endpoint",
                    "app_url",
                )
            }
            for lab in page
        ]
        return 200, {"labs": summaries, "next_token": token}

    def destroy(self, lab: dict[str, Any]) -> tuple[int, Any]:
        if lab["status"] in ("DESTROYING", "DESTROYED"):
            return 409, {
                "error": "illegal_state_change",
                "message": f"lab {lab['lab_id']!r} is {lab['status']}; it can become DESTROYING only from "
                "REQUESTED, PROVISIONING, INITIALIZING, HEALTH_CHECKING, READY, FAILED",
            }
        lab["status"] = "DESTROYING"
        lab["destroy_execution_arn"] = lab["execution_arn"] + "-destroy-1"
        self.pending[lab["lab_id"]] = list(self.destroy_script)
        return 202, {
            "lab_id": lab["lab_id"],
            "status": "DESTROYING",
            "execution_arn": lab["destroy_execution_arn"],
            "console_url": lab["console_url"] + "-destroy-1",
        }

    def power(self, lab: dict[str, Any], operation: str) -> tuple[int, Any]:
        wanted = OPERATION_STATUS[operation]
        allowed = [s.value for s in ALLOWED_FROM[wanted]]
        if lab["status"] not in allowed:
            return 409, {
                "error": "illegal_state_change",
                "message": f"lab {lab['lab_id']!r} is {lab['status']}; it can become "
                f"{wanted.value} only from {', '.join(allowed)}",
            }
        lab["status"] = wanted.value
        lab["status_history"].append(
            {"status": wanted.value, "at": "2026-01-01T11:00:00.000Z", "note": operation}
        )
        arn = (
            f"arn:aws:states:us-east-1:123456789012:execution:PowerLab:{lab['lab_id']}-{operation}"
        )
        self.pending[lab["lab_id"]] = list(self.power_scripts[operation])
        return 202, {
            "lab_id": lab["lab_id"],
            "operation": operation,
            "status": wanted.value,
            "execution_arn": arn,
            "console_url": f"https://console.aws.amazon.com/states/home#/executions/details/{arn}",
        }

    def act(self, lab: dict[str, Any], name: str) -> tuple[int, Any]:
        if name not in self.action_names:
            return 404, {
                "error": "action_not_found",
                "message": f"lab {lab['lab_id']!r} defines no action {name!r}; defined: "
                + ", ".join(self.action_names),
            }
        if lab["status"] != "READY":
            return 409, {
                "error": "illegal_state_change",
                "message": f"lab {lab['lab_id']!r} is {lab['status']}; it can become ACTING "
                "only from READY",
            }
        arn = f"arn:aws:states:us-east-1:123456789012:execution:ActionLab:{lab['lab_id']}-{name}"
        lab["status"] = "ACTING"
        lab["running_action"] = {
            "name": name,
            "requester": lab["owner"],
            "started_at": "2026-01-01T12:00:00.000Z",
            "started_epoch": 1767268800.0,
            "execution_id": arn,
            "polls_left": 2,
        }
        return 202, {
            "lab_id": lab["lab_id"],
            "action": name,
            "status": "ACTING",
            "execution_arn": arn,
            "console_url": f"https://console.aws.amazon.com/states/home#/executions/details/{arn}",
        }

    def actions(self, lab: dict[str, Any]) -> dict[str, Any]:
        running = lab.get("running_action")
        if running:
            running["polls_left"] -= 1
            if running["polls_left"] <= 0:
                result = {
                    "exit_code": 0,
                    "output_tail": "",
                    **self.action_results.get(running["name"], {}),
                }
                lab.setdefault("action_runs", []).append(
                    {
                        "name": running["name"],
                        "requester": running["requester"],
                        "started_at": running["started_at"],
                        "duration_s": 2.5,
                        "succeeded": result["exit_code"] == 0,
                        "execution_id": running["execution_id"],
                        **result,
                    }
                )
                lab["status"] = "READY"
                lab["running_action"] = running = None
        return {
            "lab_id": lab["lab_id"],
            "status": lab["status"],
            "actions": sorted(self.action_names),
            "running": {k: v for k, v in running.items() if k != "polls_left"} if running else None,
            "runs": list(reversed(lab.get("action_runs", []))),
        }

    def history(self, lab: dict[str, Any]) -> dict[str, Any]:
        return {
            "lab_id": lab["lab_id"],
            "status_history": lab["status_history"],
            "executions": [
                {
                    "kind": "deploy",
                    "execution_arn": lab["execution_arn"],
                    "status": "SUCCEEDED",
                    "started": "2026-01-01T10:00:00.000Z",
                    "stopped": "2026-01-01T10:02:05.000Z",
                    "console_url": lab["console_url"],
                    "error": None,
                    "states": [
                        {
                            "name": "Create VM",
                            "status": "SUCCEEDED",
                            "entered": "2026-01-01T10:00:00.000Z",
                            "exited": "2026-01-01T10:00:02.500Z",
                            "duration_ms": 2500,
                            "attempts": 1,
                        },
                        {
                            "name": "Initialise VM",
                            "status": "SUCCEEDED",
                            "entered": "2026-01-01T10:00:03.000Z",
                            "exited": "2026-01-01T10:02:03.000Z",
                            "duration_ms": 120000,
                            "attempts": 4,
                            "error": {
                                "error": "InitInProgress",
                                "cause": "deploy step build is running",
                            },
                        },
                    ],
                }
            ],
        }


def _cost(lab: dict[str, Any]) -> dict[str, Any]:
    # As the real API: the lab's cost in its status, from its plan.
    return lab_cost(lab["plan"], lab["status"]).model_dump(mode="json")


def _answer_model(method: str, path: str, status: int) -> type[BaseModel]:
    """The model of ads.api_models the real api handler answers this route with."""
    if status >= 400:
        return ErrorBody
    parts = [p for p in path.split("/") if p]
    if parts == ["costs"]:
        from ads.cost_report import CostReport

        return CostReport
    if parts == ["sweep"]:
        from ads.sweep_model import SweepReport

        return SweepReport
    if parts == ["labs"]:
        return DeploymentAccepted if method == "POST" else LabPage
    if parts[2:] == ["history"]:
        return LabHistory
    if parts[2:] and parts[2] in OPERATION_STATUS:
        return PowerAccepted
    if parts[2:3] == ["actions"]:
        return ActionAccepted if method == "POST" else LabActions
    return DestroyAccepted if method == "DELETE" else LabView


def _handler_for(api: FakeAdsApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, body = api.handle(self.command, self.path, headers, raw)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A test that breaks a connection on purpose must not print a traceback.
        return None


class RunningFakeApi:
    """The fake API on a free port of 127.0.0.1, in a daemon thread, until ``stop()``."""

    def __init__(self, api: FakeAdsApi) -> None:
        self.api = api
        self.server = _QuietServer(("127.0.0.1", 0), _handler_for(api))
        api.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
