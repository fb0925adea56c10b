"""Initialising an ``ec2`` lab's instance: SSM Run Command runs the bootstrap script.

Before the init, SSM must know the instance (its agent registered and pinging Online).
The bootstrap script (:mod:`ads.providers.ec2_bootstrap` builds its text) fetches the
agent bundle, and an ``s3://`` source archive, through presigned URLs; it is sent with
the ``AWS-RunShellScript`` document, bounded by ``ADS_INIT_TIMEOUT_S`` on the VM, and
``GetCommandInvocation`` reports its end, with the failing command and the output tail
of a failed install.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ads.config import INIT_DELIVERY_S, AdsConfig
from ads.providers import ec2_bootstrap
from ads.providers.base import InitFailed, InitRequest, InitStatus, VmNotRunning
from ads.providers.failure_output import failure_tail, find_failing_command
from ads.providers.ssm_commands import Call, read_invocation
from ads.providers.throttling import error_code, error_message

# Where a VM of a lab of several VMs reads the cluster facts (ads.providers.ec2_cluster).
CLUSTER_FACTS_PATH = "/etc/ads/cluster_facts.json"
SSM_NOT_YET_ERRORS = frozenset({"InvalidInstanceId", "InvalidInstanceInformationFilterValue"})


def ssm_online(call: Call, ssm: Any, vm_id: str) -> bool:
    """Whether the instance's SSM agent has registered and pings Online."""
    try:
        response = call(
            ssm,
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
        info.get("PingStatus") == "Online" for info in response.get("InstanceInformationList", [])
    )


def send_init(call: Call, ssm: Any, *, lab_id: str, vm_id: str, script: str, timeout_s: int) -> str:
    """Send the bootstrap script to the instance; the command id to follow."""
    # One number bounds the install: ADS_INIT_TIMEOUT_S (SSM ends the run as TimedOut).
    parameters: dict[str, Any] = {"commands": [script], "executionTimeout": [str(timeout_s)]}
    try:
        response = call(
            ssm,
            "send_command",
            InstanceIds=[vm_id],
            DocumentName="AWS-RunShellScript",
            Comment=f"ADS init {lab_id}"[:100],
            Parameters=parameters,
            # How long SSM may take to deliver it (the deadlines count it too).
            TimeoutSeconds=INIT_DELIVERY_S,
        )
    except ClientError as exc:
        raise InitFailed(
            f"SendCommand to {vm_id} refused: {error_code(exc)}: {error_message(exc)}"
        ) from exc
    return str(response["Command"]["CommandId"])


def init_status(call: Call, ssm: Any, vm_id: str, command_id: str) -> InitStatus:
    invocation = read_invocation(call, ssm, vm_id, command_id)
    # Right after SendCommand the invocation may not be visible yet.
    if invocation.progress is not None:
        return InitStatus(state="in_progress", detail=invocation.progress)
    if invocation.status == "Success":
        return InitStatus(state="success", exit_code=0, detail=invocation.status)
    stderr, stdout = invocation.stderr, invocation.stdout
    code = invocation.response_code
    return InitStatus(
        state="failed",
        exit_code=int(code) if isinstance(code, int) and code >= 0 else None,
        failing_command=find_failing_command(stderr) or find_failing_command(stdout),
        output_tail=failure_tail(stderr or stdout),
        detail=invocation.detail,
    )


def bootstrap_script(
    config: AdsConfig, s3: Any, *, prefix: str, lab_id: str, request: InitRequest
) -> str:
    """The shell script SSM runs as root on the instance: fetch, unpack, install."""
    bundle_url = _presign(s3, config.agent_bundle_bucket, config.agent_bundle_key)
    archive_url = None
    if not request.source_git and request.source_archive:
        archive_url = _archive_url(s3, request.source_archive)
    return ec2_bootstrap.init_script(
        prefix=prefix,
        lab_id=lab_id,
        bundle_url=bundle_url,
        plan=request.plan,
        agent_port=config.agent_port,
        command_timeout_s=config.command_timeout_s,
        healthy_wait_s=config.healthy_wait_s,
        source_git=request.source_git,
        source_ref=request.source_ref,
        source_archive_url=archive_url,
        cluster_args=(
            request.cluster.install_arguments(CLUSTER_FACTS_PATH) if request.cluster else ()
        ),
    )


def _presign(s3: Any, bucket: str, key: str) -> str:
    if not bucket or not key:
        raise InitFailed(
            "the agent bundle location is not configured "
            "(ADS_AGENT_BUNDLE_BUCKET and ADS_AGENT_BUNDLE_KEY are required by the ec2 provider)"
        )
    return ec2_bootstrap.presign_get(s3, bucket, key)


def _archive_url(s3: Any, archive: str) -> str:
    if archive.startswith("s3://"):
        bucket, _, key = archive[len("s3://") :].partition("/")
        return _presign(s3, bucket, key)
    return archive
