"""Lab access for the ``ec2`` provider: how students reach a lab's application.

``ADS_LAB_ACCESS`` picks one of three modes, recorded in every plan and lab record:

``private``
    No inbound access at all. ``ads connect`` opens an SSM Session Manager shell or
    port forward; nothing here creates anything.
``public``
    The VM launches in a public subnet with a public IP, and a security group of its own
    (tagged with the lab id) admits only the lab's ports, only from the configured CIDRs.
    The URL is ``http://<public ip>:<first port>/``.
``load-balancer``
    One shared ALB (CDK ``access_construct``) with an HTTPS listener. Each lab gets a
    target group and a host rule ``<lab_id>.<domain>``; its VM a security group of its
    own admitting the ALB only, on the lab's ports and the agent port. The ALB checks the
    agent's ``/health`` (the very check ADS's Check Health makes, which includes the
    labspec's ``health_probe``), so the ALB and ADS agree on what healthy means.

Every call is idempotent on the lab id (Step Functions retries tasks): resources are
found by tag, name or host before anything is created.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from ads.config import LAB_ID_TAG, MANAGED_TAG, AdsConfig
from ads.cost_tags import tag_list
from ads.providers.base import (
    DestroyFailed,
    DestroyInProgress,
    StepError,
    VmCreateFailed,
    VmInfo,
    VmNotReady,
)
from ads.providers.ec2_groups import authorize_once
from ads.providers.throttling import call, error_code, error_message

HEALTH_PATH = "/health"
# ALB rule priorities are 1..50000 per listener.
MAX_RULE_PRIORITY = 50000
PRIORITY_PROBES = 50
GROUP_NOT_FOUND = frozenset({"InvalidGroup.NotFound", "InvalidGroupId.NotFound"})


class LabAccessFailed(StepError):
    """The lab's access (load balancer rule, target group) could not be opened."""


def target_group_name(lab_id: str) -> str:
    """At most 32 characters of letters, digits and hyphens (the lab id is up to 64)."""
    return "ads-" + hashlib.sha256(lab_id.encode()).hexdigest()[:24]


def security_group_name(lab_id: str) -> str:
    return f"ads-lab-{lab_id}"


def first_priority(lab_id: str) -> int:
    # Derived from the lab id so concurrent labs rarely meet; PriorityInUse probes onward.
    return 1 + int(hashlib.sha256(lab_id.encode()).hexdigest(), 16) % MAX_RULE_PRIORITY


def next_priority(priority: int) -> int:
    return priority % MAX_RULE_PRIORITY + 1


def lab_ports(plan: Mapping[str, Any]) -> list[int]:
    return [int(port) for port in plan.get("lab_ports") or [80]]


def refusal(exc: ClientError) -> str:
    """The refused call as "<Operation> refused: <code>: <message>": several calls open
    (or close) a lab's access, and the operator must learn which one AWS refused."""
    return f"{exc.operation_name} refused: {error_code(exc)}: {error_message(exc)}"


def _tags(lab_id: str, plan: Mapping[str, Any] | None = None) -> list[dict[str, str]]:
    # The lab id, and the cost-allocation tags its plan keeps (ads.cost_tags).
    cost = (plan or {}).get("cost_tags")
    return [*tag_list(dict(cost or {}), lab_id), {"Key": MANAGED_TAG, "Value": "true"}]


@dataclass(frozen=True)
class LaunchAccess:
    mode: str
    group_id: str


