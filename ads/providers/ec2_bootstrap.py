"""What an EC2 lab VM runs to become an ADS lab: text built here, sent by the provider.

- The **user data** (cloud-init runs it at first boot) brings up the SSM agent on images
  that do not ship one. ADS reaches a VM only through SSM Run Command, so without it a
  lab would wait for "SSM Online" until Wait Until Running gives up.
- The **init script** (SSM Run Command runs it as root) fetches the agent bundle through
  a presigned URL, writes the plan and runs the agent's install script.
- The **presigning S3 client**: botocore's default presigns with SigV2 on the global
  endpoint in many regions (us-east-1, us-west-2, eu-west-1, ...); S3 refuses SigV2 for
  SSE-KMS objects such as the CDK asset bucket's, so every URL is SigV4, scoped to the
  lab's region, on the regional endpoint of the region's partition.
"""

from __future__ import annotations

import base64
import json
import shlex
from functools import lru_cache
from typing import Any

import botocore.session
from botocore.config import Config

from ads.lab.os_catalogue import SsmAgentSource
from ads.providers.throttling import client_config

PRESIGN_EXPIRY_S = 3600
PRESIGN_CONFIG = Config(
    signature_version="s3v4",
    s3={"addressing_style": "virtual", "us_east_1_regional_endpoint": "regional"},
)
# The agent's Debian packages per architecture, as the SSM agent buckets name them.
SSM_AGENT_DEB_ARCH = {"x86_64": "debian_amd64", "arm64": "debian_arm64"}
# cloud-init may run before the route to S3 (NAT, gateway endpoint) carries traffic.
DOWNLOAD_ATTEMPTS = 10
DOWNLOAD_PAUSE_S = 6


def presigning_s3_client(factory: Any, region: str) -> Any:
    """An S3 client (from a boto3 session or the boto3 module) whose presigned URLs S3
    accepts: SigV4 for ``region`` on ``https://<bucket>.s3.<region>.<partition domain>``.
    botocore knows each partition's domain (amazonaws.com, amazonaws.com.cn, ...)."""
    # Presigning makes no request; the retry configuration serves any call that does.
    return factory.client("s3", region_name=region, config=client_config(PRESIGN_CONFIG))


@lru_cache(maxsize=8)
def regional_s3_endpoint(region: str) -> str:
    """``https://s3.<region>.<partition domain>``, from botocore's endpoint data (no call
    is made and no credentials are needed to build a client)."""
    client = botocore.session.Session().create_client(
        "s3", region_name=region, config=PRESIGN_CONFIG
    )
    return str(client.meta.endpoint_url)


def presign_get(s3: Any, bucket: str, key: str, expires_s: int = PRESIGN_EXPIRY_S) -> str:
    return str(
        s3.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_s
        )
    )


# -- the SSM agent at boot -------------------------------------------------------------------


def ssm_agent_package_url(s3_endpoint: str, region: str, arch: str) -> str:
    """The region's own SSM agent package, over the regional S3 endpoint (which a VPC's
    S3 gateway endpoint serves; the global one would need the internet)."""
    if arch not in SSM_AGENT_DEB_ARCH:
        raise ValueError(f"no SSM agent package for architecture {arch!r}")
    return (
        f"{s3_endpoint.rstrip('/')}/amazon-ssm-{region}/latest/"
        f"{SSM_AGENT_DEB_ARCH[arch]}/amazon-ssm-agent.deb"
    )


_DOWNLOAD = (
    "import sys, urllib.request\n"
    "with urllib.request.urlopen(sys.argv[1], timeout=60) as answer:\n"
    "    data = answer.read()\n"
    "open(sys.argv[2], 'wb').write(data)\n"
)


