"""The sweep with its real dependencies: the labs table, the provider's inventory, Step
Functions, the lifecycle bus and the leases' schedules of ``config`` (the ``sweep``
Lambda, the api's admin route when it runs the sweep itself, the local plane)."""

from __future__ import annotations

from typing import Any

from ads.config import AdsConfig
from ads.sweep import Sweep
from ads.sweep_model import SweepInventory
from ads.sweep_records import StuckRecords, destroy_vm_step


def inventory_for(config: AdsConfig, provider: Any, session: Any = None) -> SweepInventory:
    """The sweep inventory of the configured provider."""
    if config.provider == "local":
        from ads.providers.local_sweep import LocalSweepInventory

        return LocalSweepInventory(provider)
    import boto3

    from ads.providers.ec2_access import Ec2LabAccess
    from ads.providers.ec2_sweep import Ec2SweepInventory
    from ads.providers.throttling import client_config

    factory = session or boto3
    ec2 = factory.client("ec2", region_name=config.region, config=client_config())
    elbv2 = factory.client("elbv2", region_name=config.region, config=client_config())
    return Ec2SweepInventory(
        ec2=ec2,
        access=Ec2LabAccess(config, ec2=ec2, elbv2=elbv2),
        elbv2=elbv2,
        load_balancer=config.lab_access == "load-balancer" or bool(config.lb_listener_arn),
    )


def sweep_for(config: AdsConfig) -> Sweep:
    from ads.deployment_context import DeploymentContext
    from ads.executions import execution_status
    from ads.leases import expiry_schedule_hook
    from ads.steps import dependencies_for
    from ads.sweep_images import UnusedImages

    deps = dependencies_for(config)
    context = DeploymentContext.from_config(config)
    stuck = StuckRecords(
        deps.repository,
        deps.publisher,
        lambda arn: execution_status(context, arn),
        destroy_vm_step(deps.repository, deps.provider, config.launch_grace_s),
    )
    return Sweep(
        deps.repository,
        inventory_for(config, deps.provider),
        deps.publisher,
        stuck,
        grace_s=config.sweep_grace_s,
        lease_hook=expiry_schedule_hook(config),
        images=UnusedImages(
            deps.repository.images,
            deps.provider,
            config.provider,
            unused_days=config.image_unused_days,
        ),
    )
