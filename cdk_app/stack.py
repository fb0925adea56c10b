"""The ADS control plane stack: it only composes the capability constructs."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from cdk_app.access_construct import LabAccess
from cdk_app.action_construct import Actions
from cdk_app.api_construct import Api
from cdk_app.ci_trigger_construct import CiTrigger, LifecycleBus
from cdk_app.cluster_grants import grant_cluster_network
from cdk_app.cohort_construct import Cohorts
from cdk_app.compute_construct import AGENT_PORT, AgentBundle, LabInstanceRole, LambdaFactory
from cdk_app.image_grants import ImageGrants
from cdk_app.lease_construct import Leases
from cdk_app.monitoring_construct import Monitoring
from cdk_app.network_construct import Network
from cdk_app.power_construct import Power
from cdk_app.redeploy_construct import Redeploy
from cdk_app.settings import Settings
from cdk_app.storage_construct import Storage
from cdk_app.sweep_construct import Sweep
from cdk_app.watch_construct import Watch
from cdk_app.workflow_construct import Workflow


class AdsStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, settings: Settings, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        storage = Storage(self, "Storage", settings=settings)
        network = Network(self, "Network", settings=settings)
        access = LabAccess(self, "LabAccess", settings=settings, vpc=network.vpc)
        lab_instance = LabInstanceRole(self, "LabInstance")
        agent_bundle = AgentBundle(self, "AgentBundle")
        lifecycle = LifecycleBus(self, "Lifecycle", settings=settings)

        common_environment = {
            "ADS_TABLE_NAME": storage.table.table_name,
            "ADS_PROVIDER": "ec2",
            "ADS_DEFAULT_OS_POLICY": settings.default_os_policy,
            "ADS_SUBNET_IDS": ",".join(network.subnet_ids),
            "ADS_SECURITY_GROUP_IDS": network.lab_security_group.security_group_id,
            "ADS_INSTANCE_PROFILE_ARN": lab_instance.instance_profile.instance_profile_arn,
            "ADS_AGENT_PORT": str(AGENT_PORT),
            "ADS_EVENT_BUS_NAME": lifecycle.bus.event_bus_name,
            "ADS_NETWORK_EGRESS": network.egress,
        }
        common_environment.update(access.environment)
        # Empty lists mean "the built-in default"; leave the variable out rather than empty.
        if settings.allowed_instance_types:
            common_environment["ADS_ALLOWED_INSTANCE_TYPES"] = ",".join(
                settings.allowed_instance_types
            )
        if settings.admin_principals:
            common_environment["ADS_ADMIN_PRINCIPALS"] = ",".join(settings.admin_principals)
        # Quotas are checked where labs are requested (api, CI trigger); unset: no limit.
        common_environment.update(settings.quota_environment())
        common_environment.update(settings.cohort_environment())
        factory = LambdaFactory(
            self, "Functions", settings=settings, common_environment=common_environment
        )

        workflow = Workflow(
            self,
            "Workflow",
            settings=settings,
            factory=factory,
            storage=storage,
            network=network,
            lab_instance=lab_instance,
            agent_bundle=agent_bundle,
            lifecycle_bus=lifecycle.bus,
        )
        access.grant_steps(
            create_vm=workflow.create_vm,
            init_vm=workflow.init_vm,
            record_status=workflow.record_status,
            destroy_vm=workflow.destroy_vm,
        )
        grant_cluster_network(
            self, vpc=network.vpc, create_vm=workflow.create_vm, destroy_vm=workflow.destroy_vm
        )
        power = Power(
            self,
            "Power",
            settings=settings,
            factory=factory,
            storage=storage,
            network=network,
            health_check=workflow.health_check,
            lifecycle_bus=lifecycle.bus,
        )
        actions = Actions(
            self,
            "Actions",
            settings=settings,
            factory=factory,
            storage=storage,
            network=network,
            lifecycle_bus=lifecycle.bus,
        )
        redeploy = Redeploy(
            self,
            "Redeploy",
            settings=settings,
            factory=factory,
            storage=storage,
            network=network,
            destroy_vm=workflow.destroy_vm,
            record_status=workflow.record_status,
            lifecycle_bus=lifecycle.bus,
        )
        cohorts = Cohorts(
            self,
            "Cohorts",
            settings=settings,
            deploy_machine=workflow.deploy_machine,
            deploy_machine_name=workflow.deploy_machine_name,
            record_status=workflow.record_status,
            factory=factory,
            storage=storage,
            lifecycle_bus=lifecycle.bus,
        )
        # Only the front doors start executions; the steps never need these ARNs, which
        # keeps the machine -> step Lambda references free of cycles.
        machine_environment = {
            "ADS_DEPLOY_STATE_MACHINE_ARN": workflow.deploy_machine.state_machine_arn,
            "ADS_DESTROY_STATE_MACHINE_ARN": workflow.destroy_machine.state_machine_arn,
        }
        api = Api(
            self,
            "Api",
            settings=settings,
            factory=factory,
            storage=storage,
            deploy_machine=workflow.deploy_machine,
            destroy_machine=workflow.destroy_machine,
            machine_names=(workflow.deploy_machine_name, workflow.destroy_machine_name),
            environment={
                **machine_environment,
                "ADS_POWER_STATE_MACHINE_ARN": power.machine.state_machine_arn,
                "ADS_ACTION_STATE_MACHINE_ARN": actions.machine.state_machine_arn,
                "ADS_REDEPLOY_STATE_MACHINE_ARN": redeploy.machine.state_machine_arn,
                "ADS_COHORT_STATE_MACHINE_ARN": cohorts.machine.state_machine_arn,
            },
        )
        cohorts.grant_requests(api.function)
        # Cohort Requested and Cohort Destroyed are put by the api (ads.cohort_events).
        lifecycle.bus.grant_put_events_to(api.function)
        power.grant_requests(api.function)
        actions.grant_requests(api.function)
        actions.grant_read_logs(api.function)  # GET /labs/{lab_id}/logs, through SSM
        ImageGrants(workflow).remove_images(api.function)  # DELETE /images/{image_id}
        redeploy.grant_requests(api.function, sid="FollowRedeployExecutions")
        # After the API: the CI role is granted calls to its routes.
        ci_trigger = CiTrigger(
            self,
            "CiTrigger",
            settings=settings,
            factory=factory,
            storage=storage,
            deploy_machine=workflow.deploy_machine,
            rest_api=api.rest_api,
            environment={
                **machine_environment,
                "ADS_REDEPLOY_STATE_MACHINE_ARN": redeploy.machine.state_machine_arn,
                "ADS_COHORT_STATE_MACHINE_ARN": cohorts.machine.state_machine_arn,
            },
        )
        # Lab Update Requested: the CI role updates the labs it owns.
        redeploy.grant_requests(ci_trigger.function, sid="FollowRedeployExecutions")
        # Cohort Deployment Requested: a cohort's round, and its Cohort Requested event.
        cohorts.grant_requests(ci_trigger.function, stop=False)
        lifecycle.bus.grant_put_events_to(ci_trigger.function)
        # Leases and working hours: the schedules the front doors write, lab_timer they fire.
        leases = Leases(
            self,
            "Leases",
            settings=settings,
            factory=factory,
            storage=storage,
            lifecycle_bus=lifecycle.bus,
            machines={
                "ADS_DESTROY_STATE_MACHINE_ARN": (
                    workflow.destroy_machine,
                    workflow.destroy_machine_name,
                ),
                "ADS_POWER_STATE_MACHINE_ARN": (power.machine, power.machine_name),
            },
            deploy_machine_name=workflow.deploy_machine_name,
        )
        leases.grant_requests(api.function)
        leases.grant_requests(ci_trigger.function)
        leases.grant_delete(workflow.record_status)
        # Before Monitoring: the watcher's errors alarm with the other front doors'.
        Watch(
            self,
            "Watch",
            settings=settings,
            factory=factory,
            storage=storage,
            network=network,
            lifecycle_bus=lifecycle.bus,
            machines={
                "ADS_POWER_STATE_MACHINE_ARN": (power.machine, power.machine_name),
                "ADS_ACTION_STATE_MACHINE_ARN": (actions.machine, actions.machine_name),
                "ADS_DESTROY_STATE_MACHINE_ARN": (
                    workflow.destroy_machine,
                    workflow.destroy_machine_name,
                ),
            },
        )
        # Before Monitoring too: the sweep's errors alarm with the watcher's.
        sweep = Sweep(
            self,
            "Sweep",
            settings=settings,
            factory=factory,
            storage=storage,
            lifecycle_bus=lifecycle.bus,
            machine_names=(
                workflow.deploy_machine_name,
                workflow.destroy_machine_name,
                power.machine_name,
                actions.machine_name,
                redeploy.machine_name,
                # A cohort's lab waits REQUESTED while its DeployCohort round runs.
                cohorts.machine_name,
            ),
            lab_access=settings.lab_access,
        )
        sweep.grant_invoke(api.function)
        # A live lab's missing expiry schedule is re-created by the sweep.
        leases.grant_requests(sweep.function)
        monitoring = Monitoring(
            self,
            "Monitoring",
            settings=settings,
            state_machines={
                "DeployLab": workflow.deploy_machine,
                "DestroyLab": workflow.destroy_machine,
                "PowerLab": power.machine,
                "ActionLab": actions.machine,
                "RedeployLab": redeploy.machine,
                "DeployCohort": cohorts.machine,
            },
            functions=factory.functions,
            dead_letter_queue=ci_trigger.dead_letter_queue,
        )

        CfnOutput(
            self,
            "ApiUrl",
            value=api.rest_api.url,
            description="ADS endpoint (ads --endpoint / ADS_ENDPOINT)",
        )
        CfnOutput(self, "DeployStateMachineArn", value=workflow.deploy_machine.state_machine_arn)
        CfnOutput(self, "DestroyStateMachineArn", value=workflow.destroy_machine.state_machine_arn)
        CfnOutput(self, "PowerStateMachineArn", value=power.machine.state_machine_arn)
        CfnOutput(self, "ActionStateMachineArn", value=actions.machine.state_machine_arn)
        CfnOutput(self, "RedeployStateMachineArn", value=redeploy.machine.state_machine_arn)
        CfnOutput(self, "CohortStateMachineArn", value=cohorts.machine.state_machine_arn)
        CfnOutput(self, "TableName", value=storage.table.table_name)
        CfnOutput(self, "LifecycleEventBusName", value=lifecycle.bus.event_bus_name)
        CfnOutput(self, "LifecycleEventBusArn", value=lifecycle.bus.event_bus_arn)
        CfnOutput(self, "CiDeadLetterQueueUrl", value=ci_trigger.dead_letter_queue.queue_url)
        CfnOutput(
            self,
            "CiEventBusName",
            value=ci_trigger.ci_bus.bus.event_bus_name,
            description="Pipelines put ads.ci 'Lab Deployment Requested' events on this bus",
        )
        CfnOutput(self, "CiEventBusArn", value=ci_trigger.ci_bus.bus.event_bus_arn)
        CfnOutput(
            self,
            "AlarmTopicArn",
            value=monitoring.topic.topic_arn,
            description="Every ADS alarm notifies this topic (subscribe your on-call to it)",
        )
        CfnOutput(
            self,
            "CiRoleArn",
            value=ci_trigger.ci_role.role.role_arn,
            description="Owner of labs requested by CI events; pipelines assume it to use ads",
        )
