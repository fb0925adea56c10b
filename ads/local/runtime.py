"""The local control plane: the AWS control plane of ADS, on this machine, with no account.

:class:`LocalControlPlane` enters moto (in-process AWS emulation), creates what the CDK
stack creates (the labs table, the event bus, one Lambda function per workflow handler,
the DeployLab and DestroyLab state machines from the very same ``statemachine/*.asl.json``
with the same substitutions) and lets moto's Step Functions interpreter run them. Lambda
invocations are dispatched in-process to ``functions.<name>.handler.handler``; the VMs are
made by the ``local`` provider under ``<state_dir>/labs``.

Two things differ from AWS on purpose:

* Retry intervals are multiplied by ``time_scale`` (tests and demos use e.g. 0.02), by
  replacing the ``time`` module that moto's retrier sleeps with.
* Everything is counted while the plane runs: Lambda invocations (with their durations),
  the AWS API calls the handlers make, and, from the execution history, state transitions.
  The benchmark prices a deployment from these counts.

Handlers read their configuration at import (cold start); each :meth:`start` therefore
forgets previously imported handler modules so that they see this plane's configuration.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import re
import signal
import sys
import threading
import time
import traceback
import uuid
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
STATEMACHINE_DIR = REPO_ROOT / "statemachine"
ACCOUNT_ID = "123456789012"
TABLE_NAME = "ads-labs"
EVENT_BUS_NAME = "ads-lab-events"
ROLE_NAME = "ads-local-workflow"
DEPLOY_STATE_MACHINE = "DeployLab"
DESTROY_STATE_MACHINE = "DestroyLab"
# The workflow handlers and the ASL placeholder that names each one (the CDK workflow
# construct passes the same placeholders to definition_substitutions).
WORKFLOW_FUNCTIONS: dict[str, str] = {
    "create_vm": "CreateVmFunctionArn",
    "wait_running": "WaitRunningFunctionArn",
    "init_vm": "InitVmFunctionArn",
    "health_check": "HealthCheckFunctionArn",
    "destroy_vm": "DestroyVmFunctionArn",
    "record_status": "RecordStatusFunctionArn",
}
FRONT_DOOR_FUNCTIONS = ("api", "ci_trigger")
# What a Lambda context reports locally; the benchmark prices invocations at this size.
LAMBDA_MEMORY_MB = 256
_FINISHED = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9]+)\}")


def function_name(handler: str) -> str:
    """The Lambda function name of a handler (``create_vm`` -> ``ads-create-vm``)."""
    return "ads-" + handler.replace("_", "-")


def render_definition(path: Path, substitutions: dict[str, str]) -> str:
    """The ASL text with its ``${Placeholder}`` names replaced, as CDK does at synth."""
    text = path.read_text()
    missing = sorted(set(_PLACEHOLDER.findall(text)) - set(substitutions))
    if missing:
        raise ValueError(f"{path.name}: no value for placeholder(s) {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda m: substitutions[m.group(1)], text)


# -- a Lambda context for in-process invocations ----------------------------------------


@dataclass
class LocalLambdaContext:
    """The attributes of the Lambda runtime's context object that handlers and Powertools read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = LAMBDA_MEMORY_MB
    timeout_s: float = 60.0
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    _started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if not self.log_group_name:
            self.log_group_name = f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        left = self.timeout_s - (time.monotonic() - self._started)
        return max(0, int(left * 1000))


class LambdaServiceFault(Exception):
    """Raised by an in-process handler (in tests) to make the Lambda *service* fail the
    invocation: Step Functions then sees ``Lambda.ServiceException`` and retries."""


# -- usage accounting -------------------------------------------------------------------


@dataclass(frozen=True)
class Invocation:
    function: str
    lab_id: str
    duration_ms: float
    error_type: str | None
    cold: bool


@dataclass
class LabUsage:
    """What one lab's workflow runs cost in Lambda invocations and AWS API calls."""

    lab_id: str
    invocations: list[Invocation] = field(default_factory=list)
    api_calls: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def invocations_by_function(self) -> Counter[str]:
        return Counter(i.function for i in self.invocations)

    @property
    def lambda_ms(self) -> float:
        return sum(i.duration_ms for i in self.invocations)


@dataclass(frozen=True)
class TransitionCount:
    """State transitions of one execution, as Step Functions Standard bills them:
    every state entered, and every retry of a task."""

    states_entered: int
    retries: int

    @property
    def billed(self) -> int:
        return self.states_entered + self.retries


