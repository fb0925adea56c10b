"""The ``ec2`` provider: a lab VM is an EC2 instance, initialised through SSM Run Command.

Idempotency is keyed on the lab id twice over: it is the RunInstances ClientToken, and
before creating anything the provider looks for a live instance tagged with the lab id
(a retried ``create_vm`` whose first attempt did create an instance finds it there).
"""

from __future__ import annotations

import base64
import hashlib
import json
import shlex
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ads.config import LAB_ID_TAG, MANAGED_TAG, AdsConfig
from ads.providers.base import (
    ComputeNeeds,
    DestroyFailed,
    InitFailed,
    InitRequest,
    InitStatus,
    VmCreateFailed,
    VmInfo,
    VmNotRunning,
    VmState,
)
from ads.providers.failure_output import failure_tail, find_failing_command
from ads.providers.throttling import Backoff, error_code, error_message

if TYPE_CHECKING:
    from ads.lab.plan import DeploymentPlan

CAPACITY_ERRORS = frozenset({"InsufficientInstanceCapacity", "InsufficientCapacity"})
NOT_FOUND_ERRORS = frozenset({"InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"})
SSM_NOT_YET_ERRORS = frozenset({"InvalidInstanceId", "InvalidInstanceInformationFilterValue"})
DEFAULT_ROOT_DEVICE = "/dev/sda1"
# Where the bootstrap script unpacks the agent bundle and installs the lab on the VM.
VM_PREFIX = "/opt/ads"
INIT_TIMEOUT_S = 3600
PRESIGN_EXPIRY_S = 3600
IN_PROGRESS_STATUSES = frozenset({"Pending", "InProgress", "Delayed"})
FAILED_STATUSES = frozenset({"Failed", "TimedOut", "Cancelled", "Cancelling"})


