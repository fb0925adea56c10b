"""Every OS ADS offers reaches "SSM Online": the catalogue says how its agent arrives and
the launch does it. moto runs any AMI and never checks for an agent, so each release's
RunInstances UserData is read back (base64, as EC2 stores it) and the Debian bootstrap
is run against stand-ins for dpkg and systemctl."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from ads.lab.os_catalogue import RELEASES, SSM_AGENT_SOURCES, OsRelease
from ads.providers.ec2_bootstrap import (
    regional_s3_endpoint,
    ssm_agent_package_url,
    ssm_agent_user_data,
)
from functions.create_vm.handler import handler as create_vm
from tests.integration.steps.conftest import (
    REGION,
    Ec2World,
    FakeLambdaContext,
    hello_web_plan,
    seed_image_parameter,
)

CONTEXT = FakeLambdaContext()
ARM_TYPES = {"instance_type": "t4g.micro", "fallback_instance_types": []}
DEB_ARCH = {"x86_64": "amd64", "arm64": "arm64"}
TODAY_OFFERED = [
    (release, arch)
    for release in RELEASES
    if release.ssm_parameters
    for arch in sorted(release.ssm_parameters)
]


def _name(release: OsRelease) -> str:
    return f"{release.family}-{release.version}"


@pytest.mark.parametrize("release", RELEASES, ids=_name)
def test_given_a_catalogue_entry_when_read_then_it_says_how_the_ssm_agent_arrives(
    release: OsRelease,
):
    assert release.ssm_agent in SSM_AGENT_SOURCES
    if release.family == "debian":
        # The Debian cloud team's AMIs ship no SSM agent.
        assert release.ssm_agent == "user-data"


def _plan_for(release: OsRelease, arch: str) -> dict[str, Any]:
    plan = hello_web_plan()
    plan["os"] = {**plan["os"], "family": release.family, "version": release.version}
    plan["arch"] = arch
    plan["image"] = {"ssm_parameter": release.ssm_parameter(arch)}
    if arch == "arm64":
        plan.update(ARM_TYPES)
    return plan


def _user_data_of(vm_id: str) -> str | None:
    answer = boto3.client("ec2", region_name=REGION).describe_instance_attribute(
        InstanceId=vm_id, Attribute="userData"
    )
    value = (answer.get("UserData") or {}).get("Value")
    return base64.b64decode(value).decode() if value else None


@pytest.mark.parametrize(
    ("release", "arch"), TODAY_OFFERED, ids=[f"{_name(r)}-{a}" for r, a in TODAY_OFFERED]
)
def test_given_an_offered_release_when_its_vm_is_launched_then_the_user_data_brings_up_its_ssm_agent(
    ec2_world: Ec2World, release: OsRelease, arch: str
):
    seed_image_parameter(release.ssm_parameter(arch), ec2_world.image_id)
    ec2_world.new_lab(plan=_plan_for(release, arch))

    vm_id = create_vm(ec2_world.state("create_vm"), CONTEXT)["vm_id"]

    user_data = _user_data_of(vm_id)
    if release.ssm_agent == "shipped":
        assert user_data is None
        return
    package = (
        f"https://s3.{REGION}.amazonaws.com/amazon-ssm-{REGION}/latest/"
        f"debian_{DEB_ARCH[arch]}/amazon-ssm-agent.deb"
    )
    assert user_data is not None and user_data.startswith("#!/bin/sh\n")
    assert f"url={package}\n" in user_data
    assert 'dpkg -i "$package"' in user_data
    assert "systemctl enable amazon-ssm-agent" in user_data
    assert "systemctl start amazon-ssm-agent" in user_data


@pytest.mark.parametrize(
    ("region", "arch", "url"),
    [
        (
            "eu-west-1",
            "x86_64",
            "https://s3.eu-west-1.amazonaws.com/amazon-ssm-eu-west-1/latest/debian_amd64/amazon-ssm-agent.deb",
        ),
        (
            "cn-north-1",
            "arm64",
            "https://s3.cn-north-1.amazonaws.com.cn/amazon-ssm-cn-north-1/latest/debian_arm64/amazon-ssm-agent.deb",
        ),
        (
            "us-gov-west-1",
            "x86_64",
            "https://s3.us-gov-west-1.amazonaws.com/amazon-ssm-us-gov-west-1/latest/debian_amd64/amazon-ssm-agent.deb",
        ),
    ],
)
def test_given_a_region_when_the_agent_package_is_named_then_it_is_that_regions_bucket_on_its_s3_endpoint(
    region: str, arch: str, url: str
):
    assert ssm_agent_package_url(regional_s3_endpoint(region), region, arch) == url


# -- the Debian bootstrap itself, against stand-ins -------------------------------------------


class _FlakyPackage(BaseHTTPRequestHandler):
    """Serves the package, after refusing the first request (S3 not reachable yet at boot)."""

    def do_GET(self) -> None:
        server: Any = self.server
        server.requests += 1
        if server.requests == 1:
            self.send_response(503)
            self.end_headers()
            return
        body = b"pretend .deb"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return None


def _stand_in(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_given_the_debian_user_data_when_run_then_it_downloads_installs_enables_and_starts_the_agent(
    tmp_path: Path,
):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FlakyPackage)
    server.requests = 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    _stand_in(bin_dir, "systemctl", f'echo "systemctl $*" >> {log}\n[ "$1" != is-active ]\n')
    _stand_in(bin_dir, "dpkg", f'echo "dpkg $* $(cat "$2")" >> {log}\n')
    url = f"http://127.0.0.1:{server.server_address[1]}/amazon-ssm-agent.deb"
    script = ssm_agent_user_data("user-data", url, pause_s=0.1)
    assert script is not None
    script = script.replace("/var/tmp/amazon-ssm-agent.deb", str(tmp_path / "agent.deb"))
    try:
        done = subprocess.run(
            ["sh", "-c", script],
            env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    assert done.returncode == 0, done.stderr
    assert server.requests == 2  # type: ignore[attr-defined]
    assert log.read_text().splitlines() == [
        "systemctl is-active --quiet amazon-ssm-agent",
        f"dpkg -i {tmp_path / 'agent.deb'} pretend .deb",
        "systemctl enable amazon-ssm-agent",
        "systemctl start amazon-ssm-agent",
    ]


def test_given_an_image_that_ships_the_agent_when_user_data_is_asked_for_then_there_is_none():
    assert ssm_agent_user_data("shipped", "https://example.invalid/agent.deb") is None