class UsageLedger:
    """Invocations and API calls, attributed to the lab the invocation worked for."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._labs: dict[str, LabUsage] = {}

    def _lab(self, lab_id: str) -> LabUsage:
        if lab_id not in self._labs:
            self._labs[lab_id] = LabUsage(lab_id)
        return self._labs[lab_id]

    def add_invocation(self, invocation: Invocation) -> None:
        with self._lock:
            self._lab(invocation.lab_id).invocations.append(invocation)

    def add_api_call(self, lab_id: str, service: str, operation: str) -> None:
        with self._lock:
            self._lab(lab_id).api_calls[(service, operation)] += 1

    def for_lab(self, lab_id: str) -> LabUsage:
        with self._lock:
            usage = self._labs.get(lab_id) or LabUsage(lab_id)
            return LabUsage(lab_id, list(usage.invocations), Counter(usage.api_calls))

    def all_labs(self) -> list[str]:
        with self._lock:
            return list(self._labs)


class _InvocationScope(threading.local):
    """The handler invocation running on this thread (API calls are attributed to it)."""

    def __init__(self) -> None:
        self.lab_id: str | None = None
        self.ledger: UsageLedger | None = None


_scope = _InvocationScope()


# -- moto patches (process-wide; installed by the running plane) --------------------------


class _ScaledTime:
    """Stands in for the ``time`` module inside moto's retrier: retry waits are scaled."""

    def __init__(self, scale: float) -> None:
        self.scale = scale

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds) * self.scale)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


_active_plane: LocalControlPlane | None = None
_active_lock = threading.Lock()


def _dispatching_invoke(original: Callable[..., Any]) -> Callable[..., Any]:
    def invoke(
        backend: Any,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: dict[str, str],
    ) -> Any:
        plane = _active_plane
        name = function_name.split(":function:")[-1].split(":")[0]
        handler = plane.handler_named(name) if plane is not None else None
        if plane is None or handler is None:
            return original(backend, function_name, qualifier, body, headers, response_headers)
        return plane._invoke_in_process(handler, body, response_headers)

    return invoke


def _counting_api_call(original: Callable[..., Any]) -> Callable[..., Any]:
    def _make_api_call(client: Any, operation_name: str, api_params: Any) -> Any:
        if _scope.ledger is not None and _scope.lab_id is not None:
            service = client.meta.service_model.service_name
            _scope.ledger.add_api_call(_scope.lab_id, service, operation_name)
        return original(client, operation_name, api_params)

    return _make_api_call


# -- the control plane --------------------------------------------------------------------