class Ec2Provider:
    """EC2 instances for labs; SSM for init; the agent on the private ip."""

    name = "ec2"

    def __init__(
        self,
        config: AdsConfig,
        *,
        ec2: Any,
        ssm: Any,
        s3: Any,
        backoff: Backoff | None = None,
        vm_prefix: str = VM_PREFIX,
    ) -> None:
        self._config = config
        self._prefix = vm_prefix
        self._ec2 = ec2
        self._ssm = ssm
        self._s3 = s3
        self._backoff = backoff or Backoff()

    @classmethod
    def from_config(cls, config: AdsConfig, session: Any = None) -> Ec2Provider:
        import boto3

        factory = session or boto3
        return cls(
            config,
            ec2=factory.client("ec2", region_name=config.region),
            ssm=factory.client("ssm", region_name=config.region),
            s3=factory.client("s3", region_name=config.region),
        )

    def _call(self, client: Any, operation: str, **kwargs: Any) -> Any:
        return self._backoff.call(operation, getattr(client, operation), **kwargs)

    # -- create -------------------------------------------------------------------

    def create_vm(self, lab_id: str, plan: DeploymentPlan | Mapping[str, Any]) -> VmInfo:
        try:
            existing = self._find_live_instances(lab_id)
        except ClientError as exc:
            raise VmCreateFailed(
                f"cannot look for an existing instance of {lab_id}: "
                f"{error_code(exc)}: {error_message(exc)}"
            ) from exc
        if existing:
            return self._vm_info(existing[0])
        needs = ComputeNeeds.from_plan(plan)
        if not needs.instance_type:
            raise VmCreateFailed("plan.instance_type is empty; a plan always names one")
        image_id = self._resolve_image(needs.image_parameter)
        root_device = self._root_device(image_id)
        tried: list[str] = []
        for instance_type in [needs.instance_type, *needs.fallback_instance_types]:
            if instance_type in tried:
                continue
            tried.append(instance_type)
            try:
                response = self._call(
                    self._ec2,
                    "run_instances",
                    **self._run_arguments(lab_id, needs, instance_type, image_id, root_device),
                )
            except ClientError as exc:
                if error_code(exc) in CAPACITY_ERRORS:
                    continue
                raise VmCreateFailed(
                    f"RunInstances refused {instance_type} from {image_id}: "
                    f"{error_code(exc)}: {error_message(exc)}",
                    instance_type=instance_type,
                ) from exc
            return self._vm_info(response["Instances"][0])
        raise VmCreateFailed(
            f"no capacity for any allowed instance type (tried {', '.join(tried)})",
            tried=tried,
        )

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
        return str(images[0].get("RootDeviceName") or DEFAULT_ROOT_DEVICE)

    def _run_arguments(
        self,
        lab_id: str,
        needs: ComputeNeeds,
        instance_type: str,
        image_id: str,
        root_device: str,
    ) -> dict[str, Any]:
        tags = [
            {"Key": LAB_ID_TAG, "Value": lab_id},
            {"Key": MANAGED_TAG, "Value": "true"},
            {"Key": "Name", "Value": f"ads-{lab_id}"},
        ]
        arguments: dict[str, Any] = {
            "ImageId": image_id,
            "InstanceType": instance_type,
            "MinCount": 1,
            "MaxCount": 1,
            # A fallback type is a different request: the token must differ or EC2 answers
            # IdempotentParameterMismatch; 64 characters at most.
            "ClientToken": lab_id
            if instance_type == needs.instance_type
            else _token(lab_id, instance_type),
            "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
            "BlockDeviceMappings": [
                {
                    "DeviceName": root_device,
                    "Ebs": {
                        "VolumeSize": needs.root_volume_gib,
                        "VolumeType": "gp3",
                        "Encrypted": True,
                        "DeleteOnTermination": True,
                    },
                }
            ],
            "TagSpecifications": [
                {"ResourceType": "instance", "Tags": tags},
                {"ResourceType": "volume", "Tags": tags},
            ],
        }
        if self._config.instance_profile_arn:
            arguments["IamInstanceProfile"] = {"Arn": self._config.instance_profile_arn}
        if self._config.subnet_ids:
            arguments["SubnetId"] = _pick(self._config.subnet_ids, lab_id)
        if self._config.security_group_ids:
            arguments["SecurityGroupIds"] = list(self._config.security_group_ids)
        return arguments

    def _find_live_instances(self, lab_id: str) -> list[dict[str, Any]]:
        response = self._call(
            self._ec2,
            "describe_instances",
            Filters=[
                {"Name": f"tag:{LAB_ID_TAG}", "Values": [lab_id]},
                {
                    "Name": "instance-state-name",
                    "Values": ["pending", "running", "stopping", "stopped"],
                },
            ],
        )
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
        try:
            response = self._call(
                self._ssm,
                "describe_instance_information",
                Filters=[{"Key": "InstanceIds", "Values": [vm_id]}],
            )
        except ClientError as exc:
            # An instance SSM does not know yet is "not online yet"; anything else (a
            # missing permission) would only burn the retries, so it fails the step now.
            if error_code(exc) in SSM_NOT_YET_ERRORS:
                return False
            raise VmNotRunning(
                f"cannot ask SSM whether {vm_id} is online: {error_code(exc)}: {error_message(exc)}"
            ) from exc
        return any(
            info.get("PingStatus") == "Online"
            for info in response.get("InstanceInformationList", [])
        )

    # -- init ---------------------------------------------------------------------

    def start_init(self, lab_id: str, vm: VmInfo, request: InitRequest) -> str:
        script = self.bootstrap_script(lab_id, request)
        parameters: dict[str, Any] = {
            "commands": [script],
            "executionTimeout": [str(INIT_TIMEOUT_S)],
        }
        try:
            response = self._call(
                self._ssm,
                "send_command",
                InstanceIds=[vm.vm_id],
                DocumentName="AWS-RunShellScript",
                Comment=f"ADS init {lab_id}"[:100],
                Parameters=parameters,
                TimeoutSeconds=600,
            )
        except ClientError as exc:
            raise InitFailed(
                f"SendCommand to {vm.vm_id} refused: {error_code(exc)}: {error_message(exc)}"
            ) from exc
        return str(response["Command"]["CommandId"])

    def bootstrap_script(self, lab_id: str, request: InitRequest) -> str:
        """The shell script SSM runs as root on the instance: fetch, unpack, install."""
        bundle_url = self._presign(self._config.agent_bundle_bucket, self._config.agent_bundle_key)
        plan_b64 = base64.b64encode(json.dumps(request.plan).encode()).decode()
        install = [
            "sh",
            f"{self._prefix}/bundle/ads_agent/install.sh",
            "--prefix",
            self._prefix,
            "--lab-id",
            lab_id,
            "--plan",
            f"{self._prefix}/plan.json",
            "--host",
            "0.0.0.0",
            "--port",
            str(self._config.agent_port),
            "--service",
            "auto",
            "--python",
            "python3",
        ]
        if request.source_git:
            install += ["--source-git", request.source_git]
            if request.source_ref:
                install += ["--source-ref", request.source_ref]
        elif request.source_archive:
            install += ["--source-archive", self._archive_url(request.source_archive)]
        fetch = (
            "import base64, io, os, sys, urllib.request, zipfile\n"
            "prefix, url, plan = sys.argv[1:4]\n"
            "data = urllib.request.urlopen(url, timeout=60).read()\n"
            "archive = zipfile.ZipFile(io.BytesIO(data))\n"
            "names = archive.namelist()\n"
            # CDK zips a directory's contents; accept a zip with the folder at its top too.
            "top = any(n.startswith('ads_agent/') for n in names)\n"
            "archive.extractall(os.path.join(prefix, 'bundle') if top else os.path.join(prefix, 'bundle', 'ads_agent'))\n"
            "open(os.path.join(prefix, 'plan.json'), 'wb').write(base64.b64decode(plan))\n"
        )
        return "\n".join(
            [
                "#!/bin/sh",
                "set -eu",
                f"mkdir -p {shlex.quote(self._prefix + '/bundle')}",
                f"python3 -c {shlex.quote(fetch)} {shlex.quote(self._prefix)} {shlex.quote(bundle_url)} {plan_b64}",
                shlex.join(install),
            ]
        )

    def _presign(self, bucket: str, key: str) -> str:
        if not bucket or not key:
            raise InitFailed(
                "the agent bundle location is not configured "
                "(ADS_AGENT_BUNDLE_BUCKET and ADS_AGENT_BUNDLE_KEY are required by the ec2 provider)"
            )
        return str(
            self._s3.generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=PRESIGN_EXPIRY_S
            )
        )

    def _archive_url(self, archive: str) -> str:
        if archive.startswith("s3://"):
            bucket, _, key = archive[len("s3://") :].partition("/")
            return self._presign(bucket, key)
        return archive

    def get_init_status(self, vm: VmInfo, command_id: str) -> InitStatus:
        try:
            response = self._call(
                self._ssm, "get_command_invocation", CommandId=command_id, InstanceId=vm.vm_id
            )
        except ClientError as exc:
            # Right after SendCommand the invocation may not be visible yet.
            if error_code(exc) == "InvocationDoesNotExist":
                return InitStatus(state="in_progress", detail="invocation not visible yet")
            raise
        status = str(response.get("Status", ""))
        if status in IN_PROGRESS_STATUSES:
            return InitStatus(state="in_progress", detail=status)
        if status == "Success":
            return InitStatus(state="success", exit_code=0, detail=status)
        stderr = str(response.get("StandardErrorContent") or "")
        stdout = str(response.get("StandardOutputContent") or "")
        code = response.get("ResponseCode")
        return InitStatus(
            state="failed",
            exit_code=int(code) if isinstance(code, int) and code >= 0 else None,
            failing_command=find_failing_command(stderr) or find_failing_command(stdout),
            output_tail=failure_tail(stderr or stdout),
            detail=str(response.get("StatusDetails") or status),
        )

    def health_url(self, vm: VmInfo) -> str:
        return f"http://{vm.private_ip}:{vm.agent_port}/health"

    # -- destroy and power ----------------------------------------------------------

    def destroy_vm(self, lab_id: str, vm_id: str | None) -> VmState:
        ids = {i["InstanceId"] for i in self._find_live_instances(lab_id)}
        if vm_id:
            ids.add(vm_id)
        if not ids:
            return VmState(vm_id=vm_id, state="absent")
        for instance_id in sorted(ids):
            try:
                self._call(self._ec2, "terminate_instances", InstanceIds=[instance_id])
            except ClientError as exc:
                if error_code(exc) in NOT_FOUND_ERRORS:
                    continue
                raise DestroyFailed(
                    f"TerminateInstances {instance_id} refused: "
                    f"{error_code(exc)}: {error_message(exc)}",
                    vm_id=instance_id,
                ) from exc
        states = {instance_id: self._describe_instance(instance_id) for instance_id in ids}
        alive = {
            instance_id: instance["State"]["Name"]
            for instance_id, instance in states.items()
            if instance is not None
            and instance["State"]["Name"] not in ("shutting-down", "terminated")
        }
        if alive:
            raise DestroyFailed(
                "instances still alive after TerminateInstances: "
                + ", ".join(f"{i} ({s})" for i, s in sorted(alive.items()))
            )
        primary = vm_id or sorted(ids)[0]
        instance = states.get(primary)
        return VmState(vm_id=primary, state=instance["State"]["Name"] if instance else "absent")

    def start_vm(self, vm_id: str) -> VmState:
        self._call(self._ec2, "start_instances", InstanceIds=[vm_id])
        return self.describe_vm(vm_id)

    def stop_vm(self, vm_id: str) -> VmState:
        self._call(self._ec2, "stop_instances", InstanceIds=[vm_id])
        return self.describe_vm(vm_id)

    def restart_vm(self, vm_id: str) -> VmState:
        self._call(self._ec2, "reboot_instances", InstanceIds=[vm_id])
        return self.describe_vm(vm_id)


def _pick(options: tuple[str, ...], lab_id: str) -> str:
    # Stable per lab (a retry lands in the same subnet) yet spread across subnets.
    index = int(hashlib.sha256(lab_id.encode()).hexdigest(), 16) % len(options)
    return options[index]


def _token(lab_id: str, instance_type: str) -> str:
    digest = hashlib.sha256(f"{lab_id}/{instance_type}".encode()).hexdigest()[:12]
    return f"{lab_id[:51]}-{digest}"
