"""The ``ec2`` provider: a lab VM is an EC2 instance, initialised through SSM Run Command.

Idempotency is keyed on the lab id twice over: it is the RunInstances ClientToken, and
before creating anything the provider looks for a live instance tagged with the lab id
(a retried ``create_vm`` whose first attempt did create an instance finds it there).

Where a launch is tried and with which arguments lives in :mod:`ads.providers.ec2_launch`;
what the VM runs (user data, init script, presigned URLs) in
:mod:`ads.providers.ec2_bootstrap`, and how the init is sent and followed in
:mod:`ads.providers.ec2_init`. "Absent" answers shortly after a launch are read by the
steps through :mod:`ads.providers.consistency` (EC2 is eventually consistent).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ads.config import LAB_ID_TAG, AdsConfig
from ads.lab.os_catalogue import find_release
from ads.providers import (
    ec2_actions,
    ec2_bootstrap,
    ec2_cluster,
    ec2_images,
    ec2_init,
    ec2_launch,
    ec2_logs,
    ec2_power,
    ec2_update,
)
from ads.providers.base import (
    ComputeNeeds,
    DestroyFailed,
    InitRequest,
    InitStatus,
    VmCreateFailed,
    VmInfo,
    VmState,
)
from ads.providers.consistency import LAUNCHED_AT, launch_time_detail
from ads.providers.ec2_access import Ec2LabAccess, LaunchAccess
from ads.providers.images import ImageState
from ads.providers.throttling import call, client_config, error_code, error_message
from ads.providers.vm_logs import LogsRequest
from ads.providers.vm_update import UpdateStatus, VmUpdateRequest

if TYPE_CHECKING:
    from ads.lab.plan import DeploymentPlan

NOT_FOUND_ERRORS = frozenset({"InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"})
# Where the bootstrap script unpacks the agent bundle and installs the lab on the VM.
VM_PREFIX = "/opt/ads"
FINISHING_STATES = ("shutting-down", "terminated")


class Ec2Provider:
    """EC2 instances for labs; SSM for init; the agent on the private ip."""

    name = "ec2"
    # EC2 may not list an instance for a while after RunInstances (ads.providers.consistency).
    lists_launches_late = True

    def __init__(
        self,
        config: AdsConfig,
        *,
        ec2: Any,
        ssm: Any,
        s3: Any,
        elbv2: Any = None,
        vm_prefix: str = VM_PREFIX,
    ) -> None:
        self._config = config
        self._prefix = vm_prefix
        self._ec2 = ec2
        self._ssm = ssm
        self._s3 = s3
        self.access = Ec2LabAccess(config, ec2=ec2, elbv2=elbv2)
        self.cluster = ec2_cluster.Ec2Cluster(config, call=self._call, ec2=ec2, ssm=ssm)

    @classmethod
    def from_config(cls, config: AdsConfig, session: Any = None) -> Ec2Provider:
        import boto3

        factory = session or boto3
        retrying = client_config()
        return cls(
            config,
            ec2=factory.client("ec2", region_name=config.region, config=retrying),
            ssm=factory.client("ssm", region_name=config.region, config=retrying),
            s3=ec2_bootstrap.presigning_s3_client(factory, config.region),
            elbv2=factory.client("elbv2", region_name=config.region, config=retrying),
        )

    def _call(self, client: Any, operation: str, **kwargs: Any) -> Any:
        # botocore already retried throttles (RETRIES); what is left is the ASL's.
        return call(client, operation, **kwargs)

    # -- create -------------------------------------------------------------------

    def create_vm(
        self,
        lab_id: str,
        plan: DeploymentPlan | Mapping[str, Any],
        *,
        vm_name: str | None = None,
    ) -> VmInfo:
        try:
            existing = self._find_live_instances(lab_id, vm_name)
        except ClientError as exc:
            raise VmCreateFailed(
                f"cannot look for an existing instance of {lab_id} {vm_name or ''}: "
                f"{error_code(exc)}: {error_message(exc)}"
            ) from exc
        if existing:
            return self._vm_info(existing[0])
        needs = ComputeNeeds.from_plan(plan)
        if not needs.instance_type:
            raise VmCreateFailed("plan.instance_type is empty; a plan always names one")
        source = _plain(plan).get("from_image") or {}
        # A lab image (ads.lab_images) is an AMI of ADS's own, named by the plan.
        image_id = str(source.get("provider_image_id") or "") or self._resolve_image(
            needs.image_parameter
        )
        request = ec2_launch.LaunchRequest(
            lab_id=lab_id,
            needs=needs,
            image_id=image_id,
            root_device=self._root_device(image_id),
            user_data=self.user_data(needs),
            cost_tags=tuple((_plain(plan).get("cost_tags") or {}).items()),
            vm_name=vm_name,
        )
        access = self.access.prepare_launch(lab_id, _plain(plan))
        # A lab of several VMs: every VM also wears the lab's cluster group.
        group = self.cluster.ensure_group(lab_id, _plain(plan)) if vm_name else None
        return self._launch(request, access, group)

    def _launch(
        self,
        request: ec2_launch.LaunchRequest,
        access: LaunchAccess | None = None,
        cluster_group: str | None = None,
    ) -> VmInfo:
        tries = ec2_launch.placements(request.lab_id, request.needs, self._config.subnet_ids)
        refused: list[str] = []
        for placement in tries:
            arguments = ec2_launch.run_arguments(self._config, request, placement, tries[0])
            arguments = self.access.launch_arguments(request.lab_id, arguments, access)
            if cluster_group:
                arguments = ec2_cluster.with_group(arguments, cluster_group)
            try:
                response = self._call(self._ec2, "run_instances", **arguments)
            except ClientError as exc:
                if error_code(exc) in ec2_launch.PLACEMENT_ERRORS:
                    refused.append(f"{placement.describe()} ({error_code(exc)})")
                    continue
                raise VmCreateFailed(
                    f"RunInstances refused {placement.describe()} from {request.image_id}: "
                    f"{error_code(exc)}: {error_message(exc)}",
                    instance_type=placement.instance_type,
                ) from exc
            return self._vm_info(response["Instances"][0])
        types = list(dict.fromkeys(p.instance_type for p in tries))
        raise VmCreateFailed(
            f"no capacity for any allowed instance type (tried {', '.join(types)}): "
            + "; ".join(refused),
            tried=types,
        )

    def user_data(self, needs: ComputeNeeds) -> str | None:
        """The user data that brings up the SSM agent on the plan's release, if it needs any."""
        release = find_release(needs.os_family, needs.os_version)
        if release is None:
            raise VmCreateFailed(
                f"plan.os names {needs.os_family or 'no family'} {needs.os_version}; "
                "the OS catalogue does not know it, so the SSM agent cannot be provided for"
            )
        region = self._config.region
        package = ec2_bootstrap.ssm_agent_package_url(
            ec2_bootstrap.regional_s3_endpoint(region), region, needs.arch
        )
        return ec2_bootstrap.ssm_agent_user_data(release.ssm_agent, package)

    def _resolve_image(self, parameter: str) -> str:
        if not parameter:
            raise VmCreateFailed("plan.image.ssm_parameter is empty; cannot choose an AMI")
        try:
            response = self._call(self._ssm, "get_parameter", Name=parameter)
        except ClientError as exc:
            raise VmCreateFailed(
                f"image parameter {parameter} cannot be read: "
                f"{error_code(exc)}: {error_message(exc)}",
                parameter=parameter,
            ) from exc
        return str(response["Parameter"]["Value"])

    def _root_device(self, image_id: str) -> str:
        try:
            images = self._call(self._ec2, "describe_images", ImageIds=[image_id]).get("Images", [])
        except ClientError as exc:
            raise VmCreateFailed(
                f"image {image_id} cannot be described: {error_code(exc)}: {error_message(exc)}",
                image_id=image_id,
            ) from exc
        if not images:
            raise VmCreateFailed(f"image {image_id} does not exist in {self._config.region}")
        return str(images[0].get("RootDeviceName") or ec2_launch.DEFAULT_ROOT_DEVICE)

    def _find_live_instances(self, lab_id: str, vm_name: str | None = None) -> list[dict[str, Any]]:
        """The lab's live instances; with ``vm_name``, that VM's only (both tags)."""
        filters = ec2_cluster.live_instance_filters(LAB_ID_TAG, lab_id, vm_name)
        response = self._call(self._ec2, "describe_instances", Filters=filters)
        instances = [i for r in response.get("Reservations", []) for i in r.get("Instances", [])]
        return sorted(instances, key=lambda i: str(i.get("LaunchTime", "")))

    def _vm_info(self, instance: dict[str, Any]) -> VmInfo:
        return VmInfo(
            vm_id=instance["InstanceId"],
            provider=self.name,
            private_ip=instance.get("PrivateIpAddress"),
            agent_port=self._config.agent_port,
            details={
                "instance_type": instance.get("InstanceType"),
                "image_id": instance.get("ImageId"),
                "subnet_id": instance.get("SubnetId"),
                "availability_zone": (instance.get("Placement") or {}).get("AvailabilityZone"),
                LAUNCHED_AT: launch_time_detail(instance.get("LaunchTime")),
                **ec2_cluster.vm_name_detail(instance),
            },
        )

    # -- describe -----------------------------------------------------------------

    def describe_vm(self, vm_id: str) -> VmState:
        instance = self._describe_instance(vm_id)
        if instance is None:
            return VmState(vm_id=vm_id, state="absent")
        state = instance["State"]["Name"]
        online = self.ssm_online(vm_id) if state == "running" else False
        return VmState(
            vm_id=vm_id,
            state=state,
            private_ip=instance.get("PrivateIpAddress"),
            ssm_online=online,
        )

    def _describe_instance(self, vm_id: str) -> dict[str, Any] | None:
        try:
            response = self._call(self._ec2, "describe_instances", InstanceIds=[vm_id])
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND_ERRORS:
                return None
            raise
        instances = [i for r in response.get("Reservations", []) for i in r.get("Instances", [])]
        return instances[0] if instances else None

    def ssm_online(self, vm_id: str) -> bool:
        """Whether the instance's SSM agent has registered and pings Online."""
        return ec2_init.ssm_online(self._call, self._ssm, vm_id)

    # -- init (ads.providers.ec2_init) ----------------------------------------------

    def start_init(self, lab_id: str, vm: VmInfo, request: InitRequest) -> str:
        return ec2_init.send_init(
            self._call,
            self._ssm,
            lab_id=lab_id,
            vm_id=vm.vm_id,
            script=self.bootstrap_script(lab_id, request),
            timeout_s=self._config.init_timeout_s,
        )

    def bootstrap_script(self, lab_id: str, request: InitRequest) -> str:
        """The shell script SSM runs as root on the instance: fetch, unpack, install."""
        return ec2_init.bootstrap_script(
            self._config, self._s3, prefix=self._prefix, lab_id=lab_id, request=request
        )

    def get_init_status(self, vm: VmInfo, command_id: str) -> InitStatus:
        return ec2_init.init_status(self._call, self._ssm, vm.vm_id, command_id)

    def health_url(self, vm: VmInfo) -> str:
        return f"http://{vm.private_ip}:{vm.agent_port}/health"

    # -- destroy and power ----------------------------------------------------------

    def destroy_vm(self, lab_id: str, vm_id: str | None, *, vm_name: str | None = None) -> VmState:
        """Terminate every instance of the lab and report the least finished one.

        Only ``terminated`` is the end: ``shutting-down`` still holds the instance (and its
        volume), and an "absent" recorded instance may be EC2 not listing it yet. The step
        decides what those mean (see :mod:`ads.providers.consistency`).
        """
        ids = {i["InstanceId"] for i in self._find_live_instances(lab_id, vm_name)}
        if vm_id:
            ids.add(vm_id)
        if not ids:
            return VmState(vm_id=vm_id, state="absent")
        for instance_id in sorted(ids):
            try:
                self._call(self._ec2, "terminate_instances", InstanceIds=[instance_id])
            except ClientError as exc:
                # Not known (yet): describing it below says "absent", which the step weighs.
                if error_code(exc) in NOT_FOUND_ERRORS:
                    continue
                raise DestroyFailed(
                    f"TerminateInstances {instance_id} refused: "
                    f"{error_code(exc)}: {error_message(exc)}",
                    vm_id=instance_id,
                ) from exc
        states = {instance_id: self._describe_instance(instance_id) for instance_id in ids}
        names = {
            instance_id: instance["State"]["Name"] if instance else "absent"
            for instance_id, instance in states.items()
        }
        alive = {i: s for i, s in names.items() if s != "absent" and s not in FINISHING_STATES}
        if alive:
            raise DestroyFailed(
                "instances still alive after TerminateInstances: "
                + ", ".join(f"{i} ({s})" for i, s in sorted(alive.items()))
            )
        stopping = sorted(i for i, s in names.items() if s == "shutting-down")
        if stopping:
            return VmState(vm_id=stopping[0], state="shutting-down")
        primary = vm_id or sorted(ids)[0]
        # EC2's state name is validated against VmStateName, not trusted.
        return VmState.model_validate({"vm_id": primary, "state": names[primary]})

    # -- lab access (ads.providers.access hooks; see ads.providers.ec2_access) ---------------

    def access_details(self, lab_id: str, vm: VmInfo, plan: Mapping[str, Any]) -> dict[str, Any]:
        return self.access.access_details(lab_id, vm, plan)

    def open_lab_access(self, lab_id: str, vm: VmInfo, plan: Mapping[str, Any]) -> str | None:
        return self.access.open(lab_id, vm, plan)

    def close_lab_access(self, lab_id: str, plan: Mapping[str, Any]) -> None:
        self.access.close(lab_id, plan)
        self.access.release(lab_id, plan)

    # -- a lab of several VMs (ads.providers.ec2_cluster; base.ClusterHooks) ---------------

    def share_cluster_facts(self, lab_id: str, vms: list[VmInfo], facts: dict[str, Any]) -> str:
        return self.cluster.share_facts(lab_id, vms, facts)

    def cluster_facts_status(self, vms: list[VmInfo], command_id: str) -> InitStatus:
        return self.cluster.facts_status(vms, command_id)

    def facts_path(self, _vm: VmInfo) -> str:
        return ec2_init.CLUSTER_FACTS_PATH

    def release_cluster(self, lab_id: str) -> None:
        self.cluster.release(lab_id)

    # -- power (ads.providers.ec2_power) --------------------------------------------------

    def start_vm(self, vm_id: str) -> VmState:
        return ec2_power.change_power(
            self._call, self._ec2, "start_instances", vm_id, self.describe_vm
        )

    def stop_vm(self, vm_id: str) -> VmState:
        return ec2_power.change_power(
            self._call, self._ec2, "stop_instances", vm_id, self.describe_vm
        )

    def restart_vm(self, vm_id: str) -> VmState:
        return ec2_power.change_power(
            self._call, self._ec2, "reboot_instances", vm_id, self.describe_vm
        )

    def start_lab(self, lab_id: str, vm: VmInfo, plan: Mapping[str, Any]) -> str | None:
        return ec2_power.start_lab(
            self._call,
            self._ssm,
            lab_id=lab_id,
            vm_id=vm.vm_id,
            plan=plan,
            prefix=self._prefix,
            timeout_s=self._config.command_timeout_s or self._config.init_timeout_s,
        )

    # -- lab actions (ads.providers.ec2_actions) -------------------------------------------

    def run_action(self, lab_id: str, vm: VmInfo, name: str) -> str:
        return ec2_actions.send_action(
            self._call,
            self._ssm,
            lab_id=lab_id,
            vm_id=vm.vm_id,
            name=name,
            prefix=self._prefix,
            timeout_s=self._config.command_timeout_s or self._config.init_timeout_s,
        )

    def action_status(self, vm: VmInfo, command_id: str) -> InitStatus:
        return ec2_actions.action_status(self._call, self._ssm, vm.vm_id, command_id)

    # -- logs (ads.providers.ec2_logs) -----------------------------------------------------

    # Lab images (ads.providers.ec2_images): CreateImage of the READY instance.

    def create_image(
        self, lab_id: str, vm: VmInfo, image_id: str, tags: dict[str, str]
    ) -> ImageState:
        return ec2_images.create_image(self._ec2, lab_id, vm, image_id, tags)

    def image_state(self, provider_image_id: str) -> ImageState:
        return ec2_images.image_state(self._ec2, provider_image_id)

    def delete_image(self, provider_image_id: str, snapshot_ids: list[str]) -> None:
        ec2_images.delete_image(self._ec2, provider_image_id, snapshot_ids)

    def read_logs(self, lab_id: str, vm: VmInfo, request: LogsRequest) -> dict[str, Any]:
        return ec2_logs.read_logs(
            self._call,
            self._ssm,
            lab_id=lab_id,
            vm_id=vm.vm_id,
            prefix=self._prefix,
            request=request,
        )

    # -- update in place (ads.providers.ec2_update) ----------------------------------------

    def start_update(self, lab_id: str, vm: VmInfo, request: VmUpdateRequest) -> str:
        return ec2_update.send_update(
            self._call,
            self._ssm,
            lab_id=lab_id,
            vm_id=vm.vm_id,
            request=request,
            prefix=self._prefix,
            timeout_s=self._config.init_timeout_s,
        )

    def update_status(self, vm: VmInfo, command_id: str) -> UpdateStatus:
        return ec2_update.update_status(self._call, self._ssm, vm.vm_id, command_id)


def _plain(plan: DeploymentPlan | Mapping[str, Any]) -> Mapping[str, Any]:
    return plan if isinstance(plan, Mapping) else plan.model_dump(mode="json")
