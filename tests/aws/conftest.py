"""The tests/aws tier: the real stack in a real account (``make test-aws``).

Skipped, with the reason, unless the run opted in, ADS_AWS_ACCOUNT names the account and
credentials exist (see gate.py); nothing contacts AWS before that. The control plane is
deployed once per run with the pinned CDK CLI and destroyed afterwards unless
ADS_AWS_KEEP_STACK=1.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.aws import gate

ROOT = Path(__file__).resolve().parents[2]
CDK = ROOT / "node_modules" / ".bin" / "cdk"
STACK = "AdsControlPlane"
DEPLOY_TIMEOUT_S = 3600


@dataclass
class ControlPlane:
    session: Any
    outputs: dict[str, str]
    access: str
    profile: str | None

    @property
    def endpoint(self) -> str:
        return self.outputs["ApiUrl"]

    def ads(self, *argv: str, timeout_s: float = 2400) -> subprocess.CompletedProcess[str]:
        """The ads CLI against this control plane (signed with the run's credentials)."""
        command = [str(ROOT / ".venv" / "bin" / "ads"), *argv, "--endpoint", self.endpoint]
        if self.profile:
            command += ["--profile", self.profile]
        return subprocess.run(
            command, capture_output=True, text=True, timeout=timeout_s, check=False
        )


def _context() -> tuple[str, list[str]]:
    access = os.environ.get("LAB_ACCESS") or "public"
    context = {"lab_access": access, "deletion_protection": "false"}
    if access == "load-balancer":
        context["lb_domain"] = os.environ.get("LB_DOMAIN", "")
        context["lb_certificate_arn"] = os.environ.get("LB_CERTIFICATE_ARN", "")
    if os.environ.get("LAB_INGRESS_CIDRS"):
        context["lab_ingress_cidrs"] = os.environ["LAB_INGRESS_CIDRS"]
    return access, [arg for key, value in context.items() for arg in ("-c", f"{key}={value}")]


def _cdk(*argv: str, env: dict[str, str]) -> None:
    subprocess.run(
        [str(CDK), *argv, "--no-notices", "--require-approval", "never"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=DEPLOY_TIMEOUT_S,
    )


@pytest.fixture(scope="session")
def aws_session() -> Any:
    import boto3

    profile = os.environ.get("AWS_PROFILE") or None
    reason = gate.skip_reason(os.environ, lambda: boto3.Session(profile_name=profile))
    if reason:
        pytest.skip(reason)
    session = boto3.Session(profile_name=profile)
    account = session.client("sts").get_caller_identity()["Account"]
    expected = os.environ[gate.ACCOUNT].strip()
    if account != expected:
        pytest.fail(
            f"the credentials belong to account {account}, not {expected} ({gate.ACCOUNT}); "
            "refusing to deploy there"
        )
    return session


@pytest.fixture(scope="session")
def control_plane(
    aws_session: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControlPlane]:
    region = aws_session.region_name or "us-east-1"
    account = os.environ[gate.ACCOUNT].strip()
    env = {
        **os.environ,
        "CDK_DEFAULT_ACCOUNT": account,
        "CDK_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}",
    }
    access, context = _context()
    outputs_file = tmp_path_factory.mktemp("aws") / "outputs.json"
    # Idempotent: an account and region bootstrapped before keep their toolkit stack.
    _cdk("bootstrap", f"aws://{account}/{region}", *context, env=env)
    try:
        _cdk("deploy", STACK, "--outputs-file", str(outputs_file), *context, env=env)
        outputs: dict[str, Any] = json.loads(outputs_file.read_text())
        (stack_outputs,) = outputs.values()
        yield ControlPlane(
            session=aws_session,
            outputs=stack_outputs,
            access=access,
            profile=os.environ.get("AWS_PROFILE") or None,
        )
    finally:
        if os.environ.get("ADS_AWS_KEEP_STACK") != "1":
            _cdk("destroy", STACK, "--force", *context, env=env)
