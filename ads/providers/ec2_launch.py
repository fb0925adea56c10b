"""How a lab VM is launched: where to try, and the RunInstances arguments of one try.

Capacity belongs to an instance type *in an Availability Zone*: an
``InsufficientInstanceCapacity`` or an ``Unsupported`` type ("Your requested instance
type is not supported in your requested Availability Zone") in one zone says nothing
about the next. A launch therefore tries the planned type in every lab subnet before a
fallback type (a bigger type costs more; another zone costs nothing), starting in the
lab's own subnet so a retried launch lands where the first one did.

Every argument of a try is built by :func:`run_arguments`: what else a launch needs (a
public address, another security group, a load-balancer target) is added there.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from ads.config import MANAGED_TAG, AdsConfig
from ads.cost_tags import tag_list
from ads.providers.base import ComputeNeeds
from ads.providers.ec2_cluster import VM_NAME_TAG, vm_client_token

# Answers that say "not here, not this type": the next placement may work.
PLACEMENT_ERRORS = frozenset(
    {"InsufficientInstanceCapacity", "InsufficientCapacity", "Unsupported"}
)
DEFAULT_ROOT_DEVICE = "/dev/sda1"
CLIENT_TOKEN_LIMIT = 64


@dataclass(frozen=True)
class Placement:
    """One try: an instance type in a subnet (None: EC2's default subnet)."""

    instance_type: str
    subnet_id: str | None

    def describe(self) -> str:
        return f"{self.instance_type} in {self.subnet_id}" if self.subnet_id else self.instance_type


@dataclass(frozen=True)
class LaunchRequest:
    """What stays the same across the tries of one launch."""

    lab_id: str
    needs: ComputeNeeds
    image_id: str
    root_device: str = DEFAULT_ROOT_DEVICE
    user_data: str | None = None
    # The lab's cost-allocation tags (ads.cost_tags), kept in its plan.
    cost_tags: tuple[tuple[str, str], ...] = ()
    # A VM of a lab of several VMs (ads.providers.ec2_cluster): tagged and tokened apart.
    vm_name: str | None = None


def placements(lab_id: str, needs: ComputeNeeds, subnet_ids: tuple[str, ...]) -> list[Placement]:
    """Every (type, subnet) to try, in order: each type across all subnets, then the next."""
    types = list(dict.fromkeys([needs.instance_type, *needs.fallback_instance_types]))
    subnets: list[str | None] = list(_rotated(subnet_ids, lab_id)) or [None]
    return [Placement(t, s) for t in types for s in subnets]


def _rotated(options: tuple[str, ...], lab_id: str) -> tuple[str, ...]:
    # Stable per lab (a retry starts in the same subnet) yet spread across subnets.
    if not options:
        return ()
    start = int(hashlib.sha256(lab_id.encode()).hexdigest(), 16) % len(options)
    return options[start:] + options[:start]


def client_token(lab_id: str, placement: Placement, first: Placement) -> str:
    """The lab id for the first try; another try is another request, so another token
    (EC2 answers IdempotentParameterMismatch to a token reused with other arguments)."""
    if placement == first:
        return lab_id
    digest = hashlib.sha256(
        f"{lab_id}/{placement.instance_type}/{placement.subnet_id}".encode()
    ).hexdigest()[:12]
    return f"{lab_id[: CLIENT_TOKEN_LIMIT - 13]}-{digest}"


def run_arguments(
    config: AdsConfig, request: LaunchRequest, placement: Placement, first: Placement
) -> dict[str, Any]:
    """The RunInstances arguments of one try."""
    lab_id = request.lab_id
    vm_name = request.vm_name
    tags = [
        *tag_list(dict(request.cost_tags), lab_id),
        {"Key": MANAGED_TAG, "Value": "true"},
        {"Key": "Name", "Value": f"ads-{lab_id}-{vm_name}" if vm_name else f"ads-{lab_id}"},
        *([{"Key": VM_NAME_TAG, "Value": vm_name}] if vm_name else []),
    ]
    token = vm_client_token(lab_id, vm_name) if vm_name else lab_id
    arguments: dict[str, Any] = {
        "ImageId": request.image_id,
        "InstanceType": placement.instance_type,
        "MinCount": 1,
        "MaxCount": 1,
        "ClientToken": client_token(token, placement, first),
        "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
        "BlockDeviceMappings": [
            {
                "DeviceName": request.root_device,
                "Ebs": {
                    "VolumeSize": request.needs.root_volume_gib,
                    "VolumeType": "gp3",
                    "Encrypted": True,
                    "DeleteOnTermination": True,
                },
            }
        ],
        "TagSpecifications": [
            {"ResourceType": "instance", "Tags": tags},
            {"ResourceType": "volume", "Tags": tags},
            {"ResourceType": "network-interface", "Tags": tags},
        ],
    }
    if request.user_data:
        # Plain text: botocore base64-encodes RunInstances UserData itself.
        arguments["UserData"] = request.user_data
    if config.instance_profile_arn:
        arguments["IamInstanceProfile"] = {"Arn": config.instance_profile_arn}
    if placement.subnet_id:
        arguments["SubnetId"] = placement.subnet_id
    if config.security_group_ids:
        arguments["SecurityGroupIds"] = list(config.security_group_ids)
    return arguments