def ssm_agent_user_data(
    source: SsmAgentSource,
    package_url: str,
    *,
    attempts: int = DOWNLOAD_ATTEMPTS,
    pause_s: float = DOWNLOAD_PAUSE_S,
) -> str | None:
    """The user data that gets the SSM agent running, or None when the image ships it."""
    if source == "shipped":
        return None
    if source != "user-data":
        raise ValueError(f"unknown SSM agent source {source!r}")
    package = "/var/tmp/amazon-ssm-agent.deb"
    # python3 downloads: cloud-init itself needs it, while curl and wget are optional.
    return "\n".join(
        [
            "#!/bin/sh",
            "# ADS: this image ships no SSM agent; install the region's own package.",
            "set -eu",
            "if systemctl is-active --quiet amazon-ssm-agent; then exit 0; fi",
            f"url={shlex.quote(package_url)}",
            f"package={package}",
            "attempt=1",
            f'until python3 -c {shlex.quote(_DOWNLOAD)} "$url" "$package"; do',
            f'  if [ "$attempt" -ge {int(attempts)} ]; then',
            '    echo "ads: cannot download the SSM agent from $url" >&2',
            "    exit 1",
            "  fi",
            "  attempt=$((attempt + 1))",
            f"  sleep {pause_s:g}",
            "done",
            'dpkg -i "$package"',
            "systemctl enable amazon-ssm-agent",
            "systemctl start amazon-ssm-agent",
            "",
        ]
    )


# -- the init script ---------------------------------------------------------------------------

# Unpacks the bundle and writes the plan; CDK zips a directory's contents, so a zip with
# the folder at its top is accepted too.
_FETCH = (
    "import base64, io, os, sys, urllib.request, zipfile\n"
    "prefix, url, plan = sys.argv[1:4]\n"
    "data = urllib.request.urlopen(url, timeout=60).read()\n"
    "archive = zipfile.ZipFile(io.BytesIO(data))\n"
    "names = archive.namelist()\n"
    "top = any(n.startswith('ads_agent/') for n in names)\n"
    "archive.extractall(os.path.join(prefix, 'bundle') if top else "
    "os.path.join(prefix, 'bundle', 'ads_agent'))\n"
    "open(os.path.join(prefix, 'plan.json'), 'wb').write(base64.b64decode(plan))\n"
)


def init_script(
    *,
    prefix: str,
    lab_id: str,
    bundle_url: str,
    plan: dict[str, Any],
    agent_port: int,
    command_timeout_s: int | None = None,
    healthy_wait_s: int | None = None,
    source_git: str | None = None,
    source_ref: str | None = None,
    source_archive_url: str | None = None,
    cluster_args: tuple[str, ...] | list[str] = (),
) -> str:
    """The shell script SSM runs as root on the instance: fetch, unpack, install.
    ``cluster_args``: a VM of a lab of several VMs (:meth:`ClusterInit.install_arguments`)."""
    plan_b64 = base64.b64encode(json.dumps(plan).encode()).decode()
    install = [
        "sh",
        f"{prefix}/bundle/ads_agent/install.sh",
        "--prefix",
        prefix,
        "--lab-id",
        lab_id,
        "--plan",
        f"{prefix}/plan.json",
        "--host",
        "0.0.0.0",
        "--port",
        str(agent_port),
        "--service",
        "auto",
        "--python",
        "python3",
        # The port the lab's application listens on (the labspec's first `ports` entry).
        "--lab-port",
        str((plan.get("lab_ports") or [80])[0]),
        # On its own VM a lab listens on every interface; the security groups decide who
        # reaches it. The agent keeps this for every lab command it runs, now and later.
        "--lab-bind",
        "0.0.0.0",
    ]
    if command_timeout_s is not None:
        install += ["--timeout", str(command_timeout_s)]
    if healthy_wait_s is not None:
        install += ["--healthy-wait", str(healthy_wait_s)]
    install += list(cluster_args)
    if source_git:
        install += ["--source-git", source_git]
        if source_ref:
            install += ["--source-ref", source_ref]
    elif source_archive_url:
        install += ["--source-archive", source_archive_url]
    return "\n".join(
        [
            "#!/bin/sh",
            "set -eu",
            f"mkdir -p {shlex.quote(prefix + '/bundle')}",
            f"python3 -c {shlex.quote(_FETCH)} {shlex.quote(prefix)} "
            f"{shlex.quote(bundle_url)} {plan_b64}",
            shlex.join(install),
        ]
    )
