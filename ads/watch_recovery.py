"""What the health watch starts: a lab's recovery, and its destroy past the deadline.

Both go through the machinery a person would use, on the owner's behalf, so the
one-operation-per-lab lock, the workflows' Retry/Catch and their records apply as ever:

* recovery ``start``: the labspec's ``start`` action through ActionLab (DEGRADED ->
  ACTING -> READY), when the labspec defines one and the agent still answers (a silent
  agent cannot run it: a restart is asked instead);
* recovery ``restart``: PowerLab's restart (DEGRADED -> RESTARTING -> HEALTH_CHECKING
  -> READY), a reboot of the VM and its health check;
* the ``destroy`` policy: DestroyLab, as ``ads destroy`` runs it.

A recovery that could not be started is recorded in the lab's ``health`` (it is not
tried again for this degradation) and the deadline still applies.
"""

from __future__ import annotations

from ads.deployment_context import DeploymentContext
from ads.errors import AdsError
from ads.health_watch import HealthState, HealthWatch, Probe, WatchPolicy
from ads.lab_actions import defined_actions
from ads.lab_record import LabRecord
from ads.lifecycle_events import LifecyclePublisher
from ads.observability import logger

START_ACTION = "start"


def recovery_for(record: LabRecord, probe: Probe, policy: WatchPolicy) -> str | None:
    """The recovery to start: ``start``, ``restart`` or None (policy ``none``)."""
    if policy.recovery == "none":
        return None
    if policy.recovery == "start" and probe.answered and START_ACTION in defined_actions(record):
        return "start"
    return "restart"


def start_recovery(
    ctx: DeploymentContext, record: LabRecord, probe: Probe, policy: WatchPolicy
) -> HealthState:
    """Start the lab's recovery; its ``health`` with what was started (or why not)."""
    from ads.lab_actions import request_action
    from ads.power import request_power

    health = HealthState.model_validate(record.health or {})
    kind = recovery_for(record, probe, policy)
    if kind is None:
        return health
    try:
        if kind == "start":
            answer = request_action(ctx, record.lab_id, START_ACTION, caller=record.owner)
        else:
            answer = request_power(ctx, record.lab_id, "restart", caller=record.owner)
    except AdsError as exc:
        logger.warning("recovery not started", lab_id=record.lab_id, recovery=kind, error=str(exc))
        return health.model_copy(update={"recovery": kind, "recovery_error": str(exc)[:300]})
    logger.info("recovery started", lab_id=record.lab_id, recovery=kind)
    return health.model_copy(
        update={"recovery": kind, "recovery_execution_arn": answer["execution_arn"]}
    )


def destroy_unhealthy(ctx: DeploymentContext, record: LabRecord, cause: str) -> None:
    """DestroyLab for a lab the watch gave up on (policy ``destroy``)."""
    from ads.deployments import request_destroy

    logger.info("destroying an unhealthy lab", lab_id=record.lab_id, cause=cause[:200])
    request_destroy(ctx, record.lab_id, caller=record.owner)


def health_watch_for(ctx: DeploymentContext, publisher: LifecyclePublisher) -> HealthWatch:
    """The watch of ``ctx``'s control plane, its recoveries and destroys started through it."""
    policy = WatchPolicy.from_config(ctx.config)
    return HealthWatch(
        ctx.repository,
        publisher,
        policy,
        start_recovery=lambda record, probe: start_recovery(ctx, record, probe, policy),
        destroy=lambda record, cause: destroy_unhealthy(ctx, record, cause),
    )
