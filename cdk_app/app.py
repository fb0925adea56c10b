"""The CDK app: `cdk synth` / `cdk deploy` run `python3 -m cdk_app.app` (see cdk.json)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from aws_cdk import App, Environment, Validations
from cdk_nag import AwsSolutionsChecks

from cdk_app.settings import ContextError, Settings
from cdk_app.stack import AdsStack

STACK_ID = "AdsControlPlane"


def build_app(context: Mapping[str, Any] | None = None, outdir: str | None = None) -> App:
    """The app with the ADS stack and the AwsSolutions checks (findings fail synth)."""
    app = App(context=dict(context) if context is not None else None, outdir=outdir)
    settings = Settings.from_context(app.node.try_get_context)
    # The CLI passes the account and region of the current credentials; without any the
    # stack stays environment-agnostic, which is all `cdk synth` needs.
    region = settings.region or os.environ.get("CDK_DEFAULT_REGION")
    account = os.environ.get("CDK_DEFAULT_ACCOUNT")
    AdsStack(
        app,
        STACK_ID,
        settings=settings,
        stack_name=f"{settings.name_prefix}-control-plane",
        description="ADS (Auto Deployment Service) control plane",
        env=Environment(account=account, region=region) if (account or region) else None,
    )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


def main() -> int:
    try:
        app = build_app()
    except (ContextError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