class LocalControlPlane:
    """AWS control plane of ADS emulated in this process. Use as a context manager."""

    def __init__(self, state_dir: Path, *, time_scale: float = 1.0, region: str = "us-east-1"):
        if not 0 < time_scale <= 10:
            raise ValueError(f"time_scale: found {time_scale}; allowed: more than 0, at most 10")
        self.state_dir = Path(state_dir)
        self.time_scale = time_scale
        self.region = region
        self.config: Any = None
        self.ledger = UsageLedger()
        self.deploy_state_machine_arn = ""
        self.destroy_state_machine_arn = ""
        self._mock: Any = None
        self._saved_env: dict[str, str | None] = {}
        self._restore: list[Callable[[], None]] = []
        self._handlers: dict[str, Callable[..., Any]] = {}
        self._overrides: dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {}
        self._cold: set[str] = set()
        self._started = False

    # -- lifecycle ----------------------------------------------------------

    @property
    def labs_root(self) -> Path:
        return self.state_dir / "labs"

    def __enter__(self) -> LocalControlPlane:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> LocalControlPlane:
        global _active_plane
        if self._started:
            return self
        with _active_lock:
            if _active_plane is not None:
                raise RuntimeError("another local control plane runs in this process")
            _active_plane = self
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        from moto import mock_aws

        self.labs_root.mkdir(parents=True, exist_ok=True)
        self._mock = mock_aws(
            config={
                "stepfunctions": {"execute_state_machine": True},
                "lambda": {"use_docker": False},
            }
        )
        self._mock.start()
        self._started = True
        self._install_patches()
        arn_prefix = f"arn:aws:states:{self.region}:{ACCOUNT_ID}:stateMachine:"
        self.deploy_state_machine_arn = arn_prefix + DEPLOY_STATE_MACHINE
        self.destroy_state_machine_arn = arn_prefix + DESTROY_STATE_MACHINE
        self._set_env(
            {
                "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region,
                "ADS_PROVIDER": "local",
                "ADS_LOCAL_ROOT": str(self.labs_root),
                "ADS_TABLE_NAME": TABLE_NAME,
                "ADS_DEPLOY_STATE_MACHINE_ARN": self.deploy_state_machine_arn,
                "ADS_DESTROY_STATE_MACHINE_ARN": self.destroy_state_machine_arn,
                "ADS_EVENT_BUS_NAME": EVENT_BUS_NAME,
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_DISABLED": "true",
                "POWERTOOLS_SERVICE_NAME": "ads",
            }
        )
        from ads.config import get_config, reset_config

        reset_config()
        self.config = get_config()
        # Handlers read the configuration at import: make the next invocation a cold start.
        for name in (*WORKFLOW_FUNCTIONS, *FRONT_DOOR_FUNCTIONS):
            sys.modules.pop(f"functions.{name}.handler", None)
        self._create_resources()

    def _install_patches(self) -> None:
        import botocore.client
        from moto.awslambda_simple.models import LambdaSimpleBackend
        from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

        original_invoke = LambdaSimpleBackend.invoke
        LambdaSimpleBackend.invoke = _dispatching_invoke(original_invoke)
        self._restore.append(lambda: setattr(LambdaSimpleBackend, "invoke", original_invoke))

        original_time = retrier_decl.time
        retrier_decl.time = _ScaledTime(self.time_scale)
        self._restore.append(lambda: setattr(retrier_decl, "time", original_time))

        original_call = botocore.client.BaseClient._make_api_call
        botocore.client.BaseClient._make_api_call = _counting_api_call(original_call)
        self._restore.append(
            lambda: setattr(botocore.client.BaseClient, "_make_api_call", original_call)
        )

    def _set_env(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def _create_resources(self) -> None:
        import boto3

        from ads.records import create_table

        create_table(boto3.client("dynamodb", region_name=self.region), TABLE_NAME)
        boto3.client("events", region_name=self.region).create_event_bus(Name=EVENT_BUS_NAME)
        iam = boto3.client("iam", region_name=self.region)
        role_arn = iam.create_role(
            RoleName=ROLE_NAME,
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {
                                "Service": ["lambda.amazonaws.com", "states.amazonaws.com"]
                            },
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
        )["Role"]["Arn"]
        lambda_client = boto3.client("lambda", region_name=self.region)
        # The code of a local function is never run by moto: invocations come here.
        package = io.BytesIO()
        with zipfile.ZipFile(package, "w") as archive:
            archive.writestr("README.txt", "dispatched in-process by ads.local.runtime\n")
        substitutions: dict[str, str] = {}
        for handler, placeholder in WORKFLOW_FUNCTIONS.items():
            response = lambda_client.create_function(
                FunctionName=function_name(handler),
                Runtime="python3.13",
                Architectures=["arm64"],
                Role=role_arn,
                Handler="handler.handler",
                Code={"ZipFile": package.getvalue()},
                MemorySize=LAMBDA_MEMORY_MB,
                Timeout=60,
            )
            substitutions[placeholder] = response["FunctionArn"]
        sfn = boto3.client("stepfunctions", region_name=self.region)
        for name, file in (
            (DEPLOY_STATE_MACHINE, "deploy_lab.asl.json"),
            (DESTROY_STATE_MACHINE, "destroy_lab.asl.json"),
        ):
            sfn.create_state_machine(
                name=name,
                definition=render_definition(STATEMACHINE_DIR / file, substitutions),
                roleArn=role_arn,
                type="STANDARD",
            )

    def stop(self) -> None:
        """Stop running executions, destroy every local lab VM, leave the AWS emulation."""
        global _active_plane
        try:
            if self._started:
                with contextlib.suppress(Exception):
                    self._stop_running_executions()
                self.destroy_all_vms()
        finally:
            for undo in reversed(self._restore):
                undo()
            self._restore.clear()
            if self._mock is not None:
                with contextlib.suppress(Exception):
                    self._mock.stop()
                self._mock = None
            for key, value in self._saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            self._saved_env.clear()
            if self._started:
                from ads.config import reset_config

                reset_config()
            self._started = False
            with _active_lock:
                if _active_plane is self:
                    _active_plane = None

    def _stop_running_executions(self) -> None:
        sfn = self.stepfunctions()
        for arn in (self.deploy_state_machine_arn, self.destroy_state_machine_arn):
            for page in sfn.get_paginator("list_executions").paginate(
                stateMachineArn=arn, statusFilter="RUNNING"
            ):
                for execution in page["executions"]:
                    sfn.stop_execution(
                        executionArn=execution["executionArn"],
                        error="ads.LocalControlPlaneStopped",
                        cause="the local control plane stopped",
                    )

    def destroy_all_vms(self) -> list[str]:
        """Destroy every local lab VM under this plane's labs root; returns the lab ids.

        The local provider does the work; any process still carrying a sandbox of this
        root in its environment afterwards is ended too, so nothing outlives the plane.
        """
        destroyed: list[str] = []
        # Sandboxes the lab user could not have under the labs root live elsewhere,
        # linked from it: remember them before the provider removes the links.
        roots = [self.labs_root]
        if self.labs_root.is_dir():
            roots += [p.resolve() for p in self.labs_root.iterdir() if p.is_symlink()]
        provider = self._local_provider()
        if provider is not None and self.labs_root.is_dir():
            try:
                destroyed = list(provider.destroy_all())
            except Exception:  # the sweep below still ends the processes
                sys.stderr.write(
                    f"ads-local: destroying the local lab VMs failed: {traceback.format_exc()}"
                )
        for root in roots:
            kill_sandbox_processes(root)
        return destroyed

    def _local_provider(self) -> Any:
        try:
            from ads.providers import get_provider

            if self.config is None or self.config.provider != "local":
                return None
            return get_provider(self.config)
        except Exception:
            return None

    # -- clients and helpers for callers -------------------------------------

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, region_name=self.region)

    def stepfunctions(self) -> Any:
        return self.client("stepfunctions")

    def repository(self) -> Any:
        from ads.records import LabRepository

        return LabRepository.from_name(TABLE_NAME, self.region)

    def deployment_context(self) -> Any:
        from ads.deployments import DeploymentContext

        return DeploymentContext(
            repository=self.repository(), stepfunctions=self.stepfunctions(), config=self.config
        )

    def wait_for_execution(self, execution_arn: str, timeout: float = 120.0) -> dict[str, Any]:
        """``describe_execution`` once the execution is no longer RUNNING."""
        sfn = self.stepfunctions()
        deadline = time.monotonic() + timeout
        while True:
            described = sfn.describe_execution(executionArn=execution_arn)
            if described["status"] in _FINISHED:
                return described
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"execution {execution_arn} still {described['status']} after {timeout}s"
                )
            time.sleep(0.05)

    def execution_history(self, execution_arn: str) -> list[dict[str, Any]]:
        sfn = self.stepfunctions()
        events: list[dict[str, Any]] = []
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
            events.extend(page["events"])
        return events

    def state_transitions(self, execution_arn: str) -> TransitionCount:
        events = self.execution_history(execution_arn)
        entered = sum(1 for e in events if e["type"].endswith("StateEntered"))
        task_entries = sum(1 for e in events if e["type"] == "TaskStateEntered")
        scheduled = sum(1 for e in events if e["type"] == "TaskScheduled")
        return TransitionCount(states_entered=entered, retries=max(0, scheduled - task_entries))

    def states_entered(self, execution_arn: str) -> list[str]:
        """Names of the states an execution entered, in order."""
        return [
            e["stateEnteredEventDetails"]["name"]
            for e in self.execution_history(execution_arn)
            if e["type"].endswith("StateEntered")
        ]

    # -- Lambda dispatch ------------------------------------------------------

    def override_handler(
        self, handler: str, wrap: Callable[[Callable[..., Any]], Callable[..., Any]]
    ) -> None:
        """Replace a workflow handler by ``wrap(real_handler)`` (tests inject faults so)."""
        if handler not in WORKFLOW_FUNCTIONS and handler not in FRONT_DOOR_FUNCTIONS:
            raise ValueError(f"handler: found {handler!r}; allowed: {sorted(WORKFLOW_FUNCTIONS)}")
        self._overrides[handler] = wrap
        self._handlers.pop(handler, None)

    def handler_named(self, lambda_function_name: str) -> str | None:
        """The workflow handler behind a local Lambda function name, if it is one of ours."""
        for handler in WORKFLOW_FUNCTIONS:
            if function_name(handler) == lambda_function_name:
                return handler
        return None

    def _load_handler(self, handler: str) -> Callable[..., Any]:
        if handler not in self._handlers:
            module = importlib.import_module(f"functions.{handler}.handler")
            fn = module.handler
            if handler in self._overrides:
                fn = self._overrides[handler](fn)
            self._handlers[handler] = fn
        return self._handlers[handler]

    def _invoke_in_process(
        self, handler: str, body: Any, response_headers: dict[str, str]
    ) -> bytes:
        from moto.core.exceptions import JsonRESTError

        raw = body.decode() if isinstance(body, bytes) else (body or "{}")
        try:
            event = json.loads(raw or "{}")
            # An import error is an init failure of the function: the invocation fails.
            fn = self._load_handler(handler)
            payload = self._run(handler, fn, event)
        except LambdaServiceFault as exc:
            error = JsonRESTError("ServiceException", str(exc) or "the Lambda service failed")
            error.code = 500
            raise error from exc
        except Exception as exc:
            response_headers["x-amz-function-error"] = "Unhandled"
            # Like the Lambda runtime: the handler's frames, not this dispatcher's.
            frames = traceback.format_list(
                [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__][-5:]
            )
            return json.dumps(
                {
                    "errorMessage": str(exc),
                    "errorType": type(exc).__name__,
                    "requestId": response_headers.get("x-amzn-RequestId", ""),
                    "stackTrace": frames,
                }
            ).encode()
        return json.dumps(payload).encode()

    def _run(self, handler: str, fn: Callable[..., Any], event: Any) -> Any:
        name = function_name(handler)
        context = LocalLambdaContext(
            function_name=name,
            invoked_function_arn=f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{name}",
        )
        lab_id = str(event.get("lab_id") or "") if isinstance(event, dict) else ""
        cold = handler not in self._cold
        self._cold.add(handler)
        started = time.perf_counter()
        error_type: str | None = None
        _scope.ledger, _scope.lab_id = self.ledger, lab_id or "-"
        try:
            return fn(event, context)
        except BaseException as exc:
            error_type = type(exc).__name__
            raise
        finally:
            _scope.ledger, _scope.lab_id = None, None
            self.ledger.add_invocation(
                Invocation(
                    function=handler,
                    lab_id=lab_id or "-",
                    duration_ms=(time.perf_counter() - started) * 1000,
                    error_type=error_type,
                    cold=cold,
                )
            )

    def invoke_api(self, event: dict[str, Any]) -> dict[str, Any]:
        """Call the REST API handler in-process with an API Gateway proxy event.

        Its invocation and AWS calls are counted for the lab it answered about (the
        ``lab_id`` of its answer, else of the path), or for ``-`` when there is none.
        """
        fn = self._load_handler("api")
        name = function_name("api")
        context = LocalLambdaContext(
            function_name=name,
            invoked_function_arn=f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{name}",
            timeout_s=29.0,
        )
        scratch = UsageLedger()
        cold = "api" not in self._cold
        self._cold.add("api")
        started = time.perf_counter()
        response: dict[str, Any] = {}
        error_type: str | None = None
        _scope.ledger, _scope.lab_id = scratch, "-"
        try:
            response = fn(event, context)
            return response
        except BaseException as exc:
            error_type = type(exc).__name__
            raise
        finally:
            _scope.ledger, _scope.lab_id = None, None
            lab_id = _lab_id_of_api_call(event, response)
            for (service, operation), count in scratch.for_lab("-").api_calls.items():
                for _ in range(count):
                    self.ledger.add_api_call(lab_id, service, operation)
            self.ledger.add_invocation(
                Invocation(
                    function="api",
                    lab_id=lab_id,
                    duration_ms=(time.perf_counter() - started) * 1000,
                    error_type=error_type,
                    cold=cold,
                )
            )


