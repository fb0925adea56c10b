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
import io
import json
import os
import sys
import threading
import traceback
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ads.asl_placeholders import (
    PARTITION_PLACEHOLDER,
    STATE_MACHINE_PLACEHOLDERS,
    fill_placeholders,
)
from ads.config import DEFAULT_INIT_POLL_S
from ads.local import (
    execution_reader,
    moto_item_size,
    moto_patches,
    moto_serial,
    resolver_state,
)
from ads.local.api_auth import LOCAL_ADMIN_PRINCIPAL
from ads.local.lambda_dispatch import (
    ACCOUNT_ID,
    EVENT_FUNCTIONS,
    FRONT_DOOR_FUNCTIONS,
    LAMBDA_MEMORY_MB,
    SCHEDULED_FUNCTIONS,
    WORKFLOW_FUNCTIONS,
    HandlerDispatcher,
    LambdaServiceFault,
    LocalLambdaContext,
    function_name,
)
from ads.local.record_store import RecordStore
from ads.local.usage import Invocation, LabUsage, TransitionCount, UsageLedger
from ads.providers import local_command_events

# Names other modules and the tests import from here.
__all__ = [
    "ACCOUNT_ID",
    "FRONT_DOOR_FUNCTIONS",
    "LAMBDA_MEMORY_MB",
    "STATEMACHINE_DIR",
    "WORKFLOW_FUNCTIONS",
    "Invocation",
    "LabUsage",
    "LambdaServiceFault",
    "LocalControlPlane",
    "LocalLambdaContext",
    "TransitionCount",
    "UsageLedger",
    "function_name",
    "render_definition",
    "running_plane",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
STATEMACHINE_DIR = REPO_ROOT / "statemachine"
TABLE_NAME = "ads-labs"
EVENT_BUS_NAME = "ads-lab-events"
ROLE_NAME = "ads-local-workflow"
DEPLOY_STATE_MACHINE = "DeployLab"
DESTROY_STATE_MACHINE = "DestroyLab"
POWER_STATE_MACHINE = "PowerLab"
ACTION_STATE_MACHINE = "ActionLab"
REDEPLOY_STATE_MACHINE = "RedeployLab"
COHORT_STATE_MACHINE = "DeployCohort"
# The EventBridge Scheduler group of the labs' schedules (ads.lab_schedules) and the role
# its targets run as; fired by ads.local.schedule_timer.
SCHEDULE_GROUP = "ads-labs"
SCHEDULER_ROLE_NAME = "ads-local-scheduler"
# ARNs in the ASL name their partition through ${Partition}; moto answers for "aws".
LOCAL_PARTITION = "aws"


def render_definition(path: Path, substitutions: dict[str, str]) -> str:
    """The ASL text with its ``${Placeholder}`` names replaced, as CDK does at synth
    (``${Partition}`` is the emulation's partition unless ``substitutions`` names one)."""
    values = {PARTITION_PLACEHOLDER: LOCAL_PARTITION, **substitutions}
    return fill_placeholders(path.read_text(), values, source=path.name)


_active_plane: LocalControlPlane | None = None
_active_lock = threading.Lock()


def _active() -> LocalControlPlane | None:
    return _active_plane


# -- the control plane --------------------------------------------------------------------


class LocalControlPlane:
    """AWS control plane of ADS emulated in this process. Use as a context manager."""

    def __init__(
        self,
        state_dir: Path,
        *,
        time_scale: float = 1.0,
        region: str = "us-east-1",
        records_file: Path | None = None,
    ):
        if not 0 < time_scale <= 10:
            raise ValueError(f"time_scale: found {time_scale}; allowed: more than 0, at most 10")
        self.state_dir = Path(state_dir)
        self.time_scale = time_scale
        self.region = region
        self.config: Any = None
        self.ledger = UsageLedger()
        # With a records file, lab records outlive this process (see ads.local.record_store).
        self.record_store: RecordStore | None = (
            RecordStore(records_file, TABLE_NAME, region) if records_file else None
        )
        self.lambdas = HandlerDispatcher(
            region,
            self.ledger,
            durability=(
                self.record_store.deferred_durability
                if self.record_store is not None
                else contextlib.nullcontext
            ),
        )
        self.restored_records = 0
        self.deploy_state_machine_arn = ""
        self.destroy_state_machine_arn = ""
        self.power_state_machine_arn = ""
        self.action_state_machine_arn = ""
        self.redeploy_state_machine_arn = ""
        self.cohort_state_machine_arn = ""
        self._mock: Any = None
        # The health watch's timer (ads.local.watch_timer), once start_health_watch ran.
        self._watch_timer: Any = None
        # The labs' schedules' timer (ads.local.schedule_timer), once start_lab_schedules ran.
        self._schedule_timer: Any = None
        # The sweep's timer (ads.local.watch_timer.WatchTimer), once start_sweep ran.
        self._sweep_timer: Any = None
        self._saved_env: dict[str, str | None] = {}
        self._restore: list[Callable[[], None]] = []
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
        self._restore.extend(moto_patches.install(self, _active))
        # SSM's command status-change events, from the local provider's install commands.
        self._restore.append(local_command_events.install(self._deliver_command_event))
        # Requests and executions run in parallel; moto's backends need one call at a time.
        self._restore.append(moto_serial.install())
        # ...and Powertools' REST resolver keeps the request it resolves per thread.
        self._restore.append(resolver_state.install())
        # moto's item size check, in one walk of the item rather than its square.
        self._restore.append(moto_item_size.install())
        arn_prefix = f"arn:aws:states:{self.region}:{ACCOUNT_ID}:stateMachine:"
        self.deploy_state_machine_arn = arn_prefix + DEPLOY_STATE_MACHINE
        self.destroy_state_machine_arn = arn_prefix + DESTROY_STATE_MACHINE
        self.power_state_machine_arn = arn_prefix + POWER_STATE_MACHINE
        self.action_state_machine_arn = arn_prefix + ACTION_STATE_MACHINE
        self.redeploy_state_machine_arn = arn_prefix + REDEPLOY_STATE_MACHINE
        self.cohort_state_machine_arn = arn_prefix + COHORT_STATE_MACHINE
        self._set_env(
            {
                "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region,
                "ADS_PROVIDER": "local",
                "ADS_LOCAL_ROOT": str(self.labs_root),
                "ADS_TABLE_NAME": TABLE_NAME,
                "ADS_DEPLOY_STATE_MACHINE_ARN": self.deploy_state_machine_arn,
                "ADS_DESTROY_STATE_MACHINE_ARN": self.destroy_state_machine_arn,
                "ADS_POWER_STATE_MACHINE_ARN": self.power_state_machine_arn,
                "ADS_ACTION_STATE_MACHINE_ARN": self.action_state_machine_arn,
                "ADS_REDEPLOY_STATE_MACHINE_ARN": self.redeploy_state_machine_arn,
                "ADS_COHORT_STATE_MACHINE_ARN": self.cohort_state_machine_arn,
                "ADS_EVENT_BUS_NAME": EVENT_BUS_NAME,
                # The admin credential's principal for admin operations (ads sweep).
                "ADS_ADMIN_PRINCIPALS": ",".join(
                    dict.fromkeys([*_split_env("ADS_ADMIN_PRINCIPALS"), LOCAL_ADMIN_PRINCIPAL])
                ),
                "ADS_SCHEDULE_GROUP": SCHEDULE_GROUP,
                "ADS_SCHEDULER_ROLE_ARN": f"arn:aws:iam::{ACCOUNT_ID}:role/{SCHEDULER_ROLE_NAME}",
                "ADS_LAB_TIMER_FUNCTION_ARN": (
                    f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:"
                    + function_name("lab_timer")
                ),
                # Await Init's safety-net poll, scaled like the retry waits (unless set).
                "ADS_INIT_POLL_S": os.environ.get("ADS_INIT_POLL_S")
                or str(max(1, round(DEFAULT_INIT_POLL_S * self.time_scale))),
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_DISABLED": "true",
                "POWERTOOLS_SERVICE_NAME": "ads",
            }
        )
        from ads.config import get_config, reset_config

        reset_config()
        self.config = get_config()
        # Handlers read the configuration at import: make the next invocation a cold start.
        for name in (
            *WORKFLOW_FUNCTIONS,
            *FRONT_DOOR_FUNCTIONS,
            *SCHEDULED_FUNCTIONS,
            *EVENT_FUNCTIONS,
        ):
            sys.modules.pop(f"functions.{name}.handler", None)
        self._create_resources()
        if self.record_store is not None:
            self.record_store.open()
            self._restore.append(self.record_store.close)
            self.restored_records = self.record_store.restore()

    def _set_env(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def _create_resources(self) -> None:
        import boto3

        from ads.labs_table import create_table

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
            archive.writestr("README.txt", "dispatched in-process by ads.local.lambda_dispatch\n")
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
        lambda_client.create_function(
            FunctionName=function_name("lab_timer"),
            Runtime="python3.13",
            Architectures=["arm64"],
            Role=role_arn,
            Handler="handler.handler",
            Code={"ZipFile": package.getvalue()},
            MemorySize=LAMBDA_MEMORY_MB,
            Timeout=60,
        )
        boto3.client("scheduler", region_name=self.region).create_schedule_group(
            Name=SCHEDULE_GROUP
        )
        sfn = boto3.client("stepfunctions", region_name=self.region)
        for name, file in (
            (DEPLOY_STATE_MACHINE, "deploy_lab.asl.json"),
            (DESTROY_STATE_MACHINE, "destroy_lab.asl.json"),
            (POWER_STATE_MACHINE, "power_lab.asl.json"),
            (ACTION_STATE_MACHINE, "action_lab.asl.json"),
            (REDEPLOY_STATE_MACHINE, "redeploy_lab.asl.json"),
            (COHORT_STATE_MACHINE, "deploy_cohort.asl.json"),
        ):
            sfn.create_state_machine(
                name=name,
                definition=render_definition(
                    STATEMACHINE_DIR / file,
                    # DeployCohort starts DeployLab (created first) for each member.
                    {
                        **substitutions,
                        STATE_MACHINE_PLACEHOLDERS["DeployLab"]: self.deploy_state_machine_arn,
                    },
                ),
                roleArn=role_arn,
                type="STANDARD",
            )

    def stop(self) -> None:
        """Stop running executions, destroy every local lab VM, leave the AWS emulation."""
        global _active_plane
        try:
            if self._watch_timer is not None:
                self._watch_timer.stop()
                self._watch_timer = None
            if self._schedule_timer is not None:
                self._schedule_timer.stop()
                self._schedule_timer = None
            if self._sweep_timer is not None:
                self._sweep_timer.stop()
                self._sweep_timer = None
            if self._started:
                with contextlib.suppress(Exception):
                    self._stop_running_executions()
                self.destroy_all_vms()
                if self.record_store is not None:
                    self._settle_records()
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

    def start_health_watch(self) -> bool:
        """Run the health watch's handler every ``ADS_WATCH_INTERVAL_S`` (unless
        ``ADS_WATCH_ENABLED`` is false); the daemon starts it once recovery has run."""
        from ads.local.watch_timer import RUN_TIMEOUT_S, WATCH_HANDLER, WatchTimer

        if not self._started or self._watch_timer is not None or not self.config.watch_enabled:
            return False
        self._watch_timer = WatchTimer(
            lambda event: self.lambdas.invoke_scheduled(WATCH_HANDLER, event, RUN_TIMEOUT_S),
            self.config.watch_interval_s,
            on_error=_report_watch_error,
        ).start()
        return True

    def start_sweep(self) -> bool:
        """Run the sweep (applied) every ``ADS_SWEEP_INTERVAL_S`` unless ADS_SWEEP_ENABLED
        is false; the daemon starts it once recovery has reconciled the records."""
        from ads.local.watch_timer import RUN_TIMEOUT_S, WatchTimer

        if not self._started or self._sweep_timer is not None or not self.config.sweep_enabled:
            return False
        self._sweep_timer = WatchTimer(
            lambda event: self.lambdas.invoke_scheduled(
                "sweep", {**event, "apply": True}, RUN_TIMEOUT_S
            ),
            self.config.sweep_interval_s,
            on_error=_report_sweep_error,
            name="ads-sweep",
        ).start()
        return True

    def start_lab_schedules(self, clock: Callable[[], Any] | None = None) -> bool:
        """Fire the labs' EventBridge Scheduler schedules when due (leases, working
        hours); the daemon starts it once recovery has run. ``clock``: tests move time."""
        from ads.lab_record import utc_now
        from ads.local.schedule_timer import RUN_TIMEOUT_S, TIMER_HANDLER, ScheduleTimer

        if not self._started or self._schedule_timer is not None:
            return False
        from ads.lab_schedules import schedules_for
        from ads.leases import restore_schedules

        schedules = schedules_for(self.config)
        if schedules is not None:
            # Records restored from the records file come back without their schedules.
            restore_schedules(self.repository(), schedules)
        self._schedule_timer = ScheduleTimer(
            self.client("scheduler"),
            SCHEDULE_GROUP,
            lambda event: self.lambdas.invoke_scheduled(TIMER_HANDLER, event, RUN_TIMEOUT_S),
            clock=clock or utc_now,
            on_error=_report_schedule_error,
        ).start()
        return True

    def _settle_records(self) -> None:
        from ads.local.recovery import settle_stopped

        try:
            settle_stopped(self)
        except Exception:  # the next start reconciles whatever is left unsettled
            sys.stderr.write(f"ads-local: settling the records failed: {traceback.format_exc()}")

    def _stop_running_executions(self) -> None:
        sfn = self.stepfunctions()
        for arn in (
            # The cohorts first: a stopped cohort starts no more member deployments.
            self.cohort_state_machine_arn,
            self.deploy_state_machine_arn,
            self.destroy_state_machine_arn,
            self.power_state_machine_arn,
            self.action_state_machine_arn,
            self.redeploy_state_machine_arn,
        ):
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
        from ads.providers.local_processes import plane_sandboxes, stop_plane_processes

        destroyed: list[str] = []
        # Sandboxes the lab user could not have under the labs root live elsewhere,
        # linked from it: remember them before the provider removes the links.
        sandboxes = plane_sandboxes(self.labs_root)
        provider = self.local_provider()
        if provider is not None and self.labs_root.is_dir():
            try:
                destroyed = list(provider.destroy_all())
            except Exception:  # the sweep below still ends the processes
                sys.stderr.write(
                    f"ads-local: destroying the local lab VMs failed: {traceback.format_exc()}"
                )
        stop_plane_processes(sandboxes)
        return destroyed

    def local_provider(self) -> Any:
        """The local compute provider of this plane's configuration (None for another one)."""
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
        return execution_reader.wait_for_execution(self.stepfunctions(), execution_arn, timeout)

    def execution_history(self, execution_arn: str) -> list[dict[str, Any]]:
        return execution_reader.execution_history(self.stepfunctions(), execution_arn)

    def state_transitions(self, execution_arn: str) -> TransitionCount:
        return execution_reader.state_transitions(self.execution_history(execution_arn))

    def states_entered(self, execution_arn: str) -> list[str]:
        """Names of the states an execution entered, in order."""
        return execution_reader.states_entered(self.execution_history(execution_arn))

    # -- Lambda dispatch (ads.local.lambda_dispatch does the work) ---------------

    def override_handler(
        self, handler: str, wrap: Callable[[Callable[..., Any]], Callable[..., Any]]
    ) -> None:
        """Replace a workflow handler by ``wrap(real_handler)`` (tests inject faults so)."""
        self.lambdas.override(handler, wrap)

    def _deliver_command_event(self, lab_id: str, event: dict[str, Any]) -> None:
        """What the EventBridge rule does on AWS: the event to functions/step_callback."""
        if not self._started:
            return
        try:
            self.lambdas.invoke_event("step_callback", event, lab_id=lab_id)
        except Exception:  # Await Init's own poll finds the command's end all the same
            sys.stderr.write(
                f"ads-local: a command event was not delivered: {traceback.format_exc()}"
            )

    def handler_named(self, lambda_function_name: str) -> str | None:
        """The workflow handler behind a local Lambda function name, if it is one of ours."""
        return self.lambdas.handler_named(lambda_function_name)

    def invoke_api(self, event: dict[str, Any]) -> dict[str, Any]:
        """Call the REST API handler in-process with an API Gateway proxy event."""
        return self.lambdas.invoke_api(event)


def _report_schedule_error(text: str) -> None:
    sys.stderr.write(f"ads-local: a lab schedule failed: {text}")


def _split_env(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def _report_sweep_error(text: str) -> None:
    sys.stderr.write(f"ads-local: the sweep failed: {text}")


def _report_watch_error(text: str) -> None:
    sys.stderr.write(f"ads-local: the health watch failed: {text}")


@contextlib.contextmanager
def running_plane(state_dir: Path, **kwargs: Any) -> Iterator[LocalControlPlane]:
    """A started plane for the length of a ``with`` block."""
    plane = LocalControlPlane(state_dir, **kwargs)
    plane.start()
    try:
        yield plane
    finally:
        plane.stop()