class Ec2LabAccess:
    def __init__(self, config: AdsConfig, *, ec2: Any, elbv2: Any) -> None:
        self._config = config
        self._ec2 = ec2
        self._elbv2 = elbv2

    def mode_of(self, plan: Mapping[str, Any]) -> str:
        # The lab's own plan decides: the configuration may have changed since it was made.
        return str(plan.get("access") or self._config.lab_access)

    def _call(self, client: Any, operation: str, **kwargs: Any) -> Any:
        return call(client, operation, **kwargs)

    # -- Create VM: where the instance goes and which groups it wears -------------------

    def prepare_launch(self, lab_id: str, plan: Mapping[str, Any]) -> LaunchAccess | None:
        """The lab's own security group (created, with its ingress), or None when private."""
        mode = self.mode_of(plan)
        if mode == "private":
            return None
        if mode == "public" and not self._config.public_subnet_ids:
            raise VmCreateFailed(
                "ADS_PUBLIC_SUBNET_IDS is empty; lab access 'public' launches labs in public "
                "subnets (CDK sets it when lab_access is public)"
            )
        return LaunchAccess(mode=mode, group_id=self.ensure_security_group(lab_id, plan))

    def launch_arguments(
        self, lab_id: str, arguments: dict[str, Any], access: LaunchAccess | None
    ) -> dict[str, Any]:
        """RunInstances arguments for the lab's mode, given what prepare_launch made."""
        if access is None:
            return arguments
        arguments = dict(arguments)
        groups = [*arguments.pop("SecurityGroupIds", []), access.group_id]
        if access.mode == "load-balancer":
            return {**arguments, "SecurityGroupIds": groups}
        subnet = self._public_subnet(lab_id, arguments.pop("SubnetId", None))
        # A public IP can only be asked for on a network interface, which then carries
        # the subnet and the groups too.
        interface = {
            "DeviceIndex": 0,
            "SubnetId": subnet,
            "Groups": groups,
            "AssociatePublicIpAddress": True,
            "DeleteOnTermination": True,
        }
        return {**arguments, "NetworkInterfaces": [interface]}

    def _public_subnet(self, lab_id: str, private_subnet: str | None) -> str:
        public = self._config.public_subnet_ids
        if private_subnet in public:
            return str(private_subnet)
        private = self._config.subnet_ids
        if private_subnet in private:
            # The same position in the other list: CDK orders both by availability zone,
            # so a launch retried in another zone moves to that zone's public subnet.
            return public[private.index(str(private_subnet)) % len(public)]
        return public[int(hashlib.sha256(lab_id.encode()).hexdigest(), 16) % len(public)]

    def _ingress(self, plan: Mapping[str, Any]) -> list[dict[str, Any]]:
        ports = lab_ports(plan)
        if self.mode_of(plan) == "public":
            v4 = [c for c in self._config.lab_ingress_cidrs if ":" not in c]
            v6 = [c for c in self._config.lab_ingress_cidrs if ":" in c]
            return [
                {
                    "IpProtocol": "tcp",
                    "FromPort": port,
                    "ToPort": port,
                    "IpRanges": [{"CidrIp": c, "Description": "lab port"} for c in v4],
                    "Ipv6Ranges": [{"CidrIpv6": c, "Description": "lab port"} for c in v6],
                }
                for port in ports
            ]
        if not self._config.lb_security_group_id:
            raise VmCreateFailed(
                "ADS_LB_SECURITY_GROUP_ID is empty; lab access 'load-balancer' admits the "
                "shared load balancer's security group"
            )
        source = [{"GroupId": self._config.lb_security_group_id, "Description": "ADS ALB"}]
        return [
            {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "UserIdGroupPairs": source}
            for port in sorted({*ports, self._config.agent_port})
        ]

    def ensure_security_group(self, lab_id: str, plan: Mapping[str, Any]) -> str:
        if not self._config.vpc_id:
            raise VmCreateFailed(
                f"ADS_VPC_ID is empty; lab access '{self.mode_of(plan)}' creates a security group "
                "per lab in the labs' VPC"
            )
        try:
            group_id = self.find_security_group(lab_id) or self._create_security_group(
                lab_id, self.mode_of(plan), plan
            )
            for permission in self._ingress(plan):
                authorize_once(self._call, self._ec2, group_id, permission)
        except ClientError as exc:
            raise VmCreateFailed(
                f"the security group of {lab_id} cannot be prepared: "
                f"{error_code(exc)}: {error_message(exc)}"
            ) from exc
        return group_id

    def find_security_group(self, lab_id: str) -> str | None:
        response = self._call(
            self._ec2,
            "describe_security_groups",
            Filters=[
                {"Name": f"tag:{LAB_ID_TAG}", "Values": [lab_id]},
                # By name too: a lab of several VMs has a second group (ec2_cluster).
                {"Name": "group-name", "Values": [security_group_name(lab_id)]},
                {"Name": "vpc-id", "Values": [self._config.vpc_id]},
            ],
        )
        groups = response.get("SecurityGroups", [])
        return str(groups[0]["GroupId"]) if groups else None

    def _create_security_group(self, lab_id: str, mode: str, plan: Mapping[str, Any]) -> str:
        try:
            response = self._call(
                self._ec2,
                "create_security_group",
                GroupName=security_group_name(lab_id),
                Description=f"ADS lab {lab_id}: its application ports only ({mode})",
                VpcId=self._config.vpc_id,
                TagSpecifications=[{"ResourceType": "security-group", "Tags": _tags(lab_id, plan)}],
            )
        except ClientError as exc:
            # A retry racing the first attempt: the group exists, only the tag read missed it.
            if error_code(exc) != "InvalidGroup.Duplicate":
                raise
            found = self._call(
                self._ec2,
                "describe_security_groups",
                Filters=[
                    {"Name": "group-name", "Values": [security_group_name(lab_id)]},
                    {"Name": "vpc-id", "Values": [self._config.vpc_id]},
                ],
            )["SecurityGroups"]
            return str(found[0]["GroupId"])
        return str(response["GroupId"])

    # -- Wait Until Running: the public address ------------------------------------------

    def access_details(self, _lab_id: str, vm: VmInfo, plan: Mapping[str, Any]) -> dict[str, Any]:
        if self.mode_of(plan) != "public":
            return {}
        response = self._call(self._ec2, "describe_instances", InstanceIds=[vm.vm_id])
        instances = [i for r in response.get("Reservations", []) for i in r.get("Instances", [])]
        public_ip = instances[0].get("PublicIpAddress") if instances else None
        if not public_ip:
            # EC2 may describe a running instance before its public IP shows.
            raise VmNotReady(f"VM {vm.vm_id} has no public IP yet", vm_id=vm.vm_id)
        return {"public_ip": str(public_ip)}

    # -- Initialise VM (or Mark Ready): the URL, and for the load balancer the rule and target

    def open(self, lab_id: str, vm: VmInfo, plan: Mapping[str, Any]) -> str | None:
        port = lab_ports(plan)[0]
        mode = self.mode_of(plan)
        if mode == "private":
            return None
        if mode == "public":
            public_ip = (
                vm.details.get("public_ip") or self.access_details(lab_id, vm, plan)["public_ip"]
            )
            return f"http://{public_ip}:{port}/"
        try:
            target_group = self._ensure_target_group(lab_id, port, plan)
            host = self.host_of(lab_id)
            if self._find_rule(host) is None:
                self._create_rule(lab_id, host, target_group, plan)
            self._call(
                self._elbv2,
                "register_targets",
                TargetGroupArn=target_group,
                Targets=[{"Id": vm.vm_id, "Port": port}],
            )
        except ClientError as exc:
            raise LabAccessFailed(
                f"the load balancer cannot route {self.host_of(lab_id)} to {vm.vm_id}: "
                + refusal(exc),
                lab_id=lab_id,
            ) from exc
        return f"https://{self.host_of(lab_id)}/"

    def host_of(self, lab_id: str) -> str:
        if not self._config.lb_domain or not self._config.lb_listener_arn:
            raise LabAccessFailed(
                "ADS_LB_DOMAIN and ADS_LB_LISTENER_ARN are required by lab access "
                "'load-balancer' (CDK context lb_domain and lb_certificate_arn)"
            )
        return f"{lab_id}.{self._config.lb_domain}"

    def _ensure_target_group(self, lab_id: str, port: int, plan: Mapping[str, Any]) -> str:
        existing = self._find_target_group(lab_id)
        if existing:
            return existing
        try:
            response = self._call(
                self._elbv2,
                "create_target_group",
                Name=target_group_name(lab_id),
                Protocol="HTTP",
                Port=port,
                VpcId=self._config.vpc_id,
                TargetType="instance",
                HealthCheckProtocol="HTTP",
                HealthCheckPort=str(self._config.agent_port),
                HealthCheckPath=HEALTH_PATH,
                HealthCheckIntervalSeconds=15,
                HealthyThresholdCount=2,
                UnhealthyThresholdCount=3,
                Matcher={"HttpCode": "200"},
                Tags=_tags(lab_id, plan),
            )
        except ClientError as exc:
            # A concurrent retry created it between the look-up and this call.
            found = self._find_target_group(lab_id)
            if error_code(exc) != "DuplicateTargetGroupName" or found is None:
                raise
            return found
        return str(response["TargetGroups"][0]["TargetGroupArn"])

    def _rules(self) -> list[dict[str, Any]]:
        rules: list[dict[str, Any]] = []
        marker: str | None = None
        while True:
            kwargs: dict[str, Any] = {"ListenerArn": self._config.lb_listener_arn}
            if marker:
                kwargs["Marker"] = marker
            page = self._call(self._elbv2, "describe_rules", **kwargs)
            rules.extend(page.get("Rules", []))
            marker = page.get("NextMarker")
            if not marker:
                return rules

    def _find_rule(self, host: str) -> str | None:
        for rule in self._rules():
            for condition in rule.get("Conditions", []):
                if condition.get("Field") != "host-header":
                    continue
                values = (condition.get("HostHeaderConfig") or {}).get("Values") or condition.get(
                    "Values", []
                )
                if host in values:
                    return str(rule["RuleArn"])
        return None

    def _create_rule(
        self, lab_id: str, host: str, target_group: str, plan: Mapping[str, Any]
    ) -> str:
        priority = first_priority(lab_id)
        for _ in range(PRIORITY_PROBES):
            try:
                response = self._call(
                    self._elbv2,
                    "create_rule",
                    ListenerArn=self._config.lb_listener_arn,
                    Priority=priority,
                    Conditions=[{"Field": "host-header", "HostHeaderConfig": {"Values": [host]}}],
                    Actions=[{"Type": "forward", "TargetGroupArn": target_group}],
                    Tags=_tags(lab_id, plan),
                )
            except ClientError as exc:
                if error_code(exc) != "PriorityInUse":
                    raise
                priority = next_priority(priority)
                continue
            return str(response["Rules"][0]["RuleArn"])
        raise LabAccessFailed(
            f"no free rule priority for {host} after {PRIORITY_PROBES} tries from "
            f"{first_priority(lab_id)}",
            lab_id=lab_id,
        )

    # -- Destroy VM ---------------------------------------------------------------------------

    def close(self, lab_id: str, plan: Mapping[str, Any]) -> None:
        """Stop routing to the lab: its rule, its target and its target group."""
        if self.mode_of(plan) != "load-balancer":
            return
        try:
            rule = self._find_rule(self.host_of(lab_id))
            if rule:
                self._call(self._elbv2, "delete_rule", RuleArn=rule)
            target_group = self._find_target_group(lab_id)
            if target_group:
                self._deregister_all(target_group)
                self._call(self._elbv2, "delete_target_group", TargetGroupArn=target_group)
        except ClientError as exc:
            raise DestroyFailed(
                f"the load balancer's rule or target group of {lab_id} cannot be removed: "
                + refusal(exc),
                lab_id=lab_id,
            ) from exc

    def _find_target_group(self, lab_id: str) -> str | None:
        try:
            response = self._call(
                self._elbv2, "describe_target_groups", Names=[target_group_name(lab_id)]
            )
        except ClientError as exc:
            if error_code(exc) == "TargetGroupNotFound":
                return None
            raise
        groups = response.get("TargetGroups", [])
        return str(groups[0]["TargetGroupArn"]) if groups else None

    def _deregister_all(self, target_group: str) -> None:
        health = self._call(self._elbv2, "describe_target_health", TargetGroupArn=target_group)
        targets = [d["Target"] for d in health.get("TargetHealthDescriptions", [])]
        if targets:
            self._call(
                self._elbv2, "deregister_targets", TargetGroupArn=target_group, Targets=targets
            )

    def release(self, lab_id: str, plan: Mapping[str, Any]) -> None:
        """Delete the lab's security group; only once its instances are gone."""
        if self.mode_of(plan) == "private" or not self._config.vpc_id:
            return
        try:
            group_id = self.find_security_group(lab_id)
            if group_id:
                self._call(self._ec2, "delete_security_group", GroupId=group_id)
        except ClientError as exc:
            if error_code(exc) in GROUP_NOT_FOUND:
                return
            if error_code(exc) == "DependencyViolation":
                # The terminating instance's network interface still holds the group for a
                # little while: a retry of Destroy VM deletes it.
                raise DestroyInProgress(
                    f"the security group of {lab_id} is still in use (DependencyViolation): "
                    "its instance's network interface is not released yet",
                    lab_id=lab_id,
                ) from exc
            raise DestroyFailed(
                f"the security group of {lab_id} cannot be deleted: "
                f"{error_code(exc)}: {error_message(exc)}",
                lab_id=lab_id,
            ) from exc