def _lab_id_of_api_call(event: dict[str, Any], response: dict[str, Any]) -> str:
    try:
        body = json.loads(response.get("body") or "{}")
        if isinstance(body, dict) and isinstance(body.get("lab_id"), str):
            return body["lab_id"]
    except (TypeError, ValueError, AttributeError):
        pass
    params = event.get("pathParameters") or {}
    if isinstance(params, dict) and isinstance(params.get("lab_id"), str):
        return params["lab_id"]
    match = re.match(r"^/labs/([a-z0-9-]+)", str(event.get("path") or ""))
    return match.group(1) if match else "-"


# -- processes of local lab VMs ------------------------------------------------------------


def sandbox_pids(root: Path) -> list[int]:
    """Processes whose ``ADS_SANDBOX`` is ``root`` or lies under it."""
    from ads.providers.local import processes_under

    return processes_under(root)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def kill_sandbox_processes(root: Path, grace_s: float = 3.0) -> list[int]:
    """End every process of the sandboxes under ``root`` (TERM, then KILL after ``grace_s``)."""
    pids = [p for p in sandbox_pids(root) if _alive(p)]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    for pid in pids:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    return pids


@contextlib.contextmanager
def running_plane(state_dir: Path, **kwargs: Any) -> Iterator[LocalControlPlane]:
    """A started plane for the length of a ``with`` block."""
    plane = LocalControlPlane(state_dir, **kwargs)
    plane.start()
    try:
        yield plane
    finally:
        plane.stop()
