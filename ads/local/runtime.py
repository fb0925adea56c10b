"""The local control plane: the AWS control plane of ADS, on this machine, with no account.

:class:`LocalControlPlane` enters moto (in-process AWS emulation), creates what the CDK
stack creates (the labs table, the event bus, one Lambda function per workflow handler,
the DeployLab and DestroyLab state machines from the very same ``statemachine/*.asl.json``
with the same substitutions: ``ads.local.plane_resources``) and lets moto's Step Functions
interpreter run them; its timers (health watch, sweep, labs' schedules) are
``ads.local.plane_timers``. Lambda invocations are dispatched in-process to ``functions.<name>.handler.handler``; the VMs are
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
import os
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ads.config import DEFAULT_HEALTHY_WAIT_S, DEFAULT_INIT_POLL_S
from ads.local import (
    execution_reader,
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
from ads.local.plane_resources import (
    ACTION_STATE_MACHINE,
    COHORT_STATE_MACHINE,
    DEPLOY_STATE_MACHINE,
    DESTROY_STATE_MACHINE,
    EVENT_BUS_NAME,
    POWER_STATE_MACHINE,
    REDEPLOY_STATE_MACHINE,
    SCHEDULE_GROUP,
    SCHEDULER_ROLE_NAME,
    STATEMACHINE_DIR,
    TABLE_NAME,
    create_resources,
    lab_timer_function_arn,
    render_definition,
)
from ads.local.plane_timers import PlaneTimers
from ads.local.record_store import RecordStore
from ads.local.usage import Invocation, LabUsage, TransitionCount, UsageLedger
from ads.providers import local_command_events

# Names other modules and the tests import from here.
__all__ = [
    "ACCOUNT_ID",
    "FRONT_DOOR_FUNCTIONS",
    "LAMBDA_MEMORY_MB",
    "STATEMACHINE_DIR",
    "TABLE_NAME",
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
        # The health watch, sweep, lab schedule and TTL timers (ads.local.plane_timers).
        self.timers = PlaneTimers(self)
        self._saved_env: dict[str, str | None] = {}
        self._restore: list[Callable[[], None]] = []
        self._started = False

    # -- lifecycle ----------------------------------------------------------

    @property
    def labs_root(self) -> Path:
        return self.state_dir / "labs"

    @property
    def started(self) -> bool:
        return self._started

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
                "ADS_LAB_TIMER_FUNCTION_ARN": lab_timer_function_arn(self.region),
                # Await Init's safety-net poll, scaled like the retry waits (unless set).
                "ADS_INIT_POLL_S": os.environ.get("ADS_INIT_POLL_S")
                or str(max(1, round(DEFAULT_INIT_POLL_S * self.time_scale))),
                # install.sh's wait for the health probe, scaled alike (unless set).
                "ADS_HEALTHY_WAIT_S": os.environ.get("ADS_HEALTHY_WAIT_S")
                or str(max(1, round(DEFAULT_HEALTHY_WAIT_S * self.time_scale))),
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
        create_resources(self.region, self.deploy_state_machine_arn)
        if self.record_store is not None:
            self.record_store.open()
            self._restore.append(self.record_store.close)
            self.restored_records = self.record_store.restore()

    def _set_env(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def stop(self) -> None:
        """Stop running executions, destroy every local lab VM, leave the AWS emulation."""
        global _active_plane
        try:
            self.timers.stop()
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
            from ads.providers.local import LocalProvider

            if self.config is None or self.config.provider != "local":
                return None
            provider = get_provider(self.config)
        except Exception:
            return None
        # A test may stand another provider in for the local one: it has no sandboxes.
        return provider if isinstance(provider, LocalProvider) else None

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


def _split_env(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


@contextlib.contextmanager
def running_plane(state_dir: Path, **kwargs: Any) -> Iterator[LocalControlPlane]:
    """A started plane for the length of a ``with`` block."""
    plane = LocalControlPlane(state_dir, **kwargs)
    plane.start()
    try:
        yield plane
    finally:
        plane.stop()
